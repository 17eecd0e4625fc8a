"""The IPv6 Neighbor Cache: every row of RFC 4861 Appendix C, the NUD timer paths, and a
stateful property: whatever arrives, every packet handed to the cache is sent exactly once
or dropped and counted exactly once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from twisted.internet.task import Clock

from pystack.fsm import load_spec
from pystack.layers.ndp import (
    NDP_GROUPS,
    NdpDrop,
    NdpState,
    NeighborCache,
    solicited_node_multicast,
)
from pystack.testing import examples

PEER = "2001:db8::2"
OLD, NEW = "02:00:00:00:00:02", "02:00:00:00:00:99"
DECLARED = set(load_spec("ndp").states)


class FakeHost:
    """The IPv6 layer as the cache sees it: records what the cache asks it to do."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.solicitations: list[tuple[float, str, str, str | None]] = []
        self.sent: list[tuple[str, Any]] = []
        self.unreachable: list[Any] = []
        self.routers_lost: list[str] = []

    def send_solicitation(self, target: str, dst: str, lladdr: str | None) -> None:
        self.solicitations.append((self.clock.seconds(), target, dst, lladdr))

    def transmit(self, lladdr: str, packet: Any) -> None:
        self.sent.append((lladdr, packet))

    def address_unreachable(self, packet: Any) -> None:
        self.unreachable.append(packet)

    def router_lost(self, address: str) -> None:
        self.routers_lost.append(address)


def make(**options: Any) -> tuple[FakeHost, NeighborCache]:
    host = FakeHost()
    options.setdefault("rng", random.Random(7))
    return host, NeighborCache(host, **options)


# -------------------------------------------------------------- driving an entry to a state


def to_state(state: str, *, queued: int = 1) -> tuple[FakeHost, NeighborCache]:
    """A cache whose entry for PEER is in ``state``, reached by real events; resolved states
    cache OLD, INCOMPLETE holds ``queued`` packets."""
    host, cache = make()
    if state == NdpState.INCOMPLETE:
        for i in range(queued):
            cache.send(PEER, f"queued-{i}")
    elif state in (NdpState.REACHABLE, NdpState.STALE, NdpState.DELAY, NdpState.PROBE):
        cache.rcv_ns(PEER, OLD)  # STALE
        if state == NdpState.REACHABLE:
            cache.confirm(PEER)
        if state in (NdpState.DELAY, NdpState.PROBE):
            cache.send(PEER, "warm-up")
        if state == NdpState.PROBE:
            host.clock.advance(cache.delay_first_probe_time)
    assert cache.state_of(PEER) == (None if state == NdpState.NONE else state)
    host.solicitations.clear()
    host.sent.clear()
    return host, cache


RESOLVED = [NdpState.REACHABLE, NdpState.STALE, NdpState.DELAY, NdpState.PROBE]
UNCHANGED = "unchanged"
GONE = None

Event = Callable[[NeighborCache], None]


def na(lladdr: str | None, *, s: bool, o: bool, r: bool = False) -> Event:
    return lambda c: c.rcv_na(PEER, lladdr, solicited=s, override=o, is_router=r)


UNSOLICITED: dict[str, Callable[[str | None], Event]] = {
    "NS": lambda ll: lambda c: c.rcv_ns(PEER, ll),
    "RS": lambda ll: lambda c: c.rcv_rs(PEER, ll),
    "RA": lambda ll: lambda c: c.rcv_ra(PEER, ll),
    "Redirect": lambda ll: lambda c: c.rcv_redirect(PEER, ll, target_is_router=True),
}


@dataclass(frozen=True)
class Row:
    """One row of RFC 4861 Appendix C, for one concrete source state."""

    name: str
    state: str
    event: Event
    new_state: str | None  # UNCHANGED, a state, or GONE (entry discarded)
    lladdr: str | None = None  # the cached address afterwards (resolved states)
    flushed: bool = False  # the queued packets went out

    def __str__(self) -> str:
        return f"{self.state}: {self.name}"


