"""cwnd over time for NewReno and CUBIC on the same simulated link.

``python -m pystack.benchmarks.cwnd`` sends the same bytes from one stack to another over
a :class:`~pystack.sim.SimNet` wire with loss and delay, once per congestion
control, under the simulated clock (the same seed gives the same run), and writes the
congestion window the sender had at each step to a CSV and, with matplotlib installed
(``pip install 'pystack-net[plot]'``), to a PNG. It also prints goodput and retransmitted
bytes per run: ``--seeds 1 2 3`` repeats each run with other loss patterns.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pystack.sim import SimNet
from pystack.tcp.config import CONGESTION_CONTROLS, TcpConfig

__all__ = ["CwndRun", "main", "run_transfer", "write_csv", "write_png"]

STEP = 0.005  # simulated seconds between cwnd samples
MAX_TIME = 600.0  # simulated seconds a transfer may take


@dataclass
class CwndRun:
    """One transfer: the sender's (time, cwnd, ssthresh) samples and what it achieved."""

    congestion: str
    seed: int
    size: int
    times: list[float] = field(default_factory=list)
    cwnd: list[int] = field(default_factory=list)
    ssthresh: list[int] = field(default_factory=list)
    seconds: float = 0.0
    rexmit_bytes: int = 0

    @property
    def goodput(self) -> float:
        """Application bytes per simulated second."""
        return self.size / self.seconds if self.seconds else 0.0


def run_transfer(
    congestion: str, *, size: int = 3_000_000, loss: float = 0.01, delay: float = 0.02,
    seed: int = 1, step: float = STEP,
) -> CwndRun:  # fmt: skip
    """Send ``size`` bytes over a wire with ``loss`` and one-way ``delay``; sample cwnd."""
    config = TcpConfig(congestion=congestion)
    data = random.Random(seed).randbytes(size)
    result = CwndRun(congestion, seed, size)
    with SimNet(2, seed=seed, loss=loss, delay=delay, tcp=config) as net:
        client, server = net.connect_tcp(5001, max_time=60)
        session = client.session
        start, sent, got = net.now(), 0, bytearray()
        while len(got) < size:
            if sent < size:
                sent += client.send(data[sent : sent + 65536])
            net.advance(step)
            got.extend(server.fetch_data())
            result.times.append(round(net.now() - start, 6))
            result.cwnd.append(session.cc.cwnd)
            result.ssthresh.append(min(session.cc.ssthresh, 1 << 24))
            if net.now() - start > MAX_TIME:
                raise TimeoutError(f"{congestion}: {len(got)} of {size} bytes in {MAX_TIME} s")
        if bytes(got) != data:
            raise AssertionError(f"{congestion}: the bytes received differ from those sent")
        result.seconds = net.now() - start
        result.rexmit_bytes = session.rexmit_bytes
    return result


def write_csv(runs: Sequence[CwndRun], path: Path) -> None:
    """One row per sample: congestion, seed, time (s), cwnd and ssthresh (bytes)."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["congestion", "seed", "time", "cwnd", "ssthresh"])
        for run in runs:
            for row in zip(run.times, run.cwnd, run.ssthresh, strict=True):
                writer.writerow([run.congestion, run.seed, *row])


def write_png(runs: Sequence[CwndRun], path: Path, title: str) -> None:
    """cwnd (kB) against simulated time, one line per run; raises ImportError when
    matplotlib is not installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for run in runs:
        ax.plot(run.times, [c / 1000 for c in run.cwnd], label=f"{run.congestion}", lw=1.2)
    # The first slow start can overshoot tenfold (cwnd grows while the first losses are
    # recovered): cap the axis so that congestion avoidance stays readable.
    every = sorted(c / 1000 for run in runs for c in run.cwnd)
    if every:
        ax.set_ylim(0, every[int(0.98 * (len(every) - 1))] * 1.5)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("cwnd (kB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pystack.benchmarks.cwnd",
        description="Plot cwnd over time for NewReno and CUBIC on one simulated lossy link.",
    )
    parser.add_argument("--size", type=int, default=3_000_000, help="bytes to send")
    parser.add_argument("--loss", type=float, default=0.01, help="loss rate per frame")
    parser.add_argument("--delay", type=float, default=0.02, help="one-way delay (s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="loss patterns")
    parser.add_argument("--congestion", nargs="+", default=list(CONGESTION_CONTROLS),
                        choices=CONGESTION_CONTROLS, help="controllers to compare")  # fmt: skip
    parser.add_argument("--csv", type=Path, default=Path("cwnd.csv"), help="CSV to write")
    parser.add_argument("--png", type=Path, default=Path("cwnd.png"), help="PNG to write")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the transfers, print one line per run, write the CSV and (if possible) PNG."""
    args = _parser().parse_args(argv)
    runs = []
    for seed in args.seeds:
        for name in args.congestion:
            run = run_transfer(name, size=args.size, loss=args.loss, delay=args.delay,
                               seed=seed)  # fmt: skip
            runs.append(run)
            print(f"{name:8} seed {seed}: {run.seconds:7.2f} s, {run.goodput / 1e6:6.3f} "
                  f"MB/s, {run.rexmit_bytes} bytes retransmitted")  # fmt: skip
    for name in args.congestion:
        mine = [r for r in runs if r.congestion == name]
        goodput = sum(r.goodput for r in mine) / len(mine)
        rexmit = sum(r.rexmit_bytes for r in mine) / len(mine)
        print(f"{name:8} mean of {len(mine)}: {goodput / 1e6:6.3f} MB/s, "
              f"{rexmit:.0f} bytes retransmitted")  # fmt: skip
    write_csv(runs, args.csv)
    print(f"wrote {args.csv}")
    title = (f"{args.size / 1e6:g} MB, {args.loss * 100:g}% loss, "
             f"{args.delay * 1000:g} ms one-way delay, seed {args.seeds[0]}")  # fmt: skip
    try:
        write_png([r for r in runs if r.seed == args.seeds[0]], args.png, title)
    except ImportError:
        print("matplotlib is not installed, so no PNG: pip install 'pystack-net[plot]'",
              file=sys.stderr)  # fmt: skip
        return 0
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
