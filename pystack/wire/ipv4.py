"""IPv4 datagrams (RFC 791); options are kept as raw bytes."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pystack.wire import Malformed
from pystack.wire._addr import ip_to_bytes, ip_to_str
from pystack.wire._fast import fast_init
from pystack.wire.checksum import internet_checksum

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
_unpack_from = _HDR.unpack_from
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


def _header(data: bytes, lenient: bool) -> tuple[tuple[Any, ...], int, int]:
    if len(data) < HEADER_LEN:
        raise Malformed("truncated", f"{len(data)} bytes, need {HEADER_LEN}")
    fields = _unpack_from(data)
    ver_ihl = fields[0]
    if ver_ihl >> 4 != 4:
        raise Malformed("bad_version", f"version {ver_ihl >> 4}")
    hlen = (ver_ihl & 0x0F) << 2
    if hlen < HEADER_LEN:
        raise Malformed("bad_header_length", f"IHL {hlen >> 2}")
    total = fields[2]
    if total < hlen:
        raise Malformed("bad_total_length", f"total length {total} < header {hlen}")
    if len(data) < (hlen if lenient else total):
        raise Malformed("truncated", f"{len(data)} bytes, total length {total}")
    return fields, hlen, total


def _build(data: bytes, fields: tuple[Any, ...], hlen: int, total: int) -> Ipv4Packet:
    _, tos, _, ident, frag, ttl, proto, _, src, dst = fields
    return Ipv4Packet(
        ip_to_str(src),
        ip_to_str(dst),
        proto,
        data[hlen:total],
        ttl,
        tos,
        ident,
        frag >> 13,
        (frag & 0x1FFF) << 3,
        data[HEADER_LEN:hlen] if hlen > HEADER_LEN else b"",
    )


def parse(data: bytes) -> Ipv4Packet:
    """Parse a datagram, validating version, IHL and total length (RFC 1122 §3.2.1.1-2).

    Bytes past the total length (Ethernet minimum-frame padding) are cut. The header
    checksum is not checked here: see :func:`header_checksum_ok`. Raises :class:`Malformed`
    ("truncated", "bad_version", "bad_header_length", "bad_total_length").
    """
    return _build(data, *_header(data, False))


def parse_quoted(data: bytes) -> Ipv4Packet:
    """Parse the datagram quoted in an ICMP error: the payload may be cut short.

    RFC 792 quotes the header and the first 8 data bytes (RFC 1812 §4.3.2.3 allows more),
    so the total length is not required to fit; the payload is whatever was quoted.
    """
    return _build(data, *_header(data, True))


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
    try:
        header = _pack(
            0x40 | (hlen >> 2),
            pkt.tos,
            total,
            pkt.ident,
            (pkt.flags << 13) | (pkt.frag_offset >> 3),
            pkt.ttl,
            pkt.proto,
            0,
            ip_to_bytes(pkt.src),
            ip_to_bytes(pkt.dst),
        )
    except struct.error as exc:
        raise ValueError(f"bad Ipv4Packet field: {exc}") from None
    if options:
        header += options
    csum = internet_checksum(header)
    return header[:10] + csum.to_bytes(2, "big") + header[12:] + pkt.payload
