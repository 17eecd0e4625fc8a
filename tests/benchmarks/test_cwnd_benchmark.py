"""``python -m pystack.benchmarks.cwnd``: the cwnd series, the CSV, and the PNG."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from pystack.benchmarks import cwnd

SMALL = ["--size", "300000", "--loss", "0.02", "--delay", "0.02", "--seeds", "2"]


def test_a_run_samples_cwnd_over_the_whole_transfer() -> None:
    run = cwnd.run_transfer("cubic", size=300_000, loss=0.02, delay=0.02, seed=2)
    assert run.seconds > 0.04  # at least one round trip of 2 * 20 ms
    assert len(run.times) == len(run.cwnd) == len(run.ssthresh) > 5
    assert run.times == sorted(run.times)
    assert min(run.cwnd) >= 536
    assert run.goodput == pytest.approx(300_000 / run.seconds)


def test_without_matplotlib_it_says_so_and_still_writes_the_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out_csv, out_png = tmp_path / "cwnd.csv", tmp_path / "cwnd.png"
    assert cwnd.main([*SMALL, "--csv", str(out_csv), "--png", str(out_png)]) == 0
    captured = capsys.readouterr()
    assert "matplotlib is not installed" in captured.err
    assert "pystack-net[plot]" in captured.err
    assert not out_png.exists()
    rows = list(csv.DictReader(out_csv.open()))
    assert {row["congestion"] for row in rows} == {"newreno", "cubic"}
    assert all(int(row["cwnd"]) > 0 for row in rows)
    for name in ("newreno", "cubic"):
        assert f"{name:8} seed 2:" in captured.out


def test_with_matplotlib_the_png_is_written_and_not_blank(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the optional "plot" extra
    import matplotlib.image

    out_png = tmp_path / "cwnd.png"
    assert cwnd.main([*SMALL, "--csv", str(tmp_path / "c.csv"), "--png", str(out_png)]) == 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(str(out_png))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0.05  # lines and labels, not a single colour


def test_docs_show_the_plot() -> None:
    docs = Path(__file__).parents[2] / "docs"
    png = docs / "images" / "cwnd.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "images/cwnd.png" in (docs / "internals.md").read_text()
