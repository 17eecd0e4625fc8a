"""`pystack bench connrate`: connect+close between two stacks on a MemoryWire."""

from __future__ import annotations

import pstats
from pathlib import Path

from pystack.benchmarks import connrate


def test_every_connection_closes_and_leaves_a_time_wait_record() -> None:
    r = connrate.run_once(40)
    assert (r["connections"], r["closed"], r["server_open"]) == (40, 40, 0)
    # Both ends close at once (the acceptor on establishment, the client too): a
    # simultaneous close leaves each side a compact TIME_WAIT record, the warm-up's too.
    assert r["server_time_wait"] == r["client_time_wait"] == 41
    assert r["cpu_s"] > 0 and r["us_per_conn"] == r["cpu_s"] / 40 * 1e6


def test_the_best_run_is_reported_and_a_profile_written(tmp_path: Path) -> None:
    profile = tmp_path / "connrate.prof"
    r = connrate.measure(20, 2, str(profile))
    assert len(r["runs"]) == 2 and round(r["us_per_conn"], 1) == min(r["runs"])
    assert pstats.Stats(str(profile)).total_calls > 0