def appendix_c() -> list[Row]:
    I, R = NdpState.INCOMPLETE, NdpState.REACHABLE  # noqa: E741
    rows = [
        Row("NA S=0 O=0 with lladdr", I, na(NEW, s=False, o=False), NdpState.STALE, NEW, True),
        Row("NA S=0 O=1 with lladdr", I, na(NEW, s=False, o=True), NdpState.STALE, NEW, True),
        Row("NA S=1 O=0 with lladdr", I, na(NEW, s=True, o=False), R, NEW, True),
        Row("NA S=1 O=1 with lladdr", I, na(NEW, s=True, o=True), R, NEW, True),
        Row("NA S=1 O=1 no lladdr", I, na(None, s=True, o=True), UNCHANGED),
        Row("NA S=0 O=0 no lladdr", I, na(None, s=False, o=False), UNCHANGED),
        Row("upper-layer confirmation", I, lambda c: c.confirm(PEER), UNCHANGED),
        Row("reachable timeout", R, lambda c: c.host.clock.advance(46), NdpState.STALE, OLD),
        Row("packet to send", NdpState.STALE, lambda c: c.send(PEER, "p"), NdpState.DELAY, OLD),
    ]
    for kind, message in UNSOLICITED.items():
        rows.append(Row(f"{kind} with lladdr", I, message(NEW), NdpState.STALE, NEW, True))
        rows.append(Row(f"{kind} no lladdr", I, message(None), UNCHANGED))
    for state in RESOLVED:
        rows += [
            Row("NA S=1 O=0 same lladdr", state, na(OLD, s=True, o=False), R, OLD),
            Row("NA S=1 O=1 new lladdr", state, na(NEW, s=True, o=True), R, NEW),
            Row("NA S=1 O=1 same lladdr", state, na(OLD, s=True, o=True), R, OLD),
            Row("NA S=0 O=0 same lladdr", state, na(OLD, s=False, o=False), UNCHANGED, OLD),
            Row("NA S=0 O=0 no lladdr", state, na(None, s=False, o=False), UNCHANGED, OLD),
            Row("NA S=0 O=1 no lladdr", state, na(None, s=False, o=True), UNCHANGED, OLD),
            Row("NA S=0 O=1 same lladdr", state, na(OLD, s=False, o=True), UNCHANGED, OLD),
            Row("NA S=0 O=1 new lladdr", state, na(NEW, s=False, o=True), NdpState.STALE, NEW),
            # §7.2.5: a solicited NA without the option (the answer to a unicast NS) confirms.
            Row("NA S=1 O=0 no lladdr", state, na(None, s=True, o=False), R, OLD),
            Row("upper-layer confirmation", state, lambda c: c.confirm(PEER), R, OLD),
        ]
        # Override=0 with a different address: REACHABLE -> STALE without updating,
        # otherwise ignored (§7.2.5 applies this whatever the Solicited flag).
        for s in (True, False):
            after = NdpState.STALE if state == R else UNCHANGED
            rows.append(Row(f"NA S={int(s)} O=0 new lladdr", state, na(NEW, s=s, o=False),
                            after, OLD))  # fmt: skip
        for kind, message in UNSOLICITED.items():
            rows.append(Row(f"{kind} new lladdr", state, message(NEW), NdpState.STALE, NEW))
            rows.append(Row(f"{kind} same lladdr", state, message(OLD), UNCHANGED, OLD))
            rows.append(Row(f"{kind} no lladdr", state, message(None), UNCHANGED, OLD))
    return rows


@pytest.mark.parametrize("row", appendix_c(), ids=str)
def test_appendix_c_row(row: Row) -> None:
    host, cache = to_state(row.state, queued=2)
    row.event(cache)
    expected = row.state if row.new_state == UNCHANGED else row.new_state
    assert cache.state_of(PEER) == expected
    if expected in NDP_GROUPS.resolved:
        assert cache.lookup(PEER) == row.lladdr
    queued = [(NEW, "queued-0"), (NEW, "queued-1")]
    if row.flushed:
        assert host.sent == queued
    else:
        assert not any(p in {"queued-0", "queued-1"} for _, p in host.sent)


def test_no_entry_rows_packet_to_send_creates_incomplete_and_multicasts_ns() -> None:
    host, cache = make()
    cache.send(PEER, "p")
    assert cache.state_of(PEER) == NdpState.INCOMPLETE
    assert host.solicitations == [(0.0, PEER, solicited_node_multicast(PEER), None)]
    assert solicited_node_multicast(PEER) == "ff02::1:ff00:2"
    assert host.sent == []


@pytest.mark.parametrize("kind", sorted(UNSOLICITED))
def test_no_entry_rows_unsolicited_message(kind: str) -> None:
    host, cache = make()
    UNSOLICITED[kind](None)(cache)
    assert cache.state_of(PEER) is None  # no link-layer address: no entry
    UNSOLICITED[kind](NEW)(cache)
    assert cache.state_of(PEER) == NdpState.STALE and cache.lookup(PEER) == NEW
    assert host.solicitations == []


