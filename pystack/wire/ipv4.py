"""IPv4 datagrams (RFC 791); options are kept as raw bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pystack.wire import Malformed
from pystack.wire._addr import _addresses, _ip_sums, ip_pair_to_str, ip_sum, ip_to_bytes
from pystack.wire._fast import fast_init, twin_of
from pystack.wire.checksum import checksum_from_sum, internet_checksum

__all__ = [
    "FLAG_DF",
    "FLAG_MF",
    "HEADER_LEN",
    "PROTO_ICMP",
    "PROTO_TCP",
    "PROTO_UDP",
    "Ipv4Packet",
    "emit",
    "header_checksum_ok",
    "parse",
    "parse_quoted",
]

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
FLAG_DF = 2
FLAG_MF = 1
HEADER_LEN = 20
MAX_LEN = 0xFFFF

_HDR = struct.Struct("!BBHHHBBH4s4s")
_unpack_from = struct.Struct("!BBHHHBBH").unpack_from
_pack = _HDR.pack
_from_bytes = int.from_bytes


@fast_init
@dataclass(frozen=True, slots=True)
class Ipv4Packet:
    """An IPv4 datagram.

    ``frag_offset`` is in bytes (a multiple of 8); ``flags`` holds the three flag bits
    (DF=2, MF=1, 4 is the reserved bit); ``options`` are raw bytes, a multiple of 4 long.
    """

    src: str
    dst: str
    proto: int
    payload: bytes
    ttl: int = 64
    tos: int = 0
    ident: int = 0
    flags: int = 0
    frag_offset: int = 0
    options: bytes = b""

    @property
    def more_fragments(self) -> bool:
        """The MF bit."""
        return bool(self.flags & FLAG_MF)

    @property
    def is_fragment(self) -> bool:
        """True for any fragment of a larger datagram (MF set or a nonzero offset)."""
        return bool(self.flags & FLAG_MF) or self.frag_offset != 0


_Twin: Any = twin_of(Ipv4Packet)
_new = object.__new__


def parse(data: bytes) -> Ipv4Packet:
    """Parse a datagram, validating version, IHL and total length (RFC 1122 §3.2.1.1-2).

    Bytes past the total length (Ethernet minimum-frame padding) are cut. The header
    checksum is not checked here: see :func:`header_checksum_ok`. Raises :class:`Malformed`
    ("truncated", "bad_version", "bad_header_length", "bad_total_length").
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    size = len(data)
    if size < HEADER_LEN:
        raise Malformed("truncated", f"{size} bytes, need {HEADER_LEN}")
    ver_ihl, tos, total, ident, frag, ttl, proto, _ = _unpack_from(data)
    if ver_ihl == 0x45:
        hlen = HEADER_LEN
        options = b""
    else:
        if ver_ihl >> 4 != 4:
            raise Malformed("bad_version", f"version {ver_ihl >> 4}")
        hlen = (ver_ihl & 0x0F) << 2
        if hlen < HEADER_LEN:
            raise Malformed("bad_header_length", f"IHL {hlen >> 2}")
        options = data[HEADER_LEN:hlen]
    if total < hlen:
        raise Malformed("bad_total_length", f"total length {total} < header {hlen}")
    if size < total:
        raise Malformed("truncated", f"{size} bytes, total length {total}")
    pkt = _new(_Twin)  # see pystack.wire._fast: frozen once __class__ is set
    pkt.src, pkt.dst = _addresses.get(data[12:20]) or ip_pair_to_str(data[12:20])
    pkt.proto = proto
    pkt.payload = data[hlen:total]
    pkt.ttl = ttl
    pkt.tos = tos
    pkt.ident = ident
    pkt.flags = frag >> 13
    pkt.frag_offset = (frag & 0x1FFF) << 3
    pkt.options = options
    pkt.__class__ = Ipv4Packet
    return pkt


def parse_quoted(data: bytes) -> Ipv4Packet:
    """Parse the datagram quoted in an ICMP error: the payload may be cut short.

    RFC 792 quotes the header and the first 8 data bytes (RFC 1812 §4.3.2.3 allows more),
    so the total length is not required to fit; the payload is whatever was quoted.
    """
    if len(data) >= 4 and int.from_bytes(data[2:4], "big") > len(data):
        hlen = (data[0] & 0x0F) << 2
        if len(data) < hlen:
            raise Malformed("truncated", f"{len(data)} bytes, header {hlen}")
        data = data[:2] + len(data).to_bytes(2, "big") + data[4:]
    return parse(data)


def header_checksum_ok(data: bytes) -> bool:
    """True when the header checksum of the datagram in ``data`` is right (RFC 1122 §3.2.1.2)."""
    if len(data) < HEADER_LEN:
        return False
    hlen = (data[0] & 0x0F) << 2
    if hlen < HEADER_LEN or len(data) < hlen:
        return False
    return internet_checksum(data[:hlen]) == 0


def emit(pkt: Ipv4Packet) -> bytes:
    """Serialize with total length and header checksum computed (RFC 791 §3.1)."""
    options = pkt.options
    olen = len(options)
    if olen & 3 or olen > 40:
        raise ValueError(f"IPv4 options must be a multiple of 4 bytes, at most 40: {olen}")
    if pkt.frag_offset & 7 or not 0 <= pkt.frag_offset <= 0xFFF8:
        raise ValueError(f"frag_offset must be a multiple of 8 in 0..65528: {pkt.frag_offset}")
    hlen = HEADER_LEN + olen
    total = hlen + len(pkt.payload)
    if total > MAX_LEN:
        raise ValueError(f"datagram of {total} bytes exceeds 65535: fragment it")
    ver_ihl = 0x40 | (hlen >> 2)
    frag = (pkt.flags << 13) | (pkt.frag_offset >> 3)
    tos, ident, ttl, proto, src, dst = pkt.tos, pkt.ident, pkt.ttl, pkt.proto, pkt.src, pkt.dst
    # The header's words summed from the field values (an address is congruent to the sum
    # of its halves mod 0xFFFF); struct.pack below rejects out-of-range values.
    words = (
        (ver_ihl << 8)
        + tos
        + total
        + ident
        + frag
        + (ttl << 8)
        + proto
        + (_ip_sums.get(src) or ip_sum(src))
        + (_ip_sums.get(dst) or ip_sum(dst))
    )
    if options:
        words += _from_bytes(options, "big")
    try:
        header = _pack(
            ver_ihl,
            tos,
            total,
            ident,
            frag,
            ttl,
            proto,
            checksum_from_sum(words),
            ip_to_bytes(src),
            ip_to_bytes(dst),
        )
    except struct.error as exc:
        raise ValueError(f"bad Ipv4Packet field: {exc}") from None
    return header + options + pkt.payload
