"""Ethernet II frames (IEEE 802.3 with an EtherType; no VLAN tag parsing, no FCS)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pystack.wire import Malformed
from pystack.wire._addr import mac_to_bytes
from pystack.wire._fast import fast_init, twin_of

__all__ = [
    "BROADCAST",
    "ETHERTYPE_ARP",
    "ETHERTYPE_IPV4",
    "ETHERTYPE_IPV6",
    "HEADER_LEN",
    "EthernetFrame",
    "emit",
    "parse",
]

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
BROADCAST = "ff:ff:ff:ff:ff:ff"
HEADER_LEN = 14

_HDR = struct.Struct("!6s6sH")
_unpack_from = _HDR.unpack_from
_pack = _HDR.pack


@fast_init
@dataclass(frozen=True, slots=True)
class EthernetFrame:
    """An Ethernet II frame; ``dst``/``src`` are lower-case colon MAC strings."""

    dst: str
    src: str
    ethertype: int
    payload: bytes


_Twin: Any = twin_of(EthernetFrame)
_new = object.__new__
_headers: dict[bytes, tuple[str, str, int]] = {}


def parse(data: bytes) -> EthernetFrame:
    """Parse a frame (without FCS). Raises :class:`Malformed` ("truncated")."""
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    if len(data) < HEADER_LEN:
        raise Malformed("truncated", f"{len(data)} bytes, need {HEADER_LEN}")
    header = data[:HEADER_LEN]
    fields = _headers.get(header)
    if fields is None:
        # A link sees few distinct headers: remember them (bounded, cleared when full).
        if len(_headers) >= 1024:
            _headers.clear()
        dst, src, ethertype = _unpack_from(header)
        fields = _headers[header] = (dst.hex(":"), src.hex(":"), ethertype)
    frame = _new(_Twin)  # see pystack.wire._fast: frozen once __class__ is set
    frame.dst, frame.src, frame.ethertype = fields
    frame.payload = data[HEADER_LEN:]
    frame.__class__ = EthernetFrame
    return frame


def emit(frame: EthernetFrame) -> bytes:
    """Serialize a frame; no padding to the 60-byte minimum (the link adds it if needed)."""
    try:
        header = _pack(mac_to_bytes(frame.dst), mac_to_bytes(frame.src), frame.ethertype)
    except struct.error as exc:
        raise ValueError(f"bad EthernetFrame field: {exc}") from None
    return header + frame.payload
