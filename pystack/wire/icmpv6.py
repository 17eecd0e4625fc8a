"""ICMPv6 messages (RFC 4443): echo, the four error messages, and the rest raw.

As in :mod:`pystack.wire.icmp`, a message is ``type``, ``code``, the second header word
``rest`` as an int (id/seq for echo, the MTU of Packet Too Big, the pointer of Parameter
Problem) and the ``payload``. Unlike ICMPv4 the checksum covers the IPv6 pseudo-header
(RFC 4443 §2.3, RFC 8200 §8.1), so :func:`parse` and :func:`emit` take the addresses.
Neighbor Discovery messages (types 133-137) are read further by :mod:`pystack.wire.ndp`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pystack.wire import Malformed
from pystack.wire._fast import fast_init
from pystack.wire.checksum import checksum_from_sum, raw_sum
from pystack.wire.ipv6 import MIN_MTU, NH_ICMPV6, Ipv6Packet, parse_quoted, pseudo_sum6

__all__ = [
    "CODE_ADDRESS_UNREACHABLE",
    "CODE_ADMIN_PROHIBITED",
    "CODE_BEYOND_SCOPE",
    "CODE_FRAGMENT_TIME_EXCEEDED",
    "CODE_HOP_LIMIT_EXCEEDED",
    "CODE_NO_ROUTE",
    "CODE_PORT_UNREACHABLE",
    "HEADER_LEN",
    "TYPE_DEST_UNREACHABLE",
    "TYPE_ECHO_REPLY",
    "TYPE_ECHO_REQUEST",
    "TYPE_PACKET_TOO_BIG",
    "TYPE_PARAMETER_PROBLEM",
    "TYPE_TIME_EXCEEDED",
    "Icmpv6Message",
    "checksum_ok",
    "dest_unreachable",
    "echo_reply",
    "echo_request",
    "emit",
    "packet_too_big",
    "parameter_problem",
    "parse",
    "quote",
    "time_exceeded",
]

TYPE_DEST_UNREACHABLE = 1
TYPE_PACKET_TOO_BIG = 2
TYPE_TIME_EXCEEDED = 3
TYPE_PARAMETER_PROBLEM = 4
TYPE_ECHO_REQUEST = 128
TYPE_ECHO_REPLY = 129
# Destination Unreachable codes (RFC 4443 §3.1).
CODE_NO_ROUTE = 0
CODE_ADMIN_PROHIBITED = 1
CODE_BEYOND_SCOPE = 2
CODE_ADDRESS_UNREACHABLE = 3
CODE_PORT_UNREACHABLE = 4
# Time Exceeded codes (RFC 4443 §3.3).
CODE_HOP_LIMIT_EXCEEDED = 0
CODE_FRAGMENT_TIME_EXCEEDED = 1
HEADER_LEN = 8
# RFC 4443 §2.4(c): an error carries as much of the invoking packet as fits in the
# minimum MTU, with the IPv6 and ICMPv6 headers of the error itself.
MAX_QUOTE = MIN_MTU - 40 - HEADER_LEN

_HDR = struct.Struct("!BBHI")


@fast_init
@dataclass(frozen=True, slots=True)
class Icmpv6Message:
    """An ICMPv6 message; ``rest`` is the second header word (bytes 4..7) as an int."""

    type: int
    code: int
    rest: int = 0
    payload: bytes = b""

    @property
    def ident(self) -> int:
        """Echo identifier (upper half of ``rest``)."""
        return self.rest >> 16

    @property
    def seq(self) -> int:
        """Echo sequence number (lower half of ``rest``)."""
        return self.rest & 0xFFFF

    @property
    def mtu(self) -> int:
        """The next-hop MTU of a Packet Too Big message (RFC 4443 §3.2): all 32 bits."""
        return self.rest

    @property
    def pointer(self) -> int:
        """The offset of the error a Parameter Problem message points at (RFC 4443 §3.4)."""
        return self.rest

    @property
    def is_error(self) -> bool:
        """True for error messages: types 0-127 (RFC 4443 §2.1)."""
        return self.type < 128

    @property
    def quoted(self) -> Ipv6Packet:
        """The datagram quoted by an error message; raises :class:`Malformed` if unreadable."""
        return parse_quoted(self.payload)


def checksum_ok(data: bytes, src: str, dst: str) -> bool:
    """True when the message's checksum is right over the pseudo-header (RFC 4443 §2.3)."""
    total = pseudo_sum6(src, dst, NH_ICMPV6, len(data)) + raw_sum(data)
    return total % 0xFFFF == 0


