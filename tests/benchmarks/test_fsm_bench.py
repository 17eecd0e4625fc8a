"""``pystack bench fsm`` runs, and an instance costs what the engine promises."""

from __future__ import annotations

import argparse

import pytest

from pystack.benchmarks import fsm as bench


def test_bench_runs_and_prints_both_columns(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    assert bench.run(parser.parse_args(["--instances", "200", "--cycles", "20"])) == 0
    out = capsys.readouterr().out
    assert "pystack.fsm" in out and "add_model" in out
    assert "per event (transition taken)" in out


def test_an_instance_costs_well_under_a_kibibyte() -> None:
    # The project budgets 4 KiB per idle connection; the machine's share must be tiny.
    cls = bench._session_class()

    def fired() -> object:
        obj = cls()
        obj.fire("app_active_open")
        return obj

    assert bench._memory(fired, 2000) < 256
