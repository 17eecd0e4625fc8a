"""ICMP messages (RFC 792): echo, destination unreachable, time exceeded, and the rest raw.

Every message is ``type``, ``code``, the 4-byte ``rest`` of the header as an int (id/seq
for echo, unused/next-hop MTU for destination unreachable) and the ``payload`` (echo data,
or the quoted datagram of an error: see :attr:`IcmpMessage.quoted`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pystack.wire import Malformed
from pystack.wire._fast import fast_init
from pystack.wire.checksum import internet_checksum
from pystack.wire.ipv4 import Ipv4Packet, parse_quoted

__all__ = [
    "CODE_FRAG_NEEDED",
    "CODE_HOST_UNREACHABLE",
    "CODE_NET_UNREACHABLE",
    "CODE_PORT_UNREACHABLE",
    "CODE_PROTOCOL_UNREACHABLE",
    "CODE_REASSEMBLY_TIME_EXCEEDED",
    "CODE_TTL_EXCEEDED",
    "ERROR_TYPES",
    "TYPE_DEST_UNREACHABLE",
    "TYPE_ECHO_REPLY",
    "TYPE_ECHO_REQUEST",
    "TYPE_TIME_EXCEEDED",
    "IcmpMessage",
    "dest_unreachable",
    "echo_reply",
    "echo_request",
    "emit",
    "parse",
    "quote",
    "time_exceeded",
]

TYPE_ECHO_REPLY = 0
TYPE_DEST_UNREACHABLE = 3
TYPE_ECHO_REQUEST = 8
TYPE_TIME_EXCEEDED = 11
CODE_NET_UNREACHABLE = 0
CODE_HOST_UNREACHABLE = 1
CODE_PROTOCOL_UNREACHABLE = 2
CODE_PORT_UNREACHABLE = 3
CODE_FRAG_NEEDED = 4
CODE_TTL_EXCEEDED = 0
CODE_REASSEMBLY_TIME_EXCEEDED = 1
# Error messages (RFC 1122 §3.2.2): never sent in reply to one of these.
ERROR_TYPES = frozenset({3, 4, 5, 11, 12})
HEADER_LEN = 8

_HDR = struct.Struct("!BBHI")


@fast_init
@dataclass(frozen=True, slots=True)
class IcmpMessage:
    """An ICMP message; ``rest`` is the second header word (bytes 4..7) as an int."""

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
        """Next-hop MTU of a "fragmentation needed" message (RFC 1191 §4)."""
        return self.rest & 0xFFFF

    @property
    def is_error(self) -> bool:
        """True for error messages (unreachable, time exceeded, ...): RFC 1122 §3.2.2."""
        return self.type in ERROR_TYPES

    @property
    def quoted(self) -> Ipv4Packet:
        """The datagram quoted by an error message; raises :class:`Malformed` if unreadable."""
        return parse_quoted(self.payload)


def parse(data: bytes) -> IcmpMessage:
    """Parse an ICMP message (the whole IP payload) and verify its checksum.

    Raises :class:`Malformed`: "truncated", "bad_checksum".
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    if len(data) < HEADER_LEN:
        raise Malformed("truncated", f"{len(data)} bytes, need {HEADER_LEN}")
    if internet_checksum(data) != 0:
        raise Malformed("bad_checksum")
    type_, code, _, rest = _HDR.unpack_from(data)
    return IcmpMessage(type_, code, rest, data[HEADER_LEN:])


def emit(msg: IcmpMessage) -> bytes:
    """Serialize with the checksum computed over the whole message."""
    try:
        header = _HDR.pack(msg.type, msg.code, 0, msg.rest)
    except struct.error as exc:
        raise ValueError(f"bad IcmpMessage field: {exc}") from None
    csum = internet_checksum(header + msg.payload)
    return header[:2] + csum.to_bytes(2, "big") + header[4:] + msg.payload


def echo_request(ident: int, seq: int, data: bytes = b"") -> IcmpMessage:
    """An echo request (type 8)."""
    return IcmpMessage(TYPE_ECHO_REQUEST, 0, (ident << 16) | seq, data)


def echo_reply(request: IcmpMessage) -> IcmpMessage:
    """The reply to an echo request: same identifier, sequence number and data (RFC 792)."""
    return IcmpMessage(TYPE_ECHO_REPLY, 0, request.rest, request.payload)


def quote(datagram: bytes, data_bytes: int = 8) -> bytes:
    """What an error quotes: the IP header plus the first ``data_bytes`` of its data.

    RFC 792 asks for 8 data bytes (64 bits); RFC 1812 §4.3.2.3 allows more, up to 576
    bytes in all. Unreadable headers are quoted whole up to 28 bytes.
    """
    hlen = (datagram[0] & 0x0F) * 4 if datagram else 0
    return datagram[: max(hlen, 20) + data_bytes]


def dest_unreachable(code: int, quoted: bytes, mtu: int = 0) -> IcmpMessage:
    """A destination unreachable (type 3); ``mtu`` only for code 4 (RFC 1191 §4)."""
    return IcmpMessage(TYPE_DEST_UNREACHABLE, code, mtu & 0xFFFF, quoted)


def time_exceeded(code: int, quoted: bytes) -> IcmpMessage:
    """A time exceeded (type 11): code 0 TTL, code 1 reassembly (RFC 792)."""
    return IcmpMessage(TYPE_TIME_EXCEEDED, code, 0, quoted)
