"""`pystack bench`: benchmarks are found by module name; the codecs benchmark runs."""

from __future__ import annotations

import pytest

from pystack.cli import main
from pystack.clicmd.bench import available


def test_codecs_benchmark_is_discovered_and_helpers_are_not() -> None:
    names = available()
    assert "codecs" in names
    assert names["codecs"].startswith("wire codecs against scapy")
    assert not any(name.startswith("_") for name in names)


def test_bench_help_lists_the_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "codecs" in capsys.readouterr().out


def test_codecs_benchmark_prints_ours_and_scapys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "codecs", "--frames", "40", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "pystack" in out and "scapy" in out
    assert out.count("speed-up") == 1 and "parse" in out and "emit" in out
    assert "v6 parse" in out and "v6 emit" in out  # the Ethernet+IPv6+TCP frame


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "no_such_benchmark"])
    assert "invalid choice" in capsys.readouterr().err
