"""`pystack bench idle`: idle connections held between two stacks, and TIME_WAIT records."""

from __future__ import annotations

import gc
import weakref

import pytest

from pystack.benchmarks import idle


def test_every_connection_is_held_and_measured_on_each_side() -> None:
    r = idle.hold_idle(200, "none")
    assert (r["connections"], r["established"], r["listeners"]) == (200, 200, 1)
    # The project's budget per idle established connection; a regression shows here first.
    assert 0 < r["bytes_per_conn"] <= idle.TARGET_BYTES
    assert 0 < r["client_bytes_per_conn"] <= idle.TARGET_BYTES
    # What both stacks grew by is what each side frees, give or take the shared tables.
    sides = (r["bytes_per_conn"] + r["client_bytes_per_conn"]) * 200
    assert abs(r["both_stacks_growth"] - sides) < 0.1 * sides


def test_the_rss_run_holds_every_connection_too() -> None:
    r = idle.hold_idle_rss(50, "none")
    assert r["rss_established"] == 50 and r["rss_growth"] == 2 * 50 * r["rss_bytes_per_conn"]


def test_an_application_per_connection_is_counted_on_the_server() -> None:
    bare = idle.hold_idle(100, "none")
    served = idle.hold_idle(100, "tcpapplication")
    assert served["established"] == 100
    assert served["bytes_per_conn"] > bare["bytes_per_conn"]


def test_more_connections_than_ports_spread_over_listeners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(idle, "PORTS_PER_LISTENER", 16)
    r = idle.hold_idle(40, "none")
    assert (r["listeners"], r["established"]) == (3, 40)


def test_time_wait_records_are_counted_and_measured() -> None:
    r = idle.time_wait_records(50)
    assert r["records"] == 50
    assert 0 < r["bytes_per_record"] < 512


def test_forgotten_connections_are_freed() -> None:
    pair = idle._Pair(1, "none")
    pair.connect(20)
    refs = [weakref.ref(s) for s in pair.server.connections.values()]
    idle._forget_connections(pair.server)
    pair.drop_stale_calls()
    gc.collect()
    assert not any(ref() for ref in refs)
