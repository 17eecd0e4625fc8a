"""``pystack diagrams``: committed files are current, output is deterministic, stale is caught."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pystack import cli, fsm
from pystack.clicmd import diagrams

REPO = Path(__file__).resolve().parents[2]

TOY_TOML = """
[machine]
name = "door"
title = "A door"
initial = "SHUT"
doc = "A door that opens and shuts."

[states.SHUT]
doc = "Shut."
rfc = "RFC 0 §1"

[states.OPEN]
doc = "Open."

[[transitions]]
trigger = "push"
source = "SHUT"
dest = "OPEN"
hooks = ["creak"]
doc = "Push it open."

[[transitions]]
trigger = "pull"
source = "OPEN"
dest = "SHUT"
doc = "Pull it shut."

[hooks]
creak = "Make a noise."
"""

LOCKABLE = """
from pystack.fsm import StateMachine

class Door(StateMachine, machine={path!r}):
    def creak(self, **kw):
        pass

class LockableDoor(Door, extend={{
    "machine": {{"name": "lockable_door"}},
    "states": {{"LOCKED": {{"doc": "Locked with a key.", "extension": True, "reason": "keys"}}}},
    "transitions": [
        {{"trigger": "lock", "source": "SHUT", "dest": "LOCKED", "hooks": ["turn_key"],
          "doc": "Lock it."}},
        {{"trigger": "push", "source": "SHUT", "dest": "SHUT", "conditions": ["jammed"],
          "prepend": True, "doc": "A jammed door does not move."}},
    ],
    "hooks": {{"turn_key": "Turn the key.", "jammed": "Condition: the door is stuck."}},
}}):
    def turn_key(self, **kw):
        pass

    def jammed(self, **kw):
        return False
