"""Ethernet II and ARP codecs."""

from __future__ import annotations

import dataclasses

import pytest

from pystack.wire import Malformed, arp, ethernet

FRAME = bytes.fromhex("ffffffffffff0200000000010806") + b"payload"


def test_parse_ethernet_frame() -> None:
    frame = ethernet.parse(FRAME)
    assert frame == ethernet.EthernetFrame(
        ethernet.BROADCAST, "02:00:00:00:00:01", ethernet.ETHERTYPE_ARP, b"payload"
    )
    assert ethernet.emit(frame) == FRAME


def test_short_frame_is_truncated() -> None:
    with pytest.raises(Malformed) as exc:
        ethernet.parse(FRAME[:13])
    assert exc.value.reason == "truncated"


def test_reprs_are_frozen() -> None:
    frame = ethernet.parse(FRAME)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.ethertype = 1  # type: ignore[misc]


def test_emit_rejects_bad_mac_clearly() -> None:
    with pytest.raises(ValueError, match="MAC"):
        ethernet.emit(ethernet.EthernetFrame("nope", "02:00:00:00:00:01", 0x800, b""))


def test_mac_strings_accept_upper_case_on_emit() -> None:
    f = ethernet.EthernetFrame("FF:FF:FF:FF:FF:FF", "02:00:00:00:00:01", 0x806, b"payload")
    assert ethernet.emit(f) == FRAME


ARP_REQUEST = arp.ArpPacket(
    arp.OP_REQUEST, "02:00:00:00:00:01", "198.18.0.1", "00:00:00:00:00:00", "198.18.0.2"
)


@pytest.mark.requirement("RFC826:packet")
def test_arp_round_trip_ignores_link_padding() -> None:
    raw = arp.emit(ARP_REQUEST)
    assert len(raw) == arp.PACKET_LEN
    assert arp.parse(raw + b"\x00" * 18) == ARP_REQUEST


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x00\x01\x08\x00\x06\x04\x00\x01", "truncated"),
        (b"\x00\x06" + bytes(26), "unsupported"),
    ],
)
def test_arp_malformed(raw: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as exc:
        arp.parse(raw)
    assert exc.value.reason == reason


def test_parsers_accept_bytearray_and_memoryview() -> None:
    assert ethernet.parse(bytearray(FRAME)) == ethernet.parse(FRAME)  # type: ignore[arg-type]
    frame = ethernet.parse(memoryview(FRAME))  # type: ignore[arg-type]
    assert type(frame.payload) is bytes
