"""ICMP: echo server and client, errors passed up, and the errors RFC 1122 §3.2.2 forbids."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.layers.udp_application import UDPApplication
from pystack.testing.twostack import SimNet, WireTap
from pystack.wire import ethernet as eth_wire
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet

A, B = "198.18.0.1", "198.18.0.2"


def udp_to_a(payload: bytes, port: int = 7, **ip: Any) -> Ipv4Packet:
    src, dst = ip.pop("src", B), ip.pop("dst", A)
    data = udp_wire.emit(udp_wire.UdpDatagram(1000, port, payload), src, dst)
    return Ipv4Packet(src, dst, 17, data, **ip)


@pytest.fixture
def net() -> SimNet:
    sim = SimNet(2)
    sim.a.arp.resolve(B, b"", 0x0800)
    sim.advance(0.01)
    return sim


def icmp_to_a(msg: icmp_wire.IcmpMessage, dst: str = A) -> Ipv4Packet:
    return Ipv4Packet(B, dst, 1, icmp_wire.emit(msg))


def test_echo_reply_returns_the_data_from_the_specific_address(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(icmp_to_a(icmp_wire.echo_request(7, 9, b"payload")))
    net.advance(0.01)
    (reply,) = tap.ip()
    msg = icmp_wire.parse(reply.payload)
    assert (reply.src, msg.type, msg.ident, msg.seq, msg.payload) == (A, 0, 7, 9, b"payload")


def test_broadcast_echo_and_unknown_types_are_dropped(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(icmp_to_a(icmp_wire.echo_request(1, 1), dst="198.18.0.255"), eth_wire.BROADCAST)
    tap.inject(icmp_to_a(icmp_wire.IcmpMessage(42, 0, 0, b"")))
    tap.inject(icmp_to_a(icmp_wire.IcmpMessage(0, 0, 5, b"")))  # a reply nobody asked for
    net.advance(0.01)
    assert tap.ip() == []
    stats = net.a.stats
    assert stats.dropped("ICMP", "broadcast_echo") == 1
    assert stats.dropped("ICMP", "unknown_type") == 1
    assert stats.dropped("ICMP", "unmatched_reply") == 1


def test_errors_are_passed_to_the_application_that_sent_the_datagram(net: SimNet) -> None:
    app = UDPApplication()
    net.a.register_udp_application(app)
    port = app.bind(0)
    sent = udp_wire.emit(udp_wire.UdpDatagram(port, 53, b"q"), A, B)
    quoted = icmp_wire.quote(ipv4.emit(Ipv4Packet(A, B, 17, sent)))
    tap = WireTap(net)
    tap.inject(icmp_to_a(icmp_wire.dest_unreachable(3, quoted)))
    tap.inject(icmp_to_a(icmp_wire.time_exceeded(0, quoted)))
    assert app.errors == [("unreachable", 3, (B, 53)), ("time_exceeded", 0, (B, 53))]
    other = icmp_wire.quote(ipv4.emit(Ipv4Packet("198.18.0.50", B, 17, sent)))
    tap.inject(icmp_to_a(icmp_wire.dest_unreachable(3, other)))
    assert net.a.stats.dropped("ICMP", "bad_quote") == 1


def _icmp_error_datagram() -> Ipv4Packet:
    inner = icmp_wire.quote(ipv4.emit(Ipv4Packet(A, B, 17, bytes(8))))
    return icmp_to_a(icmp_wire.dest_unreachable(1, inner))


@pytest.mark.parametrize(
    ("offending", "link_broadcast", "allowed"),
    [
        (udp_to_a(b"x"), False, True),
        (icmp_to_a(icmp_wire.echo_request(1, 1)), False, True),
        (_icmp_error_datagram(), False, False),  # never about an ICMP error
        (udp_to_a(b"x", dst="255.255.255.255"), False, False),  # broadcast
        (udp_to_a(b"x", dst="198.18.0.255"), False, False),  # directed broadcast
        (udp_to_a(b"x", dst="224.0.0.9"), False, False),  # multicast
        (udp_to_a(b"x"), True, False),  # link-layer broadcast
        (udp_to_a(b"x", frag_offset=8), False, False),  # not the first fragment
        (udp_to_a(b"x", src="0.0.0.0"), False, False),  # not a unique source
    ],
)
def test_rfc1122_forbidden_errors(
    net: SimNet, offending: Ipv4Packet, link_broadcast: bool, allowed: bool
) -> None:
    ether = eth_wire.EthernetFrame(eth_wire.BROADCAST if link_broadcast else net.a.mac,
                                   "02:00:00:00:00:99", 0x0800, b"")  # fmt: skip
    assert net.a.icmp.send_error(3, 3, offending, Ether=ether) is allowed


def test_udp_broadcast_to_a_closed_port_gets_no_error(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(udp_to_a(b"x", port=9, dst="255.255.255.255"), eth_wire.BROADCAST)
    tap.inject(udp_to_a(b"x", port=9))
    net.advance(0.01)
    (err,) = tap.ip()
    assert icmp_wire.parse(err.payload).code == 3 and err.tos == 0
    assert net.a.stats.dropped("UDP", "no_port") == 2
    assert net.a.stats.get("ICMP", "errors_suppressed") == 1


def test_ping_echoes_data_and_counts(net: SimNet) -> None:
    rtt = net.wait(net.a.ping_deferred(B, data=b"x" * 56))
    assert rtt == pytest.approx(0.002)
    assert net.b.stats.get("ICMP", "echo_replies_sent") == 1