def parse(data: bytes, src: str, dst: str) -> Icmpv6Message:
    """Parse an ICMPv6 message (the upper-layer payload) and verify its checksum.

    ``src``/``dst`` are the IPv6 addresses it came with. Raises :class:`Malformed`:
    "truncated", "bad_checksum" (RFC 4443 §2.3).
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    if len(data) < HEADER_LEN:
        raise Malformed("truncated", f"{len(data)} bytes, need {HEADER_LEN}")
    if not checksum_ok(data, src, dst):
        raise Malformed("bad_checksum")
    type_, code, _, rest = _HDR.unpack_from(data)
    return Icmpv6Message(type_, code, rest, data[HEADER_LEN:])


def emit(msg: Icmpv6Message, src: str, dst: str) -> bytes:
    """Serialize with the checksum computed over the pseudo-header and the message."""
    try:
        header = _HDR.pack(msg.type, msg.code, 0, msg.rest)
    except struct.error as exc:
        raise ValueError(f"bad Icmpv6Message field: {exc}") from None
    length = HEADER_LEN + len(msg.payload)
    if length > 0xFFFF:
        raise ValueError(f"ICMPv6 message of {length} bytes exceeds 65535")
    total = pseudo_sum6(src, dst, NH_ICMPV6, length) + raw_sum(header) + raw_sum(msg.payload)
    csum = checksum_from_sum(total).to_bytes(2, "big")
    return header[:2] + csum + header[4:] + msg.payload


def echo_request(ident: int, seq: int, data: bytes = b"") -> Icmpv6Message:
    """An Echo Request (type 128, RFC 4443 §4.1)."""
    return Icmpv6Message(TYPE_ECHO_REQUEST, 0, (ident << 16) | seq, data)


def echo_reply(request: Icmpv6Message) -> Icmpv6Message:
    """The reply to an echo request: same identifier, sequence number and data (§4.2)."""
    return Icmpv6Message(TYPE_ECHO_REPLY, 0, request.rest, request.payload)


def quote(datagram: bytes) -> bytes:
    """What an error quotes: as much of the datagram as keeps the error within 1280 bytes."""
    return datagram[:MAX_QUOTE]


def dest_unreachable(code: int, quoted: bytes) -> Icmpv6Message:
    """A Destination Unreachable (type 1, RFC 4443 §3.1); the second word is unused."""
    return Icmpv6Message(TYPE_DEST_UNREACHABLE, code, 0, quoted)


def packet_too_big(mtu: int, quoted: bytes) -> Icmpv6Message:
    """A Packet Too Big (type 2, RFC 4443 §3.2) carrying the next-hop link's MTU."""
    return Icmpv6Message(TYPE_PACKET_TOO_BIG, 0, mtu, quoted)


def time_exceeded(code: int, quoted: bytes) -> Icmpv6Message:
    """A Time Exceeded (type 3, RFC 4443 §3.3): code 0 hop limit, code 1 reassembly."""
    return Icmpv6Message(TYPE_TIME_EXCEEDED, code, 0, quoted)


def parameter_problem(code: int, pointer: int, quoted: bytes) -> Icmpv6Message:
    """A Parameter Problem (type 4, RFC 4443 §3.4) pointing at byte ``pointer``.

    :class:`pystack.wire.ipv6.HeaderError` carries the ``code`` and ``pointer`` to use.
    """
    return Icmpv6Message(TYPE_PARAMETER_PROBLEM, code, pointer, quoted)
