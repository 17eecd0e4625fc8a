"""The loopback interface: a stack talking to itself (its own addresses, 127.0.0.1, ::1)
over TCP, UDP and ICMP, with not one frame on its link."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.links.base import Link
from pystack.links.loopback import LoopbackLink
from pystack.sim import SimNet, WireTap
from pystack.wire import ipv4
from pystack.wire.ipv6 import Ipv6Packet

DESTINATIONS = ["198.18.0.1", "127.0.0.1", "2001:db8::1", "::1"]


def _net() -> tuple[SimNet, WireTap]:
    net = SimNet(1, ipv6=True)
    return net, WireTap(net)


def _quiet(net: SimNet, tap: WireTap) -> None:
    """Nothing went on the link: the wire carried no frame, the tap saw none."""
    assert net.wire.counters.sent == 0
    assert tap.frames == []


def test_loopback_is_a_link() -> None:
    net, _ = _net()
    assert isinstance(net.a.loopback, LoopbackLink)
    assert isinstance(net.a.loopback, Link)


@pytest.mark.parametrize("dst", DESTINATIONS)
def test_ping_oneself(dst: str) -> None:
    net, tap = _net()
    rtt = net.wait(net.a.ping_deferred(dst), max_time=1)
    assert rtt >= 0
    assert net.a.loopback.frames == 2  # the request and the reply
    _quiet(net, tap)


@pytest.mark.parametrize("dst", DESTINATIONS)
def test_tcp_connection_to_oneself(dst: str) -> None:
    net, tap = _net()
    stack = net.a
    server, client = TCPApplication(), TCPApplication()
    stack.register_tcp_application(server)
    stack.register_tcp_application(client)
    server.bind(80)
    server.listen(5)
    connected: list[Any] = []
    accepted: list[Any] = []
    client.connect_deferred(dst, 80).addCallback(connected.append)
    server.accept_deferred().addCallback(accepted.append)
    assert net.run_until(lambda: connected and accepted, max_time=5)
    served = accepted[0]
    client.send(b"x" * 100_000)  # bigger than the link's MTU: the loopback's is 64 KiB
    got = bytearray()
    net.run_until(lambda: got.extend(served.fetch_data()) or len(got) >= 100_000, max_time=10)
    assert bytes(got) == b"x" * 100_000
    client.close()
    served.close()
    net.advance(1)
    assert stack.loopback.frames > 0
    _quiet(net, tap)


@pytest.mark.parametrize("dst", DESTINATIONS)
def test_udp_to_oneself(dst: str) -> None:
    net, tap = _net()
    server, client = UDPApplication(), UDPApplication()
    net.a.register_udp_application(server)
    net.a.register_udp_application(client)
    server.bind(5000)
    client.sendto(b"hello", (dst, 5000))
    net.advance(0.1)
    got = server.fetch_data_from()
    assert got is not None and got[2] == b"hello"
    _quiet(net, tap)


def test_loopback_addresses_from_the_link_are_dropped() -> None:
    """RFC 1122 §3.2.1.3 (g): 127/8 never comes from outside the host."""
    net, tap = _net()
    tap.inject(ipv4.Ipv4Packet("198.18.0.9", "127.0.0.1", 17, b"\x00" * 8))
    tap.inject(ipv4.Ipv4Packet("127.0.0.1", "198.18.0.1", 17, b"\x00" * 8))
    net.advance(0.1)
    assert net.a.stats.dropped("IP", "not_our_address") == 1
    assert net.a.stats.dropped("IP", "bad_source") == 1
    assert net.a.loopback.frames == 0


def test_ipv6_loopback_address_from_the_link_is_dropped() -> None:
    """RFC 4291 §2.5.3: ::1 is never a source or destination on a link."""
    net, tap = _net()
    tap.inject(Ipv6Packet("2001:db8::9", "::1", 17, b"\x00" * 8))
    tap.inject(Ipv6Packet("::1", "2001:db8::1", 17, b"\x00" * 8))
    net.advance(0.1)
    assert net.a.stats.dropped("IPv6", "not_our_address") == 1
    assert net.a.stats.dropped("IPv6", "bad_source") == 1
    assert net.a.loopback.frames == 0


def test_stop_closes_the_loopback() -> None:
    net, _ = _net()
    net.a.stop()
    net.advance(3)
    assert net.a.loopback.closed
