"""A model of what Linux does with a TCP super-segment a device is asked to cut (TSO).

:func:`cut_super_segment` follows the kernel's TCPv4 and TCPv6 segmentation
(inet_gso_segment / ipv6_gso_segment and tcp_gso_segment) closely enough for tests to
compare frame for frame: the payload is split into ``gso_size`` pieces, each behind a copy
of the Ethernet, IP and TCP headers, with

- SEQ advanced by the bytes before it, ACK, window and options copied;
- PSH and FIN on the last segment only, CWR on the first only;
- on IPv4, the total length and identification (the first segment's, plus one per
  segment) set, the header checksum recomputed; on IPv6 (TCP right behind the fixed
  header), the payload length set, everything else copied;
- the TCP checksum completed (the super-segment holds only the pseudo-header sum: RFC
  9293 §3.1's, or RFC 8200 §8.1's on IPv6).

It is written from the packet formats, not with the stack's codecs, so that a test using it
checks the stack rather than the stack against itself. :class:`SegmentingPort` wraps any
link as a device with TCP segmentation offload: it takes super-segments and sends what the
model cuts from them.
"""

from __future__ import annotations

import struct

from pystack.links.base import Link, LinkWrapper

__all__ = ["SegmentingPort", "cut_super_segment"]

_ETH = 14
_PSH, _FIN, _CWR = 0x08, 0x01, 0x80


def _checksum(data: bytes) -> int:
    """The RFC 1071 internet checksum, word by word."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def cut_super_segment(frame: bytes, gso_size: int) -> list[bytes]:
    """The frames the kernel would put on the wire for the IPv4 or IPv6 TCP super-segment
    ``frame`` (an Ethernet frame whose TCP checksum field holds the pseudo-header sum)."""
    if frame[12:14] == b"\x86\xdd":
        return _cut_ipv6(frame, gso_size)
    ihl = (frame[_ETH] & 0x0F) * 4
    ip = frame[_ETH : _ETH + ihl]
    tcp_at = _ETH + ihl
    thl = (frame[tcp_at + 12] >> 4) * 4
    ident0 = struct.unpack_from("!H", ip, 4)[0]
    out = []
    pieces = _tcp_pieces(frame[tcp_at : tcp_at + thl], frame[tcp_at + thl :], gso_size)
    for i, segment in enumerate(pieces):
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(segment))
        segment = segment[:16] + struct.pack("!H", _checksum(pseudo + segment)) + segment[18:]
        header = ip[:2] + struct.pack("!HH", ihl + len(segment), (ident0 + i) & 0xFFFF)
        header += ip[6:10] + b"\0\0" + ip[12:]
        header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
        out.append(frame[:_ETH] + header + segment)
    return out


def _tcp_pieces(tcp: bytes, payload: bytes, gso_size: int) -> list[bytes]:
    """The TCP segments (checksum field zero) cut from a super-segment's header and text."""
    seq0 = struct.unpack_from("!I", tcp, 4)[0]
    pieces = [payload[at : at + gso_size] for at in range(0, len(payload), gso_size)]
    out = []
    for i, piece in enumerate(pieces):
        flags = tcp[13]
        if i < len(pieces) - 1:
            flags &= ~(_PSH | _FIN)
        if i > 0:
            flags &= ~_CWR
        seq = (seq0 + i * gso_size) & 0xFFFFFFFF
        head = tcp[:4] + struct.pack("!I", seq) + tcp[8:13] + bytes([flags]) + tcp[14:16]
        out.append(head + b"\0\0" + tcp[18:] + piece)
    return out


def _cut_ipv6(frame: bytes, gso_size: int) -> list[bytes]:
    """:func:`cut_super_segment` for IPv6: the TCP header right behind the fixed header."""
    tcp_at = _ETH + 40
    ip = frame[_ETH:tcp_at]
    thl = (frame[tcp_at + 12] >> 4) * 4
    out = []
    for segment in _tcp_pieces(frame[tcp_at : tcp_at + thl], frame[tcp_at + thl :], gso_size):
        pseudo = ip[8:40] + struct.pack("!IxxxB", len(segment), 6)
        segment = segment[:16] + struct.pack("!H", _checksum(pseudo + segment)) + segment[18:]
        header = ip[:4] + struct.pack("!H", len(segment)) + ip[6:]
        out.append(frame[:_ETH] + header + segment)
    return out


class SegmentingPort(LinkWrapper):
    """``inner`` as a device with TCP segmentation offload: it declares ``tso_max`` and
    sends the frames :func:`cut_super_segment` cuts from each super-segment; ``super_frames``
    lists ``(frame, gso_size)`` as the stack handed them over."""

    def __init__(self, inner: Link, tso_max: int = 65535) -> None:
        super().__init__(inner)
        self._tso_max = tso_max
        self.super_frames: list[tuple[bytes, int]] = []

    @property
    def tso_max(self) -> int:
        """The largest datagram it cuts (the constructor's ``tso_max``)."""
        return self._tso_max

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Cut ``frame`` as the kernel would and send the pieces in order."""
        self.super_frames.append((frame, gso_size))
        for piece in cut_super_segment(frame, gso_size):
            self.inner.send(piece)
