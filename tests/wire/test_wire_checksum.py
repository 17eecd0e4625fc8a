"""The internet checksum: RFC 1071 vectors, odd lengths, the 0/0xFFFF distinction."""

from __future__ import annotations

import pytest

from pystack.wire.checksum import internet_checksum, ones_sum16, pseudo_header


def test_rfc1071_example() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_odd_length_is_padded_with_a_zero_byte() -> None:
    assert internet_checksum(b"\x12\x34\x56") == internet_checksum(b"\x12\x34\x56\x00")


def test_verifying_a_buffer_with_its_checksum_gives_zero() -> None:
    data = bytearray(b"\x45\x00\x00\x1c\x00\x00\x00\x00\x40\x11\x00\x00\xc6\x12\x00\x01")
    csum = internet_checksum(data)
    data[10:12] = csum.to_bytes(2, "big")
    assert internet_checksum(data) == 0


def test_all_zero_data_has_checksum_ffff() -> None:
    assert internet_checksum(b"\x00\x00\x00\x00") == 0xFFFF


def test_negative_zero_sum_keeps_its_value() -> None:
    # ffff alone sums to "negative zero": the folded sum is ffff, the checksum 0.
    assert ones_sum16(0xFFFF) == 0xFFFF
    assert internet_checksum(b"\xff\xff") == 0
    assert internet_checksum(b"\x80\x00\x7f\xff") == 0


def test_pseudo_header_accepts_strings_or_packed_addresses() -> None:
    assert pseudo_header("198.18.0.1", "198.18.0.2", 6, 20) == pseudo_header(
        b"\xc6\x12\x00\x01", b"\xc6\x12\x00\x02", 6, 20
    )


def test_initial_partial_sum_adds() -> None:
    assert internet_checksum(b"\x00\x01\x00\x02", initial=0) == internet_checksum(
        b"\x00\x02", initial=1
    )


def _reference(data: bytes) -> int:
    padded = data + b"\x00" * (len(data) & 1)
    total = sum(int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@pytest.mark.parametrize("size", [0, 1, 2, 3, 510, 511, 512, 513, 514, 515, 1499, 1500, 9001])
def test_long_and_odd_buffers_match_a_word_by_word_sum(size: int) -> None:
    data = bytes((i * 37 + 11) & 0xFF for i in range(size))
    assert internet_checksum(data) == _reference(data)
    assert internet_checksum(b"\xff" * size) == _reference(b"\xff" * size)
