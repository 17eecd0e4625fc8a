"""`pystack conformance MODULE:Class`: TCPSession passes; each deliberately broken class
fails naming the property it breaks, with its counterexample as a ladder; usage errors
exit 2 with one line; --json follows the documented schema; --seed reproduces a run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = "30"


def conformance(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pystack.cli", "conformance", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_tcp_session_passes_every_property() -> None:
    result = conformance("pystack.layers.tcp_session:TCPSession", "--examples", EXAMPLES,
                         "--seed", "1")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    names = [line.split()[1] for line in lines if line.startswith("PASS ")]
    assert len(names) >= 20 and not any(line.startswith("FAIL") for line in lines)
    for area in ("open.", "send.", "receive.", "close.", "abort.", "status.",
                 "segment_arrives.", "timeout.", "connection."):  # fmt: skip
        assert any(n.startswith(area) for n in names), area
    assert "examples)" in lines[0]


@pytest.mark.parametrize(
    ("broken", "prop", "seen"),
    [
        ("RstAnswersRst", "segment_arrives.rst_outside_window_ignored", "Flags [R]"),
        ("CloseResets", "close.fin_after_queued_data", "Flags [R]"),
        ("NoBackoff", "timeout.retransmission_backs_off", "each wait twice the one before"),
    ],
)
def test_a_broken_class_fails_naming_the_property(
    broken: str, prop: str, seen: str, tmp_path: Path
) -> None:
    area = prop.split(".")[0] + "."
    result = conformance(f"tests.helpers.conformance_broken:{broken}", "--examples", EXAMPLES,
                         "--seed", "1", "--property", area, "--ladder", str(tmp_path))  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"FAIL {prop}\n" in out
    block = out.split(f"FAIL {prop}\n", 1)[1].split("\nPASS ", 1)[0]
    assert "local.80 > remote.49500: Flags" in block  # the ladder, tcpdump-like
    assert "expected: " in block and "happened: " in block and "states:" in block
    assert seen in block
    svg = tmp_path / f"{prop}.svg"
    assert str(svg) in block
    text = svg.read_text()
    assert text.startswith("<svg") and 'class="frame"' in text and 'class="lane"' in text
    assert (tmp_path / f"{prop}.html").read_text().startswith("<!DOCTYPE html>")


def test_json_output_follows_the_schema() -> None:
    result = conformance("tests.helpers.conformance_broken:NoBackoff", "--examples", "10",
                         "--seed", "2", "--property", "timeout.retrans", "--property",
                         "open.active", "--json")  # fmt: skip
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["class"] == "tests.helpers.conformance_broken:NoBackoff"
    assert (doc["examples"], doc["seed"], doc["passed"], doc["failed"]) == (10, 2, 1, 1)
    by_name = {p["name"]: p for p in doc["properties"]}
    ok, bad = by_name["open.active_sends_syn"], by_name["timeout.retransmission_backs_off"]
    assert ok["status"] == "passed" and ok["counterexample"] is None and ok["examples"] >= 1
    assert bad["status"] == "failed" and bad["section"].startswith("RFC 6298")
    ce = bad["counterexample"]
    assert ce["expected"] == "each wait twice the one before"
    assert ce["happened"].startswith("waits [")
    segs = [e for e in ce["events"] if e["kind"] == "segment"]
    assert segs and {"time", "src", "dst", "flags", "seq", "ack", "window", "length",
                     "line"} <= set(segs[0])  # fmt: skip
    assert any(e["kind"] == "transition" for e in ce["events"])
    assert ce["states"]["198.18.0.1"]["states"][0] == "CLOSED"


def test_the_same_seed_gives_the_same_counterexample() -> None:
    args = ("tests.helpers.conformance_broken:RstAnswersRst", "--examples", "10", "--seed", "7",
            "--property", "segment_arrives.rst_outside")  # fmt: skip
    first, second = conformance(*args), conformance(*args)
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("no_colon_here", "name a class as MODULE:Class"),
        ("no_such_module_xyz:Session", "cannot import no_such_module_xyz"),
        ("tests.helpers.conformance_broken:Missing", "Missing not found"),
        ("tests.helpers.conformance_broken:NotASession", "is not a subclass of"),
    ],
)
def test_usage_errors_exit_2_with_one_line(target: str, words: str) -> None:
    result = conformance(target)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and words in result.stderr
    assert result.stderr.startswith("pystack conformance: error: ")