def test_na_without_entry_is_discarded_and_counted() -> None:
    _, cache = make()
    cache.rcv_na(PEER, NEW, solicited=True, override=True, is_router=False)
    assert cache.state_of(PEER) is None
    assert cache.stats.dropped("NDP", NdpDrop.NO_ENTRY) == 1


def test_override_clear_in_reachable_goes_stale_and_keeps_the_address() -> None:
    _, cache = to_state(NdpState.REACHABLE)
    cache.rcv_na(PEER, NEW, solicited=False, override=False, is_router=True)
    assert cache.state_of(PEER) == NdpState.STALE
    assert cache.lookup(PEER) == OLD
    assert cache.cache[PEER].is_router is False  # "do not update the entry in any other way"


def test_is_router_turning_false_tells_the_host() -> None:
    host, cache = make()
    cache.rcv_ra(PEER, OLD)
    assert cache.cache[PEER].is_router is True
    cache.rcv_na(PEER, None, solicited=False, override=False, is_router=False)
    assert host.routers_lost == [PEER]
    cache.rcv_ns(PEER, None)  # NS says nothing of IsRouter
    assert cache.cache[PEER].is_router is False and host.routers_lost == [PEER]


# ------------------------------------------------------------------------------ timer paths


def test_incomplete_sends_three_ns_one_second_apart_then_fails() -> None:
    host, cache = make()
    cache.send(PEER, "a")
    cache.send(PEER, "b")
    host.clock.advance(1.0)
    host.clock.advance(1.0)
    assert [t for t, *_ in host.solicitations] == [0.0, 1.0, 2.0]
    assert all(dst == "ff02::1:ff00:2" for _, _, dst, _ in host.solicitations)
    assert cache.state_of(PEER) == NdpState.INCOMPLETE
    host.clock.advance(1.0)
    assert cache.state_of(PEER) is None
    assert host.unreachable == ["a", "b"] and host.sent == []
    assert cache.stats.dropped("NDP", NdpDrop.ADDRESS_UNREACHABLE) == 2
    assert len(host.solicitations) == 3 and host.clock.getDelayedCalls() == []


def test_reachable_goes_stale_after_reachable_time() -> None:
    host, cache = to_state(NdpState.STALE)
    cache.confirm(PEER)
    reachable = cache.reachable_time
    assert 15.0 <= reachable <= 45.0
    host.clock.advance(reachable - 0.001)
    assert cache.state_of(PEER) == NdpState.REACHABLE
    host.clock.advance(0.001)
    assert cache.state_of(PEER) == NdpState.STALE
    assert host.clock.getDelayedCalls() == []  # STALE waits for traffic, no timer


def test_stale_send_delay_probe_three_unicast_ns_then_gone() -> None:
    host, cache = to_state(NdpState.STALE)
    cache.send(PEER, "p")
    assert host.sent == [(OLD, "p")]  # NUD runs beside sending
    assert cache.state_of(PEER) == NdpState.DELAY
    host.clock.advance(4.999)
    assert host.solicitations == []
    host.clock.advance(0.001)
    assert cache.state_of(PEER) == NdpState.PROBE
    host.clock.advance(1.0)
    host.clock.advance(1.0)
    assert host.solicitations == [(t, PEER, PEER, OLD) for t in (5.0, 6.0, 7.0)]
    cache.send(PEER, "q")  # still sent with the cached address while probing
    assert host.sent[-1] == (OLD, "q")
    host.clock.advance(1.0)
    assert cache.state_of(PEER) is None and host.unreachable == []
    assert host.clock.getDelayedCalls() == []


def test_confirmation_in_delay_makes_reachable_without_probing() -> None:
    host, cache = to_state(NdpState.DELAY)
    host.clock.advance(2.0)
    cache.confirm(PEER)
    assert cache.state_of(PEER) == NdpState.REACHABLE
    host.clock.advance(10.0)
    assert host.solicitations == [] and cache.state_of(PEER) == NdpState.REACHABLE


def test_solicited_na_in_probe_stops_probing() -> None:
    host, cache = to_state(NdpState.PROBE)
    cache.rcv_na(PEER, None, solicited=True, override=False, is_router=False)
    assert cache.state_of(PEER) == NdpState.REACHABLE
    host.clock.advance(3.0)
    assert host.solicitations == []


