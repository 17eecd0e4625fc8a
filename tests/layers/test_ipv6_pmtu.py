"""Path MTU discovery for IPv6 (RFC 8201) on the simulated wire: a validated Packet Too Big
lowers the path MTU of its destination, fragmentation on send follows it, a Packet Too Big
below 1280 or not about our datagram is dropped by reason, and aging restores the link MTU."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.apps.udp_application import UDPApplication
from pystack.layers.pmtu import PathMtuCache
from pystack.sim import SimNet, WireTap
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ipv6
from pystack.wire.ipv6 import Ipv6Packet

A, B, ROUTER = "2001:db8::1", "2001:db8::2", "2001:db8::99"


def _net() -> tuple[SimNet, WireTap]:
    net = SimNet(2, ipv6=True)
    return net, WireTap(net)


def _ptb(tap: WireTap, mtu: int, quoted: Ipv6Packet) -> None:
    """Stack a gets a Packet Too Big from a router, quoting ``quoted``."""
    msg = icmp6.emit(icmp6.packet_too_big(mtu, icmp6.quote(ipv6.emit(quoted))), ROUTER, A)
    tap.inject(Ipv6Packet(ROUTER, A, ipv6.NH_ICMPV6, msg))


def _ours(size: int = 1400) -> Ipv6Packet:
    return Ipv6Packet(A, B, ipv6.NH_UDP, bytes(size))


def _sizes_from_a(tap: WireTap, since: int = 0) -> list[int]:
    return [len(ipv6.emit(p)) for p in tap.ip6()[since:] if p.src == A]


def test_packet_too_big_makes_pings_fragment_to_the_path_mtu() -> None:
    net, tap = _net()
    _ptb(tap, 1300, _ours())
    assert net.a.ipv6.path_mtu(B) == 1300
    assert net.a.ipv6.path_mtu("2001:db8::3") == 1500  # per destination
    rtts: list[float] = []
    net.a.ping_deferred(B, data=bytes(1400)).addCallback(rtts.append)
    net.advance(0.5)
    assert rtts
    frags = [p for p in tap.ip6() if p.src == A and p.is_fragment]
    assert len(frags) == 2 and all(len(ipv6.emit(p)) <= 1300 for p in frags)
    assert net.a.stats.get("IPv6", "pmtu_lowered") == 1


def test_udp_datagrams_larger_than_the_path_mtu_are_fragmented_to_it() -> None:
    net, tap = _net()
    server, client = UDPApplication(), UDPApplication()
    net.b.register_udp_application(server)
    net.a.register_udp_application(client)
    server.bind(7000)
    _ptb(tap, 1280, _ours())
    client.sendto(bytes(3000), (B, 7000))
    net.advance(0.1)
    got = server.fetch_data_from()
    assert got is not None and got[2] == bytes(3000)
    frags = [p for p in tap.ip6() if p.src == A and p.is_fragment]
    assert len(frags) == 3 and all(len(ipv6.emit(p)) <= 1280 for p in frags)


def test_packet_too_big_below_1280_is_dropped() -> None:
    net, tap = _net()
    _ptb(tap, 1000, _ours())
    assert net.a.stats.dropped("ICMPv6", "ptb_below_minimum") == 1
    assert net.a.ipv6.path_mtu(B) == 1500


def test_packet_too_big_not_quoting_our_datagram_is_dropped() -> None:
    net, tap = _net()
    _ptb(tap, 1300, Ipv6Packet("2001:db8::77", B, ipv6.NH_UDP, bytes(1400)))
    assert net.a.stats.dropped("ICMPv6", "bad_quote") == 1
    assert net.a.ipv6.path_mtu(B) == 1500


def test_packet_too_big_never_raises_the_path_mtu() -> None:
    net, tap = _net()
    _ptb(tap, 1300, _ours())
    _ptb(tap, 1400, _ours())
    assert net.a.ipv6.path_mtu(B) == 1300
    assert net.a.stats.get("IPv6", "pmtu_lowered") == 1


def test_aging_restores_the_link_mtu() -> None:
    net, tap = _net()
    _ptb(tap, 1300, _ours())
    net.clock.advance(599)  # SimNet.advance stops when no event is due
    assert net.a.ipv6.path_mtu(B) == 1300
    net.clock.advance(2)  # RFC 8201 §4: 10 minutes by default
    assert net.a.ipv6.path_mtu(B) == 1500
    start = len(tap.ip6())
    rtts: list[float] = []
    net.a.ping_deferred(B, data=bytes(1400)).addCallback(rtts.append)
    net.advance(0.5)
    assert rtts and not any(p.is_fragment for p in tap.ip6()[start:])


def test_cache_timeout_below_five_minutes_is_refused() -> None:
    with pytest.raises(ValueError):
        PathMtuCache(timeout=299)
    cache = PathMtuCache()
    assert cache.lower("x", 1000, 1500, now=0.0)  # clamped to 1280 (RFC 8201 §4)
    assert cache.get("x", 1500, now=1.0) == 1280
    assert cache.entries(now=1.0) == {"x": 1280}
    assert cache.get("x", 1500, now=600.0) == 1500


def _tcp_from_a(tap: WireTap, since: int = 0) -> list[Ipv6Packet]:
    return [p for p in tap.ip6()[since:] if p.src == A and p.proto == ipv6.NH_TCP]


def test_tcp_segments_fit_the_path_mtu_after_packet_too_big() -> None:
    with SimNet(2, ipv6=True) as net:
        tap = WireTap(net)
        client, server = net.connect_tcp(5003, far_address=B)
        data = bytes(range(256)) * 200
        client.send(data)

        def big() -> list[Ipv6Packet]:
            return [p for p in _tcp_from_a(tap) if len(ipv6.emit(p)) > 1300]

        assert net.run_until(big, 1)  # a full-size segment on the wire, not yet acked
        mark = len(tap.ip6())
        _ptb(tap, 1300, big()[-1])
        got = bytearray()
        while len(got) < len(data) and net.now() < 30:
            net.advance(0.01)
            got.extend(server.fetch_data())
        assert bytes(got) == data
        after = _tcp_from_a(tap, mark)
        assert after and all(len(ipv6.emit(p)) <= 1300 for p in after)
        assert net.a.stats.get("tcp", "pmtu_mss_lowered") == 1
        # RFC 8201 §5.4: no congestion response, so no retransmission timeout was needed.
        assert net.now() < 1


def test_tcp_ignores_packet_too_big_quoting_a_sequence_not_in_flight() -> None:
    with SimNet(2, ipv6=True) as net:
        tap = WireTap(net)
        client, _ = net.connect_tcp(5004, far_address=B)
        syn = _tcp_from_a(tap)[0]  # long acknowledged
        big = Ipv6Packet(A, B, ipv6.NH_TCP, syn.payload + bytes(1400))
        _ptb(tap, 1300, big)
        assert net.a.stats.dropped("tcp", "ptb_not_in_flight") == 1
        assert client.session.snd_mss == 1440 - 12  # timestamps on


@given(st.lists(st.tuples(st.integers(0, 70_000), st.floats(0, 1000)), max_size=30))
def test_path_mtu_stays_between_1280_and_the_link_mtu(reports: list[tuple[int, float]]) -> None:
    """RFC 8201 §4: whatever Packet Too Big messages say, the path MTU is never below
    1280, never above the link MTU, and goes up only when its entry ages out."""
    cache, last, learnt = PathMtuCache(), 1500, 0.0
    for mtu, now in sorted(reports, key=lambda r: r[1]):
        aged = now - learnt >= cache.timeout  # the entry behind ``last`` expired
        if cache.lower("d", mtu, 1500, now):
            learnt = now
        current = cache.get("d", 1500, now)
        assert ipv6.MIN_MTU <= current <= 1500
        assert current <= last or aged
        last = current
