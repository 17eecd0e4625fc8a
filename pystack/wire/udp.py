"""UDP datagrams (RFC 768)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pystack.wire import Malformed
from pystack.wire._addr import pseudo_sum
from pystack.wire._fast import fast_init
from pystack.wire.checksum import checksum_from_sum, raw_sum

__all__ = ["HEADER_LEN", "PROTO", "UdpDatagram", "checksum_ok", "emit", "parse"]

PROTO = 17
HEADER_LEN = 8

_HDR = struct.Struct("!HHHH")
_from_bytes = int.from_bytes


@fast_init
@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """A UDP datagram; the checksum lives on the wire only (see :func:`checksum_ok`)."""

    src_port: int
    dst_port: int
    payload: bytes


def parse(data: bytes) -> UdpDatagram:
    """Parse the UDP datagram in an IP payload; bytes past the UDP length are cut.

    Raises :class:`Malformed`: "truncated" (shorter than the header or the length field
    says), "bad_length" (length field below 8).
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    if len(data) < HEADER_LEN:
        raise Malformed("truncated", f"{len(data)} bytes, need {HEADER_LEN}")
    src_port, dst_port, length, _ = _HDR.unpack_from(data)
    if length < HEADER_LEN:
        raise Malformed("bad_length", f"UDP length {length}")
    if length > len(data):
        raise Malformed("truncated", f"UDP length {length} > {len(data)} bytes")
    return UdpDatagram(src_port, dst_port, data[HEADER_LEN:length])


def checksum_ok(data: bytes, src_ip: str, dst_ip: str) -> bool:
    """True when the checksum is right or absent (0 means none: RFC 768, RFC 1122 §4.1.3.4)."""
    if len(data) < HEADER_LEN:
        return False
    length = _from_bytes(data[4:6], "big")
    if length < HEADER_LEN or length > len(data):
        return False
    if data[6] == 0 and data[7] == 0:
        return True
    total = pseudo_sum(src_ip, dst_ip) + PROTO + length + raw_sum(data[:length])
    return total % 0xFFFF == 0 and total != 0


def emit(dgram: UdpDatagram, src_ip: str, dst_ip: str) -> bytes:
    """Serialize with the checksum over the pseudo-header; a computed 0 is sent as 0xFFFF."""
    payload = dgram.payload
    length = HEADER_LEN + len(payload)
    if length > 0xFFFF:
        raise ValueError(f"UDP datagram of {length} bytes exceeds 65535")
    try:
        header = _HDR.pack(dgram.src_port, dgram.dst_port, length, 0)
    except struct.error as exc:
        raise ValueError(f"bad UdpDatagram field: {exc}") from None
    total = pseudo_sum(src_ip, dst_ip) + PROTO + length
    csum = checksum_from_sum(total + _from_bytes(header, "big") + raw_sum(payload))
    # RFC 768: an all-zero computed checksum is transmitted as all ones.
    return header[:6] + (csum or 0xFFFF).to_bytes(2, "big") + payload