def test_reachable_time_is_random_within_the_factors_and_redrawn_on_new_base() -> None:
    draws = set()
    for seed in range(200):
        _, cache = make(rng=random.Random(seed))
        value = cache.reachable_time
        assert 15.0 <= value <= 45.0
        assert cache.reachable_time == value  # one value until re-drawn
        draws.add(round(value, 3))
    assert len(draws) > 150 and min(draws) < 20 and max(draws) > 40
    host, cache = make()
    cache.base_reachable_time = 10.0
    assert 5.0 <= cache.reachable_time <= 15.0
    first = cache.reachable_time
    host.clock.advance(2 * 3600)
    assert cache.reachable_time != first  # RFC 4861 §6.3.2: re-drawn every few hours


# ------------------------------------------------------------------ queue, bounds, misuse


def test_pending_queue_is_bounded_oldest_dropped() -> None:
    host, cache = make(max_pending=2)
    for p in ("a", "b", "c"):
        cache.send(PEER, p)
    cache.rcv_na(PEER, NEW, solicited=True, override=False, is_router=False)
    assert host.sent == [(NEW, "b"), (NEW, "c")]
    assert cache.stats.dropped("NDP", NdpDrop.PENDING_OVERFLOW) == 1


def test_full_cache_evicts_stale_entries_first() -> None:
    _, cache = make(max_entries=3)
    cache.send("2001:db8::a", "pa")  # INCOMPLETE
    cache.rcv_ns("2001:db8::b", OLD)  # STALE
    cache.rcv_ns("2001:db8::c", OLD)
    cache.confirm("2001:db8::c")  # REACHABLE
    cache.rcv_ns("2001:db8::d", NEW)
    assert cache.state_of("2001:db8::b") is None
    assert {cache.state_of(a) for a in ("2001:db8::a", "2001:db8::c", "2001:db8::d")} == {
        NdpState.INCOMPLETE, NdpState.REACHABLE, NdpState.STALE}  # fmt: skip
    cache.rcv_ns("2001:db8::e", NEW)  # evicts d (STALE) before c (REACHABLE)
    assert cache.state_of("2001:db8::d") is None and len(cache) == 3
    assert cache.stats.get("NDP", "entries_evicted") == 2


def test_evicted_incomplete_entry_reports_its_packets_unreachable() -> None:
    host, cache = make(max_entries=1)
    cache.send("2001:db8::a", "pa")
    cache.send("2001:db8::b", "pb")
    assert host.unreachable == ["pa"] and cache.state_of("2001:db8::a") is None
    assert cache.stats.dropped("NDP", NdpDrop.ADDRESS_UNREACHABLE) == 1


def test_duplicate_address_detection_ns_teaches_nothing() -> None:
    _, cache = make()
    cache.rcv_ns("::", OLD)
    assert len(cache) == 0 and cache.stats.drops("NDP") == {}
    assert cache.stats.get("NDP", "dad_solicits_received") == 1


def test_observer_sees_every_transition() -> None:
    host = FakeHost()
    seen: list[tuple[str, str, str, str]] = []
    cache = NeighborCache(
        host, observer=lambda e, old, t, new: seen.append((e.address, old, t, new))
    )
    cache.send(PEER, "p")
    cache.rcv_na(PEER, NEW, solicited=True, override=False, is_router=False)
    assert seen == [
        (PEER, "NONE", "send_packet", "INCOMPLETE"),
        (PEER, "INCOMPLETE", "rcv_na", "REACHABLE"),
    ]


def test_unsolicited_messages_never_evict_a_pending_resolution() -> None:
    host, cache = make(max_entries=2)
    cache.send("2001:db8::a", "pa")
    cache.send("2001:db8::b", "pb")
    for i in range(10):
        cache.rcv_ns(f"2001:db8::1:{i}", OLD)
    assert len(cache) == 2 and host.unreachable == []
    assert cache.stats.dropped("NDP", NdpDrop.CACHE_FULL) == 10
    cache.rcv_na("2001:db8::a", NEW, solicited=True, override=False, is_router=False)
    assert host.sent == [(NEW, "pa")]


@pytest.mark.parametrize("address", ["ff02::1", "ff02::1:ff00:2", "198.18.0.1", "nonsense", None])
def test_malformed_input_is_dropped_and_counted_never_raised(address: Any) -> None:
    _, cache = make()
    cache.rcv_ns(address, OLD)
    cache.rcv_na(address, OLD, solicited=True, override=True, is_router=False)
    cache.rcv_ra(PEER, "not-a-mac")
    cache.rcv_ra(PEER, 42)  # type: ignore[arg-type]
    assert len(cache) == 0
    assert cache.stats.dropped("NDP", NdpDrop.BAD_ADDRESS) == 2
    assert cache.stats.dropped("NDP", NdpDrop.BAD_LLADDR) == 2
    with pytest.raises(ValueError, match="not a unicast IPv6 address"):
        cache.send(address, "p")


