"""ARP for IPv4 over Ethernet (RFC 826); other hardware or protocol types are rejected."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pystack.wire import Malformed
from pystack.wire._addr import ip_to_bytes, ip_to_str, mac_to_bytes
from pystack.wire._fast import fast_init

__all__ = ["OP_REPLY", "OP_REQUEST", "PACKET_LEN", "ArpPacket", "emit", "parse"]

OP_REQUEST = 1
OP_REPLY = 2
PACKET_LEN = 28

_HTYPE_ETHERNET = 1
_PTYPE_IPV4 = 0x0800
_BODY = struct.Struct("!HHBBH6s4s6s4s")
_ETHERNET_IPV4 = (_HTYPE_ETHERNET, _PTYPE_IPV4, 6, 4)


@fast_init
@dataclass(frozen=True, slots=True)
class ArpPacket:
    """An Ethernet/IPv4 ARP packet; MACs and IPs as strings."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


_build = ArpPacket._build  # type: ignore[attr-defined]


def parse(data: bytes) -> ArpPacket:
    """Parse an ARP packet; bytes after the 28 of the packet (link padding) are ignored.

    Raises :class:`Malformed`: "truncated", or "unsupported" for anything but
    Ethernet (1) / IPv4 (0x0800) with address lengths 6 and 4.
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    if len(data) < PACKET_LEN:
        raise Malformed("truncated", f"{len(data)} bytes, need {PACKET_LEN}")
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _BODY.unpack_from(data)
    if (htype, ptype, hlen, plen) != _ETHERNET_IPV4:
        raise Malformed("unsupported", f"htype={htype} ptype={ptype:#x} hlen={hlen} plen={plen}")
    return _build(op, sha.hex(":"), ip_to_str(spa), tha.hex(":"), ip_to_str(tpa))


def emit(pkt: ArpPacket) -> bytes:
    """Serialize to the 28-byte packet."""
    try:
        return _BODY.pack(
            _HTYPE_ETHERNET,
            _PTYPE_IPV4,
            6,
            4,
            pkt.op,
            mac_to_bytes(pkt.sender_mac),
            ip_to_bytes(pkt.sender_ip),
            mac_to_bytes(pkt.target_mac),
            ip_to_bytes(pkt.target_ip),
        )
    except struct.error as exc:
        raise ValueError(f"bad ArpPacket field: {exc}") from None