"""


def run(*args: str) -> int:
    return cli.main(["diagrams", *args])


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "door.toml").write_text(TOY_TOML)
    name = f"doors_{tmp_path.name.replace('-', '_')}"
    source = LOCKABLE.format(path=str(tmp_path / "door.toml"))
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def test_committed_diagrams_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    code = run("--check", "--out", str(REPO / "diagrams"))
    assert code == 0, capsys.readouterr().err


def test_every_builtin_machine_has_svg_and_mermaid() -> None:
    for name in fsm.machine_names():
        svg = (REPO / "diagrams" / f"{name}.svg").read_text()
        md = (REPO / "diagrams" / f"{name}.md").read_text()
        assert "<svg" in svg and "```mermaid\nstateDiagram-v2\n" in md
        for state in fsm.load_spec(name).states:
            assert f">{state}</text>" in svg
            assert state in md


def test_output_is_byte_identical_across_runs(tmp_path: Path) -> None:
    assert run("--out", str(tmp_path / "a")) == 0
    assert run("--out", str(tmp_path / "b")) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert b"graphviz version" not in (tmp_path / "a" / "tcp.svg").read_bytes()


def test_check_names_stale_missing_and_leftover_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    assert run("--out", str(out)) == 0
    assert run("--check", "--out", str(out)) == 0
    (out / "tcp.md").write_text((out / "tcp.md").read_text().replace("LISTEN", "LISTENING"))
    (out / "arp.svg").unlink()
    (out / "gone.svg").write_text(f"<!-- {diagrams.GENERATED} -->\n")
    capsys.readouterr()
    assert run("--check", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert f"{out / 'tcp.md'}: outdated" in err
    assert f"{out / 'arp.svg'}: missing" in err
    assert f"{out / 'gone.svg'}: no such machine any more" in err
    assert "dns_query" not in err
    assert run("--out", str(out)) == 0
    assert not (out / "gone.svg").exists()
    assert run("--check", "--out", str(out)) == 0


def test_svg_is_stale_when_its_declaration_changes(tmp_path: Path, user_module: str) -> None:
    out = tmp_path / "d"
    assert run("--class", f"{user_module}:Door", "--out", str(out)) == 0
    toml = tmp_path / "door.toml"
    toml.write_text(toml.read_text().replace('doc = "Pull it shut."', 'doc = "Slam it."'))
    sys.modules.pop(user_module)
    assert run("--check", "--class", f"{user_module}:Door", "--out", str(out)) == 1


def test_renders_a_user_subclass_with_its_added_states(
    tmp_path: Path, user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    assert run("--class", f"{user_module}:LockableDoor", "--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "lockable_door.md",
        "lockable_door.svg",
    ]
    svg = (out / "lockable_door.svg").read_text()
    md = (out / "lockable_door.md").read_text()
    index = (out / "README.md").read_text()
    assert ">LOCKED</text>" in svg and ">SHUT</text>" in svg
    assert "SHUT --> LOCKED : lock" in md
    assert "SHUT --> SHUT : push if jammed" in md
    assert "| `turn_key` | hook | Turn the key. | lock: SHUT -> LOCKED |" in index
    assert "| `creak` | hook | Make a noise. |" in index
    assert "| `jammed` | condition |" in index
    assert run("--check", "--class", f"{user_module}:LockableDoor", "--out", str(out)) == 0


def test_bad_class_argument_is_a_clear_error(
    user_module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--class", "no_colon_here") == 2
    assert "module:Class" in capsys.readouterr().err
    assert run("--class", f"{user_module}:Nope") == 2
    assert "Nope" in capsys.readouterr().err
    assert run("--class", "pystack.fsm:load_spec") == 2
    assert "not a StateMachine class" in capsys.readouterr().err


def test_missing_graphviz_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(diagrams.shutil, "which", lambda name: None)
    assert run("--out", str(tmp_path)) == 2
    assert "graphviz `dot` not found" in capsys.readouterr().err


def test_mermaid_marks_initial_and_final_states() -> None:
    compiled = fsm.CompiledMachine(fsm.load_spec("dns_query"))
    md = diagrams.mermaid_markdown(compiled)
    assert "    [*] --> SENDING\n" in md
    assert "    ANSWERED --> [*]\n" in md and "    FAILED --> [*]\n" in md
    assert "WAITING --> RETRYING : timeout_answer if have_attempts_left" in md


def test_index_lists_states_triggers_and_hooks_of_every_machine() -> None:
    index = (REPO / "diagrams" / "README.md").read_text()
    for name in fsm.machine_names():
        spec = fsm.load_spec(name)
        assert f"(`{name}`)" in index
        for state in spec.states:
            assert f"| `{state}` |" in index
        for trigger in spec.triggers:
            assert f"- `{trigger}`:" in index
        for hook in [*spec.hooks, *spec.conditions]:
            assert f"| `{hook}` |" in index


def test_renders_machines_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "machines").mkdir()
    (tmp_path / "machines" / "door.toml").write_text(TOY_TOML)
    out = tmp_path / "out"
    assert run("--machines", str(tmp_path / "machines"), "--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "door.md", "door.svg"]
    assert "entry / " not in (out / "door.svg").read_text()
    assert run("--machines", str(tmp_path), "--out", str(out)) == 2  # no *.toml there


# ------------------------------------------------------------------ the pictures are pictures

SVG_NS = "{http://www.w3.org/2000/svg}"


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered rows of an 8-bit RGBA PNG (what rsvg-convert writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) == (8, 6), "expected 8-bit RGBA"
    raw, stride, rows, prev = zlib.decompress(idat), width * 4, [], bytes(width * 4)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a, b, c = line[i - 4] if i >= 4 else 0, prev[i], prev[i - 4] if i >= 4 else 0
            p = a + b - c
            pred = (
                (0, a, b, (a + b) // 2)[kind]
                if kind < 4
                else (
                    a
                    if abs(p - a) <= min(abs(p - b), abs(p - c))
                    else b
                    if abs(p - b) <= abs(p - c)
                    else c
                )
            )
            line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def render_png(svg: Path, out: Path, rsvg: str) -> tuple[int, int, list[bytes]]:
    done = subprocess.run([rsvg, "-o", str(out), str(svg)], capture_output=True, text=True)
    assert done.returncode == 0, f"{svg.name}: rsvg-convert refused it: {done.stderr}"
    return png_pixels(out.read_bytes())


def svg_files() -> list[Path]:
    return sorted((REPO / "diagrams").glob("*.svg"))


@pytest.mark.parametrize("svg", svg_files(), ids=lambda p: p.name)
def test_committed_svg_is_well_formed_xml(svg: Path) -> None:
    root = ElementTree.parse(svg).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}g") is not None


def test_every_machine_has_a_committed_svg() -> None:
    assert [p.stem for p in svg_files()] == sorted(fsm.machine_names())


@pytest.mark.slow
@pytest.mark.parametrize("svg", svg_files(), ids=lambda p: p.name)
def test_committed_svg_renders_to_a_picture(
    svg: Path, tmp_path: Path, require_tool: Callable[[str, str], str]
) -> None:
    rsvg = require_tool("rsvg-convert", "librsvg2-bin")
    width, height, rows = render_png(svg, tmp_path / "out.png", rsvg)
    assert width > 200 and height > 200
    # Ink: opaque, dark pixels (the boxes, edges and labels drawn in black on white).
    ink = sum(
        1
        for row in rows
        for i in range(0, len(row), 4)
        if row[i + 3] > 128 and max(row[i : i + 3]) < 96
    )
    assert ink > width * height // 200, f"{svg.name}: {ink} dark pixels of {width * height}"


def test_generated_svgs_are_well_formed(tmp_path: Path) -> None:
    assert run("--out", str(tmp_path)) == 0
    for path in tmp_path.glob("*.svg"):
        assert diagrams.svg_problem(path.read_text()) is None, path.name
        assert ElementTree.parse(path).getroot().tag == f"{SVG_NS}svg"


def test_check_rejects_an_svg_that_is_not_well_formed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d"
    assert run("--out", str(out)) == 0
    svg = out / "arp.svg"
    good = svg.read_text()
    # The digest line stays intact: only the XML is broken (a stray comment end).
    svg.write_text(good.replace("<!-- Title:", " -->\n<!-- Title:", 1))
    capsys.readouterr()
    assert run("--check", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert f"{svg}: invalid XML" in err
    assert "tcp.svg" not in err
    svg.write_text(good.replace("<svg ", "<html ", 1).replace("</svg>", "</html>"))
    capsys.readouterr()
    assert run("--check", "--out", str(out)) == 1
    assert "not an SVG <svg>" in capsys.readouterr().err


def test_render_refuses_graphviz_output_that_is_not_xml(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = subprocess.CompletedProcess([], 0, stdout="<svg><g></svg>\n", stderr="")
    monkeypatch.setattr(diagrams.subprocess, "run", lambda *a, **k: broken)
    with pytest.raises(diagrams.DiagramError, match="unusable SVG"):
        diagrams.render_svg("digraph x {}\n")


# ------------------------------------------------------------------ Mermaid syntax

_ID = r"[A-Za-z][A-Za-z0-9_]*"
_MERMAID_LINES = {
    "alias": re.compile(rf'^    state "([^"]+)" as ({_ID})$'),
    "initial": re.compile(rf"^    \[\*\] --> ({_ID})$"),
    "final": re.compile(rf"^    ({_ID}) --> \[\*\]$"),
    "edge": re.compile(rf"^    ({_ID}) --> ({_ID}) : ([A-Za-z0-9_ ,]+)$"),
}


def parse_state_diagram(block: list[str]) -> dict[str, object]:
    """The subset of Mermaid's stateDiagram-v2 we emit, strictly: any other line fails."""
    assert block[0] == "stateDiagram-v2", block[0]
    names: dict[str, str] = {}
    initial, finals, edges = [], set(), set()
    for line in block[1:]:
        kind, found = next(
            ((k, m) for k, rx in _MERMAID_LINES.items() if (m := rx.match(line))), (None, None)
        )
        assert found is not None, f"not a stateDiagram-v2 line we emit: {line!r}"
        if kind == "alias":
            assert found[2] not in names, f"alias {found[2]} declared twice"
            names[found[2]] = found[1]
        elif kind == "initial":
            initial.append(names.get(found[1], found[1]))
        elif kind == "final":
            finals.add(names.get(found[1], found[1]))
        else:
            src, dst = names.get(found[1], found[1]), names.get(found[2], found[2])
            for label in found[3].split(", "):
                trigger, *rest = label.split(" ")
                assert not rest or rest[0] == "if", label
                edges.add((src, trigger, dst))
    return {"initial": initial, "finals": finals, "edges": edges}


