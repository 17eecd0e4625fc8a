"""IPv4: input validation with counted reasons (RFC 1122 §3.2.1), TTL/TOS, fragmentation,
reassembly timeout answered with time exceeded code 1 only when fragment 0 arrived."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.udp_application import UDPApplication
from pystack.sim import SimNet, WireTap
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet

A, B = "198.18.0.1", "198.18.0.2"


def udp_to_a(payload: bytes, port: int = 7, **ip: Any) -> Ipv4Packet:
    data = udp_wire.emit(
        udp_wire.UdpDatagram(1000, port, payload), ip.get("src", B), ip.get("dst", A)
    )
    return Ipv4Packet(ip.pop("src", B), ip.pop("dst", A), 17, data, **ip)


@pytest.fixture
def net() -> SimNet:
    sim = SimNet(2)
    sim.a.arp.resolve(B, b"", 0x0800)  # learn B so A's answers go out at once
    sim.advance(0.01)
    return sim


def test_valid_datagram_is_delivered(net: SimNet) -> None:
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(7)
    WireTap(net).inject(udp_to_a(b"ok"))
    assert app.recvfrom() == (b"ok", (B, 1000))


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d[:10], "truncated"),
        (lambda d: b"\x65" + d[1:], "bad_version"),
        (lambda d: b"\x44" + d[1:], "bad_header_length"),
        (lambda d: d[:2] + b"\x00\x10" + d[4:], "bad_total_length"),
        (lambda d: d[:10] + bytes([d[10] ^ 1]) + d[11:], "bad_checksum"),
    ],
)
@pytest.mark.requirement(
    "RFC1122:3.2.1.1-version", "RFC1122:3.2.1.2-checksum", "RFC1122:3.1-count-discards"
)
def test_malformed_headers_are_dropped_by_reason(net: SimNet, mangle: Any, reason: str) -> None:
    WireTap(net).inject(mangle(ipv4.emit(udp_to_a(b"x"))))
    assert net.a.stats.dropped("IP", reason) == 1


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"dst": "198.18.0.77"}, "not_our_address"),
        ({"dst": "224.0.0.1"}, "not_our_address"),
        ({"src": "224.0.0.5"}, "bad_source"),
        ({"src": "198.18.0.255"}, "bad_source"),
        ({"src": "127.0.0.1"}, "bad_source"),
    ],
)
@pytest.mark.requirement(
    "RFC1122:3.2.1.3-not-for-us",
    "RFC1122:3.2.1.3-bad-source",
    "RFC1122:3.2.1.3-subnet",
    "RFC1122:4.1.3.6-bad-source",
)
def test_wrong_addresses_are_dropped_silently(net: SimNet, fields: Any, reason: str) -> None:
    tap = WireTap(net)
    tap.inject(udp_to_a(b"x", port=9, **fields))
    net.advance(0.1)
    assert net.a.stats.dropped("IP", reason) == 1
    assert tap.ip() == []  # silently: no ICMP error


@pytest.mark.requirement("RFC1122:3.2.2.1-protocol-unreach", "RFC1122:3.3.8-errors-up")
def test_unknown_protocol_gets_protocol_unreachable(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(Ipv4Packet(B, A, 99, b"whatever"))
    net.advance(0.01)
    (err,) = tap.ip()
    msg = icmp_wire.parse(err.payload)
    assert (msg.type, msg.code, msg.quoted.proto) == (3, 2, 99)
    assert net.a.stats.dropped("IP", "unknown_protocol") == 1


@pytest.mark.requirement(
    "RFC9293:MUST-49",
    "RFC9293:MUST-48",
    "RFC1122:3.2.1.6-tos-set",
    "RFC1122:3.2.1.7-ttl-config",
    "RFC1122:3.2.1.7-ttl-set",
)
def test_ttl_tos_and_df_are_settable() -> None:
    net = SimNet(2, ttl=9, tos=0x10)
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.sendto(b"a", (B, 7))
    app.send_packet(b"b", IP={"dst": B, "ttl": 3, "tos": 4, "df": True}, UDP={"dport": 7})
    net.advance(0.1)
    sent = [p for p in tap.ip() if p.src == A]
    assert [(p.ttl, p.tos, p.flags) for p in sent] == [(9, 0x10, 0), (3, 4, 2)]


@pytest.mark.requirement("RFC1122:3.3.3-fragment", "RFC1122:3.2.1.5-id", "RFC791:3.1-header")
def test_fragmentation_offsets_and_df(net: SimNet) -> None:
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.sendto(bytes(3000), (B, 7))
    net.advance(0.1)
    frags = [p for p in tap.ip() if p.src == A]
    assert [(p.frag_offset, len(p.payload), p.more_fragments) for p in frags] == [
        (0, 1480, True), (1480, 1480, True), (2960, 48, False)]  # fmt: skip
    assert len({p.ident for p in frags}) == 1
    app.send_packet(bytes(3000), IP={"dst": B, "df": True}, UDP={"dport": 7})
    assert net.a.stats.dropped("IP", "too_big_df") == 1


def _fragments(payload: bytes, ident: int) -> list[Ipv4Packet]:
    data = udp_wire.emit(udp_wire.UdpDatagram(1000, 7, payload), B, A)
    return [Ipv4Packet(B, A, 17, data[o : o + 16], ident=ident, flags=int(o + 16 < len(data)),
                       frag_offset=o) for o in range(0, len(data), 16)]  # fmt: skip


@pytest.mark.requirement("RFC1122:3.3.2-reassembly-timeout", "RFC1122:3.3.2-time-exceeded")
def test_reassembly_timeout_sends_time_exceeded_only_with_fragment_zero(net: SimNet) -> None:
    tap = WireTap(net)
    with_first = _fragments(bytes(40), ident=1)
    without_first = _fragments(bytes(40), ident=2)
    tap.inject(with_first[0])
    tap.inject(without_first[1])
    net.advance(29.5)
    assert tap.ip() == []
    net.advance(1)
    (err,) = tap.ip()
    msg = icmp_wire.parse(err.payload)
    assert (msg.type, msg.code, msg.quoted.ident) == (11, 1, 1)
    assert net.a.stats.dropped("IP", "reassembly_timeout") == 2


def test_reassembly_timeout_and_policy_are_stack_options() -> None:
    net = SimNet(2, reassembly_timeout=5, overlap_policy="rfc5722")
    tap = WireTap(net)
    frags = _fragments(bytes(40), ident=3)
    tap.inject(frags[0])
    tap.inject(Ipv4Packet(B, A, 17, bytes(24), ident=3, flags=1, frag_offset=8))
    assert net.a.stats.dropped("IP", "reassembly_overlap") == 1
    tap.inject(frags[1])
    assert net.a.stats.dropped("IP", "fragment_after_done") == 1


# The arrival sequence of tests/layers/test_reassembly.py (8-byte units), carried in a UDP
# datagram to a bound port: C holds unit 0, so the UDP header (checksum 0) is C's first unit.
POLICY_CASE = [("A", 1, 3), ("B", 1, 4), ("C", 0, 2), ("D", 5, 7), ("E", 4, 8), ("F", 2, 3),
               ("H", 5, 6), ("G", 8, 9)]  # fmt: skip
POLICY_RESULT = {"first": "AABEDDEG", "last": "CFBEHEEG", "bsd": "CABEEEEG",
                 "linux-legacy": "CFBEEEEG", "windows": "AABEEEEG", "rfc5722": None,
                 "linux": None}  # fmt: skip


@pytest.mark.parametrize("policy", sorted(POLICY_RESULT))
def test_overlap_policy_decides_what_the_application_receives(policy: str) -> None:
    net = SimNet(2, overlap_policy=policy)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(7)
    header = udp_wire.emit(udp_wire.UdpDatagram(1000, 7, bytes(64)), B, A)[:6] + b"\0\0"
    tap = WireTap(net)
    for letter, start, end in POLICY_CASE:
        data = letter.encode() * 8 * (end - start)
        if start == 0:
            data = header + data[8:]
        last = letter == "G"
        tap_pkt = Ipv4Packet(B, A, 17, data, ident=77, flags=0 if last else 1,
                             frag_offset=start * 8)  # fmt: skip
        tap.inject(tap_pkt)
    expected = POLICY_RESULT[policy]
    got = app.fetch_data()
    assert got == (b"".join(c.encode() * 8 for c in expected) if expected else b"")


def test_by_default_an_overlap_discards_the_datagram_as_linux_does() -> None:
    net = SimNet(2)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(7)
    tap = WireTap(net)
    frags = _fragments(bytes(range(40)), ident=9)  # 48 bytes with the UDP header: 3 x 16
    tap.inject(frags[0])
    tap.inject(Ipv4Packet(B, A, 17, b"\xee" * 16, ident=9, flags=1, frag_offset=8))
    assert net.a.stats.dropped("IP", "reassembly_overlap") == 1
    tap.inject(frags[1])
    tap.inject(frags[2])
    assert app.fetch_data() == b""  # fragment 0 went with the discarded datagram
    for f in frags:  # the whole datagram again, same identification: a new datagram
        tap.inject(f)
    assert app.fetch_data() == bytes(range(40))
    assert net.a.stats.dropped("IP", "reassembly_overlap") == 1


def test_a_fragment_inside_held_data_is_dropped_alone_and_counted() -> None:
    net = SimNet(2)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(7)
    tap = WireTap(net)
    frags = _fragments(bytes(range(40)), ident=10)
    tap.inject(frags[0])
    tap.inject(frags[1])
    tap.inject(Ipv4Packet(B, A, 17, b"\xee" * 16, ident=10, flags=1, frag_offset=8))
    tap.inject(frags[2])
    assert app.fetch_data() == bytes(range(40))
    assert net.a.stats.dropped("IP", "reassembly_duplicate") == 1
    assert net.a.stats.dropped("IP", "reassembly_overlap") == 0