def test_addresses_are_canonical() -> None:
    _, cache = make()
    cache.rcv_ns("2001:DB8:0:0::2", "02:00:00:00:00:AB")
    assert cache.lookup(PEER) == "02:00:00:00:00:ab"


# ------------------------------------------------------------------ stateful property test

ADDRESSES = ["2001:db8::1", "2001:db8::2", "fe80::3", "2001:db8::4", "2001:db8::5"]
LLADDRS = st.sampled_from([None, OLD, NEW, "02:00:00:00:00:77"])


class NeighborCacheMachine(RuleBasedStateMachine):
    """Random NDP messages, packets, confirmations and time against a small cache."""

    def __init__(self) -> None:
        super().__init__()
        self.host = FakeHost()
        self.cache = NeighborCache(self.host, max_entries=3, max_pending=2, rng=random.Random(1))
        self.handed: list[int] = []
        self.next_id = 0

    @rule(address=st.sampled_from(ADDRESSES))
    def send(self, address: str) -> None:
        self.next_id += 1
        self.handed.append(self.next_id)
        self.cache.send(address, self.next_id)

    @rule(address=st.sampled_from(ADDRESSES), lladdr=LLADDRS, s=st.booleans(), o=st.booleans(),
          r=st.booleans())  # fmt: skip
    def advertisement(self, address: str, lladdr: str | None, s: bool, o: bool, r: bool) -> None:
        self.cache.rcv_na(address, lladdr, solicited=s, override=o, is_router=r)

    @rule(address=st.sampled_from(ADDRESSES), lladdr=LLADDRS,
          kind=st.sampled_from(["ns", "rs", "ra", "redirect"]))  # fmt: skip
    def unsolicited(self, address: str, lladdr: str | None, kind: str) -> None:
        if kind == "redirect":
            self.cache.rcv_redirect(address, lladdr, target_is_router=True)
        else:
            getattr(self.cache, f"rcv_{kind}")(address, lladdr)

    @rule(address=st.sampled_from([*ADDRESSES, "ff02::1", "x", ""]), lladdr=st.text(max_size=5))
    def garbage(self, address: str, lladdr: str) -> None:
        self.cache.rcv_ns(address, lladdr)

    @rule(address=st.sampled_from(ADDRESSES))
    def confirm(self, address: str) -> None:
        self.cache.confirm(address)

    @rule(seconds=st.sampled_from([0.5, 1.0, 5.0, 20.0, 60.0]))
    def advance(self, seconds: float) -> None:
        self.host.clock.advance(seconds)

    @invariant()
    def states_are_declared_and_live(self) -> None:
        assert len(self.cache) <= 3
        for address, entry in self.cache.cache.items():
            assert entry.state in DECLARED
            assert entry.state not in (NdpState.NONE, NdpState.FAILED), entry
            assert entry.address == address
            assert not entry.pending or entry.state == NdpState.INCOMPLETE
            if entry.state in NDP_GROUPS.resolved:
                assert entry.lladdr is not None

    @invariant()
    def one_timer_per_waiting_entry_none_leaked(self) -> None:
        timed = {NdpState.INCOMPLETE, NdpState.REACHABLE, NdpState.DELAY, NdpState.PROBE}
        for entry in self.cache.cache.values():
            running = entry.timer is not None and entry.timer.active()
            assert running == (entry.state in timed), entry
        live = sum(e.state in timed for e in self.cache.cache.values())
        assert len(self.host.clock.getDelayedCalls()) == live

    @invariant()
    def every_packet_sent_once_or_dropped_and_counted(self) -> None:
        sent = [p for _, p in self.host.sent]
        pending = [p for e in self.cache.cache.values() for p in e.pending]
        unreachable = self.host.unreachable
        overflow = self.cache.stats.dropped("NDP", NdpDrop.PENDING_OVERFLOW)
        assert len(set(sent)) == len(sent) and len(set(unreachable)) == len(unreachable)
        assert not (set(sent) & set(unreachable)) and not (set(pending) & set(sent))
        assert self.cache.stats.dropped("NDP", NdpDrop.ADDRESS_UNREACHABLE) == len(unreachable)
        assert len(sent) + len(pending) + len(unreachable) + overflow == len(self.handed)
        assert set(sent) | set(pending) | set(unreachable) <= set(self.handed)


NeighborCacheMachine.TestCase.settings = settings(
    max_examples=examples(ci=300, dev=60), stateful_step_count=40, deadline=None
)
test_neighbor_cache_stateful = NeighborCacheMachine.TestCase
