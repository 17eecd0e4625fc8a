"""TCP codec: header fields, options, checksum, illegal option lengths (RFC 9293 MUST-7)."""

from __future__ import annotations

import pytest

from pystack.wire import Malformed, tcp
from pystack.wire.tcp import (
    NOP,
    Mss,
    Sack,
    SackPermitted,
    TcpSegment,
    Timestamp,
    UnknownOption,
    WindowScale,
)

SRC, DST = "198.18.0.1", "198.18.0.2"
SYN_OPTIONS = (Mss(1460), SackPermitted(), Timestamp(100, 0), NOP, WindowScale(7))


@pytest.mark.requirement("RFC9293:MUST-4", "RFC9293:MUST-68")
def test_syn_with_options_round_trips() -> None:
    syn = TcpSegment(40000, 80, 1, 0, tcp.SYN, 64240, options=SYN_OPTIONS)
    raw = tcp.emit(syn, SRC, DST)
    assert len(raw) == 40
    assert tcp.checksum_ok(raw, SRC, DST)
    parsed = tcp.parse(raw)
    assert parsed == syn
    assert (parsed.mss, parsed.wscale, parsed.sack_permitted) == (1460, 7, True)
    assert parsed.timestamp == (100, 0)
    assert parsed.flags_str == "S" and parsed.seg_len == 1


def test_data_segment_with_sack_blocks() -> None:
    seg = TcpSegment(
        80, 40000, 2**32 - 1, 5, tcp.ACK | tcp.PSH, 512, b"data",
        (NOP, NOP, Sack(((10, 20), (30, 40)))),
    )  # fmt: skip
    parsed = tcp.parse(tcp.emit(seg, SRC, DST))
    assert parsed.sack_blocks == ((10, 20), (30, 40))
    assert parsed.payload == b"data" and parsed.flags_str == "P."
    assert parsed.mss is None and parsed.timestamp is None


@pytest.mark.requirement("RFC9293:MUST-2")
def test_checksum_detects_corruption_and_wrong_addresses() -> None:
    raw = tcp.emit(TcpSegment(1, 2, 3, 4, tcp.ACK, 5, b"abc"), SRC, DST)
    assert not tcp.checksum_ok(raw, SRC, "198.18.0.9")
    assert not tcp.checksum_ok(raw[:-1] + b"d", SRC, DST)


@pytest.mark.requirement("RFC9293:MUST-4", "RFC9293:MUST-69")
def test_options_are_padded_and_eol_ends_the_list() -> None:
    seg = TcpSegment(1, 2, 3, 4, tcp.SYN, 5, options=(WindowScale(2),))
    raw = tcp.emit(seg, SRC, DST)
    assert raw[12] >> 4 == 6 and raw[20:24] == b"\x03\x03\x02\x00"
    with_garbage_after_eol = raw[:23] + b"\x00"
    assert tcp.parse(with_garbage_after_eol).options == (WindowScale(2),)


@pytest.mark.requirement("RFC9293:MUST-6")
def test_unknown_and_wrong_length_known_options_are_kept_raw() -> None:
    options = (UnknownOption(30, b"\x01\x02"), UnknownOption(2, b"\x05"))
    seg = TcpSegment(1, 2, 3, 4, tcp.ACK, 5, options=options)
    raw = tcp.emit(seg, SRC, DST)
    assert tcp.parse(raw).options == options


def _with_options(raw_options: bytes) -> bytes:
    header = tcp.emit(TcpSegment(1, 2, 3, 4, tcp.ACK, 5), SRC, DST)
    offset = (20 + len(raw_options)) // 4
    return header[:12] + bytes([offset << 4]) + header[13:] + raw_options + b"data"


@pytest.mark.parametrize(
    "raw_options",
    [
        b"\x02\x04\x05\xb4" + b"\x1e\x00\x00\x00",  # length 0
        b"\x02\x04\x05\xb4" + b"\x1e\x01\x00\x00",  # length 1
        b"\x02\x04\x05\xb4" + b"\x1e\x09\x00\x00",  # runs past the header
        b"\x02\x04\x05\xb4" + b"\x01\x01\x01\x1e",  # no room for the length byte
    ],
)
@pytest.mark.requirement("RFC9293:MUST-7")
def test_illegal_option_length_stops_option_parsing_like_linux(raw_options: bytes) -> None:
    # RFC 9293 MUST-7: no crash; the options before the bad one are kept, the segment too.
    seg = tcp.parse(_with_options(raw_options))
    assert seg.options[0] == Mss(1460)
    assert all(isinstance(o, (Mss, type(NOP))) for o in seg.options)
    assert seg.payload == b"data"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (bytes(19), "truncated"),
        (bytes(12) + b"\x40" + bytes(7), "bad_header_length"),
        (bytes(12) + b"\x60" + bytes(7), "bad_header_length"),
    ],
)
def test_malformed_header(raw: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as exc:
        tcp.parse(raw)
    assert exc.value.reason == reason


def test_reserved_bits_and_ae_survive_a_round_trip() -> None:
    seg = TcpSegment(1, 2, 3, 4, tcp.ACK | tcp.AE | 0xE00, 5)
    assert tcp.parse(tcp.emit(seg, SRC, DST)).flags == seg.flags


@pytest.mark.parametrize(
    "bad",
    [
        {"flags": 0x1000},
        {"seq": 2**32},
        {"window": -1},
        {"options": (Mss(70000),)},
        {"options": (Sack(()),)},
        {"options": (UnknownOption(1, b""),)},
        {"options": (Timestamp(1, 2),) * 5},
    ],
)
def test_emit_misuse_raises_value_error(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "src_port": 1, "dst_port": 2, "seq": 3, "ack": 4, "flags": tcp.ACK, "window": 5
    } | bad  # fmt: skip
    with pytest.raises(ValueError):
        tcp.emit(TcpSegment(**fields), SRC, DST)  # type: ignore[arg-type]


def test_fast_paths_match_the_general_ones() -> None:
    seg = TcpSegment(1, 2, 3, 4, tcp.ACK, 5, b"x", (NOP, NOP, Timestamp(7, 8)))
    raw = tcp.emit(seg, SRC, DST)
    assert raw[20:32] == NOP.to_bytes() * 2 + Timestamp(7, 8).to_bytes()
    assert tcp.parse(raw) == seg
