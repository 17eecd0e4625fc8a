"""``pystack diagrams``: committed files are current, output is deterministic, stale is caught."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

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
    "hooks": {{"turn_key": "Turn the key."}},
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
