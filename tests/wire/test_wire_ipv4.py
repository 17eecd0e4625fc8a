"""IPv4 codec: validation, padding cut by total length, header checksum."""

from __future__ import annotations

import pytest

from pystack.wire import Malformed, ipv4

PKT = ipv4.Ipv4Packet(
    "198.18.0.1", "198.18.0.2", ipv4.PROTO_UDP, b"hello", ttl=17, tos=0x10, ident=0x1234
)


@pytest.mark.requirement("RFC791:3.1-header")
def test_round_trip_and_checksum() -> None:
    raw = ipv4.emit(PKT)
    assert len(raw) == 25
    assert ipv4.header_checksum_ok(raw)
    assert ipv4.parse(raw) == PKT


def test_link_padding_is_cut_by_total_length() -> None:
    assert ipv4.parse(ipv4.emit(PKT) + bytes(21)).payload == b"hello"


def test_fragment_fields() -> None:
    frag = ipv4.Ipv4Packet("198.18.0.1", "198.18.0.2", 17, b"x" * 8, flags=1, frag_offset=1480)
    parsed = ipv4.parse(ipv4.emit(frag))
    assert parsed.frag_offset == 1480 and parsed.more_fragments and parsed.is_fragment


def test_options_are_kept_raw() -> None:
    pkt = ipv4.Ipv4Packet("198.18.0.1", "198.18.0.2", 6, b"", options=b"\x94\x04\x00\x00")
    raw = ipv4.emit(pkt)
    assert raw[0] == 0x46
    assert ipv4.parse(raw).options == b"\x94\x04\x00\x00"


def test_corrupted_header_fails_checksum() -> None:
    raw = bytearray(ipv4.emit(PKT))
    raw[8] ^= 1
    assert not ipv4.header_checksum_ok(bytes(raw))
    assert not ipv4.header_checksum_ok(b"\x45")


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[:19], "truncated"),
        (lambda b: b"\x65" + b[1:], "bad_version"),
        (lambda b: b"\x44" + b[1:], "bad_header_length"),
        (lambda b: b[:2] + b"\x00\x13" + b[4:], "bad_total_length"),
        (lambda b: b[:2] + b"\x00\x40" + b[4:], "truncated"),
    ],
)
def test_malformed_reasons(mutate, reason: str) -> None:
    with pytest.raises(Malformed) as exc:
        ipv4.parse(mutate(ipv4.emit(PKT)))
    assert exc.value.reason == reason


def test_quoted_datagram_may_be_cut_short() -> None:
    raw = ipv4.emit(ipv4.Ipv4Packet("198.18.0.1", "198.18.0.2", 6, bytes(100)))
    quoted = ipv4.parse_quoted(raw[:28])
    assert quoted.payload == bytes(8) and quoted.proto == 6


@pytest.mark.parametrize(
    "bad",
    [
        {"options": b"\x01"},
        {"frag_offset": 3},
        {"payload": bytes(70000)},
        {"ttl": 256},
        {"src": "198.18.0"},
    ],
)
def test_emit_misuse_raises_value_error(bad: dict) -> None:
    fields = {"src": "198.18.0.1", "dst": "198.18.0.2", "proto": 6, "payload": b""} | bad
    with pytest.raises(ValueError):
        ipv4.emit(ipv4.Ipv4Packet(**fields))
