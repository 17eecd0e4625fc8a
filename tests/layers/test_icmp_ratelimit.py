"""ICMP error rate limiting as Linux does it: a global token bucket and a per-destination one."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from pystack.layers.icmp import IcmpRateLimit, IcmpRateLimiter
from pystack.sim import SimNet, WireTap
from pystack.wire import icmp as icmp_wire
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet

A, B = "198.18.0.1", "198.18.0.2"
UNREACH = icmp_wire.TYPE_DEST_UNREACHABLE


def allowed(limiter: IcmpRateLimiter, dsts: list[str], type_: int = UNREACH, code: int = 3) -> int:
    return sum(limiter.allow(type_, code, dst) for dst in dsts)


def hosts(n: int, start: int = 0) -> list[str]:
    return [f"198.19.{(i >> 8) & 0xFF}.{i & 0xFF}" for i in range(start, start + n)]


def test_global_bucket_allows_a_burst_of_50_then_1000_per_second() -> None:
    clock = Clock()
    limiter = IcmpRateLimiter(IcmpRateLimit(), clock)
    assert allowed(limiter, hosts(60)) == 50
    clock.advance(0.005)  # 5 ms at 1000/s: five tokens
    assert allowed(limiter, hosts(10, 100)) == 5
    clock.advance(10.0)  # a long pause refills only up to the burst
    assert allowed(limiter, hosts(60, 200)) == 50


def test_per_destination_allows_one_per_second_after_a_burst_of_six() -> None:
    clock = Clock()
    limiter = IcmpRateLimiter(IcmpRateLimit(), clock)
    assert allowed(limiter, [B] * 10) == 6
    clock.advance(0.5)
    assert allowed(limiter, [B]) == 0
    clock.advance(0.5)
    assert allowed(limiter, [B] * 3) == 1
    for _ in range(5):
        clock.advance(1.0)
        assert allowed(limiter, [B] * 3) == 1
    assert allowed(limiter, ["198.18.0.3"]) == 1  # another destination is not held back


def test_a_limited_destination_does_not_spend_the_global_credit() -> None:
    limiter = IcmpRateLimiter(IcmpRateLimit(), Clock())
    assert allowed(limiter, [B] * 1000) == 6
    assert allowed(limiter, hosts(100)) == 44


def test_echo_replies_and_fragmentation_needed_are_never_limited() -> None:
    limiter = IcmpRateLimiter(IcmpRateLimit(), Clock())
    assert allowed(limiter, [B] * 200, icmp_wire.TYPE_ECHO_REPLY, 0) == 200
    assert allowed(limiter, [B] * 200, UNREACH, icmp_wire.CODE_FRAG_NEEDED) == 200
    assert allowed(limiter, [B] * 10, icmp_wire.TYPE_TIME_EXCEEDED, 0) == 6


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (IcmpRateLimit(per_dest_interval=0), 50),  # only the global bucket
        (IcmpRateLimit(msgs_per_sec=0), 6),  # only the per-destination one
        (IcmpRateLimit(msgs_per_sec=0, per_dest_interval=0), 100),
        (IcmpRateLimit(ratemask=frozenset()), 100),  # as icmp_ratemask=0
        (IcmpRateLimit(msgs_burst=3), 3),
    ],
)
def test_knobs(config: IcmpRateLimit, expected: int) -> None:
    assert allowed(IcmpRateLimiter(config, Clock()), [B] * 100) == expected


def test_per_destination_state_is_bounded_and_forgets_the_oldest() -> None:
    limiter = IcmpRateLimiter(IcmpRateLimit(max_destinations=3), Clock())
    assert allowed(limiter, [B] * 10) == 6
    assert allowed(limiter, hosts(2)) == 2
    assert allowed(limiter, [B]) == 0  # still remembered among the last three
    assert allowed(limiter, hosts(3, 10)) == 3  # B is the oldest: dropped
    assert allowed(limiter, [B]) == 1


def udp_from(src: str, port: int = 9) -> Ipv4Packet:
    data = udp_wire.emit(udp_wire.UdpDatagram(1000, port, b"x"), src, A)
    return Ipv4Packet(src, A, 17, data)


@pytest.fixture
def net() -> SimNet:
    sim = SimNet(2)
    sim.a.arp.resolve(B, b"", 0x0800)
    sim.advance(0.01)
    return sim


def errors_on_wire(tap: WireTap) -> list[icmp_wire.IcmpMessage]:
    msgs = [icmp_wire.parse(p.payload) for p in tap.ip() if p.proto == 1]
    return [m for m in msgs if m.is_error]


def test_port_unreachable_flood_is_limited_per_destination(net: SimNet) -> None:
    tap = WireTap(net)
    for _ in range(10):
        tap.inject(udp_from(B))
    net.advance(0.01)
    assert len(errors_on_wire(tap)) == 6
    assert net.a.stats.get("ICMP", "errors_rate_limited") == 4
    assert net.a.stats.get("ICMP", "errors_sent") == 6
    net.advance(1.0)
    tap.inject(udp_from(B))
    tap.inject(udp_from(B))
    net.advance(0.01)
    assert len(errors_on_wire(tap)) == 7
    assert net.a.stats.get("ICMP", "errors_rate_limited") == 5


def test_protocol_unreachable_shares_the_limit(net: SimNet) -> None:
    tap = WireTap(net)
    for _ in range(6):
        tap.inject(udp_from(B))
    tap.inject(Ipv4Packet(B, A, 99, b"unknown protocol"))
    net.advance(0.01)
    assert len(errors_on_wire(tap)) == 6
    assert net.a.stats.get("ICMP", "errors_rate_limited") == 1


def test_echo_requests_are_all_answered(net: SimNet) -> None:
    tap = WireTap(net)
    for seq in range(20):
        tap.inject(Ipv4Packet(B, A, 1, icmp_wire.emit(icmp_wire.echo_request(1, seq))))
    net.advance(0.01)
    assert len([p for p in tap.ip() if p.src == A]) == 20
    assert net.a.stats.get("ICMP", "echo_replies_rate_limited") == 0


def test_the_stack_knob_can_be_replaced_at_run_time(net: SimNet) -> None:
    net.a.icmp.rate_limit = IcmpRateLimit(per_dest_interval=0)
    tap = WireTap(net)
    for _ in range(10):
        tap.inject(udp_from(B))
    net.advance(0.01)
    assert len(errors_on_wire(tap)) == 10


def test_a_stack_takes_its_rate_limit_at_construction() -> None:
    sim = SimNet(2, icmp_rate_limit=IcmpRateLimit(per_dest_interval=0))
    assert sim.a.icmp.rate_limit == IcmpRateLimit(per_dest_interval=0)
