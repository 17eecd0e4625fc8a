"""Every ``pystack bench`` report carries the machine's Python speed, ``python_loop_s``.

The reports are produced with the loop replaced by a stand-in (the real one takes seconds);
the loop itself is checked on a short range.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator

import pytest

from pystack.benchmarks import _machine, codecs, connrate, fsm, fuzz, idle, memory, net
from pystack.benchmarks.net import Measurement
from pystack.cli import main
from pystack.clicmd.bench import available

STAND_IN = 0.432


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """Replace the loop; records the (runs, iterations) it was asked for."""
    calls: list[tuple[int, int]] = []

    def fake(runs: int = 3, iterations: int = _machine.LOOP_ITERATIONS) -> float:
        calls.append((runs, iterations))
        return STAND_IN

    monkeypatch.setattr(_machine, "python_loop_s", fake)
    yield calls


def test_the_loop_is_timed_best_of_its_runs() -> None:
    assert 0 < _machine.python_loop_s(runs=2, iterations=1000) < 1.0
    with pytest.raises(ValueError):
        _machine.python_loop_s(runs=0)


def test_machine_info_reports_the_full_loop(loops: list[tuple[int, int]]) -> None:
    info = _machine.machine_info(loop_runs=3)
    assert info["python_loop_s"] == STAND_IN
    assert loops == [(3, 10_000_000)]  # the report always times ten million steps
    assert info["cpus"] == os.cpu_count() and info["python"]


def test_no_loop_runs_reports_null_and_says_so(loops: list[tuple[int, int]]) -> None:
    info = _machine.machine_info(loop_runs=0)
    assert info["python_loop_s"] is None and loops == []
    assert "not measured" in _machine.loop_line(info)


def test_every_benchmark_is_covered_here() -> None:
    assert set(available()) == {"codecs", "connrate", "fsm", "fuzz", "idle", "memory", "net"}


SMALL = {
    "codecs": ["--frames", "5", "--rounds", "1"],
    "connrate": ["--connections", "20", "--runs", "1"],
    "fsm": ["--instances", "20", "--cycles", "20"],
    "memory": ["--megabytes", "0.05"],
    "fuzz": ["--frames", "200", "--megabytes", "0.05"],
    "idle": ["--connections", "30", "--time-wait", "20", "--server-app", "none", "--no-rss"],
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_json_records_python_loop_s(
    name: str, loops: list[tuple[int, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["bench", name, *SMALL[name], "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["machine"]["python_loop_s"] == STAND_IN
    assert loops == [(3, 10_000_000)]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_text_output_prints_python_loop_s(
    name: str, loops: list[tuple[int, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["bench", name, *SMALL[name]])
    assert f"python_loop_s {STAND_IN:.3f} s" in capsys.readouterr().out


def test_net_measures_the_loop_before_its_workloads(
    loops: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    order: list[str] = []

    def workloads(args: argparse.Namespace) -> dict[tuple[str, str], list[Measurement]]:
        order.append(f"workloads after {len(loops)} loop")
        return {("stack", "bulk_in"): [Measurement(20.0, wall=1.0)]}

    monkeypatch.setattr(net.os, "geteuid", lambda: 0)
    monkeypatch.setattr(net, "sweep_stale", lambda: [])
    monkeypatch.setattr(net, "measure_all", workloads)
    assert main(["bench", "net", "--runs", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machine"]["python_loop_s"] == STAND_IN
    assert order == ["workloads after 1 loop"]
    assert main(["bench", "net", "--runs", "1"]) == 0
    assert f"python_loop_s {STAND_IN:.3f} s" in capsys.readouterr().out


def test_benchmark_modules_share_one_loop() -> None:
    for module in (codecs, connrate, fsm, fuzz, idle, memory, net):
        assert module.machine_info is _machine.machine_info
    assert fuzz.python_loop_s is _machine.python_loop_s
