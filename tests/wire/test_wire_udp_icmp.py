"""UDP and ICMP codecs."""

from __future__ import annotations

import pytest

from pystack.wire import Malformed, icmp, ipv4, udp

SRC, DST = "198.18.0.1", "198.18.0.2"


@pytest.mark.requirement("RFC1122:4.1.3.4-checksum-send", "RFC1122:4.1.3.4-checksum-able")
def test_udp_round_trip_and_checksum() -> None:
    dgram = udp.UdpDatagram(5353, 53, b"query")
    raw = udp.emit(dgram, SRC, DST)
    assert udp.parse(raw) == dgram
    assert udp.checksum_ok(raw, SRC, DST)
    assert not udp.checksum_ok(raw, SRC, "198.18.0.3")


@pytest.mark.requirement("RFC768:checksum")
def test_udp_zero_checksum_means_none() -> None:
    raw = udp.emit(udp.UdpDatagram(1, 2, b"x"), SRC, DST)
    assert udp.checksum_ok(raw[:6] + b"\x00\x00" + raw[8:], SRC, DST)


@pytest.mark.requirement("RFC768:checksum")
def test_udp_computed_zero_is_sent_as_ffff() -> None:
    # Choose the payload so the checksum computes to 0: RFC 768 sends it as 0xFFFF.
    base = udp.emit(udp.UdpDatagram(1, 2, b"\x00\x00"), SRC, DST)
    # A payload word equal to the old checksum brings the sum to 0xFFFF, whose complement is 0.
    raw = udp.emit(udp.UdpDatagram(1, 2, base[6:8]), SRC, DST)
    assert raw[6:8] == b"\xff\xff"
    assert udp.checksum_ok(raw, SRC, DST)


def test_udp_trailing_bytes_beyond_length_are_cut() -> None:
    raw = udp.emit(udp.UdpDatagram(1, 2, b"abc"), SRC, DST)
    assert udp.parse(raw + b"junk").payload == b"abc"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x01\x00\x02\x00", "truncated"),
        (b"\x00\x01\x00\x02\x00\x07\x00\x00", "bad_length"),
        (b"\x00\x01\x00\x02\x00\x10\x00\x00", "truncated"),
    ],
)
def test_udp_malformed(raw: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as exc:
        udp.parse(raw)
    assert exc.value.reason == reason


@pytest.mark.requirement("RFC792:echo")
def test_icmp_echo_round_trip() -> None:
    request = icmp.echo_request(0x1234, 7, b"ping")
    parsed = icmp.parse(icmp.emit(request))
    assert parsed == request
    assert (parsed.ident, parsed.seq) == (0x1234, 7)
    reply = icmp.echo_reply(parsed)
    assert reply.type == icmp.TYPE_ECHO_REPLY and reply.rest == request.rest
    assert not reply.is_error


def test_icmp_bad_checksum_is_malformed() -> None:
    raw = bytearray(icmp.emit(icmp.echo_request(1, 1, b"data")))
    raw[-1] ^= 0xFF
    with pytest.raises(Malformed) as exc:
        icmp.parse(bytes(raw))
    assert exc.value.reason == "bad_checksum"


@pytest.mark.requirement("RFC1122:3.2.2-quote")
def test_icmp_errors_quote_the_datagram() -> None:
    original = ipv4.emit(ipv4.Ipv4Packet(SRC, DST, ipv4.PROTO_UDP, bytes(range(40))))
    unreachable = icmp.dest_unreachable(icmp.CODE_PORT_UNREACHABLE, icmp.quote(original))
    parsed = icmp.parse(icmp.emit(unreachable))
    assert parsed.is_error
    quoted = parsed.quoted
    assert (quoted.src, quoted.dst, quoted.proto) == (SRC, DST, ipv4.PROTO_UDP)
    assert quoted.payload == bytes(range(8))


def test_icmp_frag_needed_carries_mtu_and_time_exceeded_code() -> None:
    msg = icmp.dest_unreachable(icmp.CODE_FRAG_NEEDED, b"", mtu=1400)
    assert icmp.parse(icmp.emit(msg)).mtu == 1400
    exceeded = icmp.time_exceeded(icmp.CODE_REASSEMBLY_TIME_EXCEEDED, b"")
    assert icmp.parse(icmp.emit(exceeded)).code == 1


def test_icmp_short_is_truncated() -> None:
    with pytest.raises(Malformed) as exc:
        icmp.parse(b"\x08\x00\xf7\xff")
    assert exc.value.reason == "truncated"
