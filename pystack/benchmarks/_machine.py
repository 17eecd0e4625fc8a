"""The machine a benchmark ran on, and how fast its Python is right now.

Every ``pystack bench`` report carries ``machine``: cores, CPU model, kernel, Python
version and ``python_loop_s``, the seconds this process takes for::

    s = 0
    for i in range(10_000_000):
        s += i

best of ``--loop-runs`` (3) runs. The same machine's Python speed moves by a factor of
several from one day to the next (other tenants, CPU frequency), so a figure is only
comparable to another one beside the loop time measured in the same sitting: a stack
that is CPU-bound in Python scales roughly with 1 / python_loop_s.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

__all__ = [
    "LOOP_ITERATIONS",
    "add_machine_arguments",
    "loop_line",
    "machine_info",
    "python_loop_s",
]

LOOP_ITERATIONS = 10_000_000
"""The loop's length: ``python_loop_s`` always reports this one."""


def python_loop_s(runs: int = 3, iterations: int = LOOP_ITERATIONS) -> float:
    """Seconds for ``s = 0; for i in range(iterations): s += i``, best of ``runs``.

    Reports use the default ``iterations``; a smaller one is for testing this function."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        s = 0
        for i in range(iterations):
            s += i
        best = min(best, time.perf_counter() - start)
    return best


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_info(loop_runs: int = 3) -> dict[str, Any]:
    """What the figures depend on: cores, CPU model, kernel, Python, and ``python_loop_s``
    (rounded to the millisecond; None when ``loop_runs`` is 0, i.e. not measured)."""
    loop = round(python_loop_s(loop_runs), 3) if loop_runs > 0 else None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_loop_s": loop,
        "python_loop_runs": loop_runs,
    }


def loop_line(machine: dict[str, Any]) -> str:
    """The human-readable line every benchmark prints beside its figures."""
    loop = machine.get("python_loop_s")
    if loop is None:
        return "python_loop_s not measured (--loop-runs 0)"
    runs = machine.get("python_loop_runs", 3)
    return (
        f"python_loop_s {loop:.3f} s (s += i for 10,000,000 i, best of {runs}: this "
        "machine's Python speed now; compare figures only beside it)"
    )


def add_machine_arguments(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """``--loop-runs`` (and ``--json`` unless the benchmark declares its own)."""
    if json:
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--loop-runs",
        type=int,
        default=3,
        metavar="N",
        help="runs of the Python speed loop reported as machine.python_loop_s, best of N "
        "(3; 0 skips it and reports null)",
    )
