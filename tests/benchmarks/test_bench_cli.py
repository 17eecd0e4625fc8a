"""`pystack bench [NAME] [options]`: NAME picks the benchmark, and without it the net one runs."""

from __future__ import annotations

import argparse

import pytest

from pystack.benchmarks import codecs, net
from pystack.cli import build_parser, main


def capture_run(monkeypatch: pytest.MonkeyPatch, module: object) -> list[argparse.Namespace]:
    """Replace ``module.run`` with a recorder, so no benchmark really runs."""
    seen: list[argparse.Namespace] = []

    def fake_run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(module, "run", fake_run)
    return seen


def test_options_without_a_name_go_to_net(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_run(monkeypatch, net)
    assert main(["bench", "--json", "--runs", "2"]) == 0
    [args] = seen
    assert (args.json, args.runs) == (True, 2)
    assert args.paths == net.PATHS  # the options not given keep net's defaults


def test_no_arguments_run_net_with_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_run(monkeypatch, net)
    assert main(["bench"]) == 0
    [args] = seen
    assert (args.json, args.runs) == (False, 3)


def test_a_name_picks_its_benchmark_and_keeps_its_options() -> None:
    args = build_parser().parse_args(["bench", "codecs", "--frames", "40", "--help"])
    assert (args.name, args.options) == ("codecs", ["--frames", "40", "--help"])


def test_named_net_is_the_same_as_no_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_run(monkeypatch, net)
    assert main(["bench", "net", "--json", "--runs", "2"]) == 0
    assert main(["bench", "--json", "--runs", "2"]) == 0
    assert vars(seen[0]) == vars(seen[1])


def test_named_benchmark_gets_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture_run(monkeypatch, codecs)
    assert main(["bench", "codecs", "--frames", "40"]) == 0
    assert seen[0].frames == 40


def test_help_without_a_name_lists_benchmarks_and_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "net without NAME" in out
    assert "codecs" in out and "fsm" in out


def test_help_after_a_name_is_the_benchmarks_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "codecs", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "pystack bench codecs" in out and "--frames" in out


def test_an_unknown_name_is_refused_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "nett", "--json"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nett'" in err and "'net'" in err


def test_a_bad_net_option_is_refused_by_net(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--runs", "0"])
    assert exc.value.code == 2
    assert "pystack bench net: error: argument --runs" in capsys.readouterr().err


def test_memory_with_offloads_moves_super_segments(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    main(["bench", "memory", "--megabytes", "0.5", "--offloads", "--json", "--loop-runs", "0"])
    report = json.loads(capsys.readouterr().out)
    assert report["path"].endswith("with offloads (super-segments whole)")
    results = report["results"]
    # 0.5 MB in super-segments of up to 64 KB: a few dozen segments, not ~350 plain ones.
    assert results["megabytes"] == 0.5 and 0 < results["segments"] < 100


def test_memory_refuses_offloads_without_the_whole_stacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "memory", "--tcp-only", "--offloads"])
    assert exc.value.code == 2
    assert "--offloads: not allowed with argument --tcp-only" in capsys.readouterr().err
