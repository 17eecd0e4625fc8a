"""ICMP: echo server and client, errors passed up, and the errors RFC 1122 §3.2.2 forbids."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.udp_application import UDPApplication
from pystack.layers.ip_meta import meta_of
from pystack.testing.twostack import SimNet, WireTap
from pystack.wire import ethernet as eth_wire
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4
from pystack.wire import ipv4_options as opts
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


@pytest.mark.requirement(
    "RFC1122:3.2.2.6-echo-server",
    "RFC1122:3.1-ip-icmp",
    "RFC1122:3.2.2.6-echo-source",
    "RFC1122:3.2.2.6-echo-data",
    "RFC792:echo",
)
def test_echo_reply_returns_the_data_from_the_specific_address(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(icmp_to_a(icmp_wire.echo_request(7, 9, b"payload")))
    net.advance(0.01)
    (reply,) = tap.ip()
    msg = icmp_wire.parse(reply.payload)
    assert (reply.src, msg.type, msg.ident, msg.seq, msg.payload) == (A, 0, 7, 9, b"payload")
    assert reply.options == b""  # a request without options gets a reply without any


@pytest.mark.requirement("RFC1122:3.2.2-unknown-type", "RFC1122:3.2.2.6-echo-broadcast")
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


@pytest.mark.requirement(
    "RFC1122:3.2.2-error-up",
    "RFC1122:3.2.2.4-time-exceeded-up",
    "RFC1122:4.1.3.3-icmp-up",
    "RFC1122:3.2.2.1-unreach-up",
    "RFC1122:3.4-icmp-up",
    "RFC1122:3.4-icmp-quote-up",
)
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
@pytest.mark.requirement(
    "RFC1122:3.2.2-no-error-for-error",
    "RFC1122:3.2.2-no-error-for-broadcast",
    "RFC1122:3.2.2-no-error-for-fragment",
    "RFC1122:3.3.6-broadcast",
    "RFC1122:3.2.2-no-error-for-link-broadcast",
    "RFC1122:3.2.2-no-error-for-bad-source",
)
def test_rfc1122_forbidden_errors(
    net: SimNet, offending: Ipv4Packet, link_broadcast: bool, allowed: bool
) -> None:
    ether = eth_wire.EthernetFrame(eth_wire.BROADCAST if link_broadcast else net.a.mac,
                                   "02:00:00:00:00:99", 0x0800, b"")  # fmt: skip
    meta = meta_of(offending, link=ether)
    assert net.a.icmp.send_error(3, 3, offending, meta) is allowed


@pytest.mark.requirement(
    "RFC1122:3.2.2.1-port-unreach",
    "RFC1122:4.1.3.1-port-unreach",
    "RFC1122:3.2.2-error-tos",
    "RFC1122:3.4-send-icmp",
)
def test_udp_broadcast_to_a_closed_port_gets_no_error(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(udp_to_a(b"x", port=9, dst="255.255.255.255"), eth_wire.BROADCAST)
    tap.inject(udp_to_a(b"x", port=9))
    net.advance(0.01)
    (err,) = tap.ip()
    assert icmp_wire.parse(err.payload).code == 3 and err.tos == 0
    assert net.a.stats.dropped("UDP", "no_port") == 2
    assert net.a.stats.get("ICMP", "errors_suppressed") == 1


@pytest.mark.requirement("RFC1122:3.2.2.6-echo-reply-up", "RFC1122:3.2.2.6-echo-client")
def test_ping_echoes_data_and_counts(net: SimNet) -> None:
    rtt = net.wait(net.a.ping_deferred(B, data=b"x" * 56))
    assert rtt == pytest.approx(0.002)
    assert net.b.stats.get("ICMP", "echo_replies_sent") == 1


# -- echo replies and IP options (RFC 1122 §3.2.2.6) --------------------------------------


def echo_with(*options: opts.Ipv4Option, raw: bytes | None = None) -> Ipv4Packet:
    data = icmp_wire.emit(icmp_wire.echo_request(3, 4, b"abc"))
    return Ipv4Packet(B, A, 1, data, options=opts.emit_options(options) if raw is None else raw)


def reply_to(net: SimNet, request: Ipv4Packet) -> Ipv4Packet | None:
    tap = WireTap(net)
    tap.inject(request)
    net.advance(0.1)
    replies = [p for p in tap.ip() if p.src == A and p.proto == 1]
    assert len(replies) <= 1
    return replies[0] if replies else None


@pytest.mark.requirement("RFC1122:3.2.2.6-echo-options")
def test_ping_with_record_route_through_simnet_records_the_replier() -> None:
    net = SimNet(2)
    tap = WireTap(net)
    request = icmp_wire.emit(icmp_wire.echo_request(5, 1, b"rr"))
    rr = opts.emit_options([opts.RecordRoute((B,), free=8)])  # the sender records itself
    net.b.ip.send_packet(request, IP={"dst": A, "proto": 1, "options": rr})
    net.advance(0.1)
    (reply,) = [p for p in tap.ip() if p.src == A and p.proto == 1]
    assert opts.parse_options(reply.options) == (opts.RecordRoute((B, A), free=7),)
    msg = icmp_wire.parse(reply.payload)
    assert (reply.dst, msg.type, msg.payload) == (B, 0, b"rr")


def test_a_full_record_route_comes_back_as_it_was(net: SimNet) -> None:
    full = opts.RecordRoute(("198.18.5.1", "198.18.5.2"), free=0)
    reply = reply_to(net, echo_with(full))
    assert reply is not None and opts.parse_options(reply.options) == (full,)


@pytest.mark.parametrize(
    ("request_ts", "expected_stamps"),
    [
        (opts.Timestamp(opts.TS_ONLY, ((None, 1),), free=2), ((None, 1), (None, 1000))),
        (opts.Timestamp(opts.TS_ADDRESSES, free=1), ((A, 1000),)),
        (opts.Timestamp(opts.TS_PRESPECIFIED, pending=(A, B)), ((A, 1000),)),
        (opts.Timestamp(opts.TS_PRESPECIFIED, pending=(B, A)), ()),  # not our turn
    ],
)
@pytest.mark.requirement("RFC1122:3.2.2.6-echo-options", "RFC1122:3.2.1.8-timestamp")
def test_timestamp_option_is_stamped_in_the_reply(
    request_ts: opts.Timestamp, expected_stamps: tuple[tuple[str | None, int], ...]
) -> None:
    net = SimNet(2)
    net.a.arp.resolve(B, b"", 0x0800)
    net.advance(1.0)  # the request arrives at t = 1 s: 1000 ms after "midnight"
    reply = reply_to(net, echo_with(request_ts))
    assert reply is not None
    (ts,) = opts.parse_options(reply.options)
    assert isinstance(ts, opts.Timestamp) and ts.stamps == expected_stamps


def test_a_full_timestamp_counts_an_overflow(net: SimNet) -> None:
    reply = reply_to(net, echo_with(opts.Timestamp(opts.TS_ADDRESSES, ((B, 7),), overflow=2)))
    assert reply is not None
    (ts,) = opts.parse_options(reply.options)
    assert isinstance(ts, opts.Timestamp) and (ts.stamps, ts.overflow) == (((B, 7),), 3)


def test_other_options_are_not_reflected(net: SimNet) -> None:
    router_alert = opts.UnknownOption(148, b"\0\0")
    reply = reply_to(net, echo_with(opts.Nop(), router_alert))
    assert reply is not None and reply.options == b""


@pytest.mark.requirement("RFC1122:3.2.2.6-echo-source-route")
def test_a_completed_source_route_is_reversed() -> None:
    net = SimNet(3)
    gateway = "198.18.0.3"
    request = echo_with(opts.SourceRoute(strict=False, visited=(gateway,)))
    reply = reply_to(net, request)
    assert reply is not None and reply.dst == gateway  # the first hop back
    back = opts.SourceRoute(strict=False, visited=(), remaining=(B,))
    assert opts.parse_options(reply.options) == (back,)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (echo_with(raw=bytes((7, 6, 4, 0, 0, 0, 0, 0))), "bad_ip_options"),  # half a slot
        (echo_with(raw=bytes((7, 40, 4, 0))), "bad_ip_options"),  # longer than the header
        (echo_with(opts.SourceRoute(True, (), ("198.18.0.9",))), "unfinished_source_route"),
    ],
)
def test_echo_requests_with_bad_options_are_dropped(
    net: SimNet, request_: Ipv4Packet, reason: str
) -> None:
    assert reply_to(net, request_) is None
    assert net.a.stats.dropped("ICMP", reason) == 1