def mermaid_block(markdown: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index("```mermaid")
    return lines[start + 1 : lines.index("```", start + 1)]


@pytest.mark.parametrize("name", fsm.machine_names())
def test_committed_mermaid_is_a_state_diagram_of_the_declaration(name: str) -> None:
    spec = fsm.load_spec(name)
    parsed = parse_state_diagram(mermaid_block((REPO / "diagrams" / f"{name}.md").read_text()))
    assert parsed["initial"] == [spec.initial]
    assert parsed["edges"] == set((s, t, d) for s, t, d in spec.edges()), (
        "the diagram's transitions differ from the TOML"
    )
    sources = {s for s, _, _ in spec.edges()}
    assert parsed["finals"] == {s for s in spec.states if s not in sources}


def test_mermaid_aliases_state_names_that_are_not_identifiers(tmp_path: Path) -> None:
    toml = TOY_TOML.replace("SHUT", "SHUT-TIGHT")
    (tmp_path / "door.toml").write_text(toml)
    compiled = fsm.CompiledMachine(fsm.load_spec(tmp_path / "door.toml"))
    parsed = parse_state_diagram(mermaid_block(diagrams.mermaid_markdown(compiled)))
    assert parsed["initial"] == ["SHUT-TIGHT"]
    assert parsed["edges"] == {("SHUT-TIGHT", "push", "OPEN"), ("OPEN", "pull", "SHUT-TIGHT")}
