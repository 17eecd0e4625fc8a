"""The ``virtio_net_hdr`` that TAP devices (``IFF_VNET_HDR``) and packet sockets
(``PACKET_VNET_HDR``) put before each frame: what the kernel did (received super-segments,
partial checksums) or is asked to do (cut a super-segment, complete a checksum).

:func:`read_vnet_hdr` validates a received header and returns the frame behind it with
what the header says of its checksum, or the :class:`VnetDrop` reason it is dropped;
:func:`strip_vnet_hdr` also completes a partial checksum. Neither raises.
:func:`gso_header` is the header of a TCP super-segment (IPv4 or IPv6) for the kernel to
cut (TCP segmentation offload); :data:`PLAIN_HDR` asks for nothing.
"""

from __future__ import annotations

import enum
import struct

from pystack.links import netdev
from pystack.links.base import CHECKSUM_CHECK, CHECKSUM_PARTIAL, CHECKSUM_VALID

__all__ = [
    "PLAIN_HDR",
    "TSO_MAX",
    "VIRTIO_NET_HDR_F_DATA_VALID",
    "VIRTIO_NET_HDR_F_NEEDS_CSUM",
    "VIRTIO_NET_HDR_GSO_NONE",
    "VIRTIO_NET_HDR_GSO_TCPV4",
    "VIRTIO_NET_HDR_GSO_TCPV6",
    "VNET_HDR_LEN",
    "VnetDrop",
    "gso_header",
    "read_vnet_hdr",
    "strip_vnet_hdr",
]

# linux/virtio_net.h
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_F_DATA_VALID = 2
VIRTIO_NET_HDR_GSO_NONE = 0
VIRTIO_NET_HDR_GSO_TCPV4 = 1
VIRTIO_NET_HDR_GSO_TCPV6 = 4
_KNOWN_FLAGS = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID
_ETH = 14
_IP6_HDR = 40  # the IPv6 fixed header (RFC 8200 §3)
_CSUM_FIELD = {6: 16, 17: 6}  # checksum offset in the TCP / UDP header
_VNET_HDR = struct.Struct("=BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start/off
VNET_HDR_LEN = _VNET_HDR.size
PLAIN_HDR = bytes(VNET_HDR_LEN)
# The IPv4 total length field bounds a super-segment: the kernel cuts one datagram. (An
# IPv6 one is bounded by its payload length field, 65535 bytes behind the fixed header:
# the IPv6 layer keeps its super-segments below both, and sends no jumbograms.)
TSO_MAX = 65535


class VnetDrop(enum.Enum):
    """Why the link dropped a received frame: its ``virtio_net_hdr`` asks for something
    the link cannot honour (counted in the link's ``rx_drops``)."""

    SHORT_HEADER = "short_header"  # fewer bytes than the header itself
    UNKNOWN_FLAGS = "unknown_flags"
    UNKNOWN_GSO = "unknown_gso"  # a segmentation type we never enabled (UDP, ECN)
    BAD_GSO = "bad_gso"  # TCPv4 (TCPv6) segmentation on a frame not an IPv4 (IPv6) TCP one
    BAD_CSUM = "bad_csum"  # csum_start/csum_offset do not point at the L4 checksum


def _ipv4_l4(frame: bytes) -> tuple[int, int] | None:
    """``(offset of the IPv4 payload, protocol)`` of an IPv4 frame, else None."""
    if len(frame) < _ETH + 20 or frame[12:14] != b"\x08\x00" or frame[_ETH] >> 4 != 4:
        return None
    ihl = (frame[_ETH] & 0x0F) * 4
    return (_ETH + ihl, frame[_ETH + 9]) if ihl >= 20 else None


def _ipv6_l4(frame: bytes) -> tuple[int, int] | None:
    """``(offset of the IPv6 payload, next header)`` of an IPv6 frame, else None."""
    if len(frame) < _ETH + _IP6_HDR or frame[12:14] != b"\x86\xdd" or frame[_ETH] >> 4 != 6:
        return None
    return _ETH + _IP6_HDR, frame[_ETH + 6]


def _gso_ok(frame: bytes, gso_type: int) -> bool:
    """Whether ``frame`` is what a TCPv4 or TCPv6 segmentation type says: a TCP segment
    right behind the IP header (on IPv6, behind the fixed header: the kernel's own TCPv6
    super-segments carry no extension headers, and we cut none)."""
    l4 = _ipv4_l4(frame) if gso_type == VIRTIO_NET_HDR_GSO_TCPV4 else _ipv6_l4(frame)
    return l4 is not None and l4[1] == 6 and len(frame) >= l4[0] + 20


def _checksum_request_ok(frame: bytes, start: int, offset: int) -> bool:
    """A partial checksum must name a field inside the frame; on IPv4, exactly the TCP or
    UDP checksum, since :func:`netdev.complete_checksum` fills that one and no other."""
    if start < _ETH or start + offset + 2 > len(frame):
        return False
    l4 = _ipv4_l4(frame)
    return l4 is None or (start == l4[0] and offset == _CSUM_FIELD.get(l4[1]))


def read_vnet_hdr(data: bytes) -> tuple[bytes, int] | VnetDrop:
    """The Ethernet frame behind a received ``virtio_net_hdr`` as it came (a partial
    checksum stays partial) and what the header says of its checksum (``CHECKSUM_PARTIAL``
    for ``NEEDS_CSUM``, ``CHECKSUM_VALID`` for ``DATA_VALID``, else ``CHECKSUM_CHECK``; see
    `pystack.links.base`), or why it is dropped. Never raises."""
    if len(data) < _VNET_HDR.size:
        return VnetDrop.SHORT_HEADER
    flags, gso_type, _, gso_size, csum_start, csum_offset = _VNET_HDR.unpack_from(data)
    frame = data[_VNET_HDR.size :]
    if flags & ~_KNOWN_FLAGS:
        return VnetDrop.UNKNOWN_FLAGS
    needs_csum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM
    if gso_type in (VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6):
        # The virtio spec has a device set NEEDS_CSUM on every segmentation request:
        # a super-segment's TCP checksum is only ever partial.
        if not _gso_ok(frame, gso_type) or gso_size == 0 or not needs_csum:
            return VnetDrop.BAD_GSO
    elif gso_type != VIRTIO_NET_HDR_GSO_NONE:
        return VnetDrop.UNKNOWN_GSO
    if needs_csum and not _checksum_request_ok(frame, csum_start, csum_offset):
        return VnetDrop.BAD_CSUM
    if needs_csum:
        return frame, CHECKSUM_PARTIAL
    return frame, CHECKSUM_VALID if flags & VIRTIO_NET_HDR_F_DATA_VALID else CHECKSUM_CHECK


def strip_vnet_hdr(data: bytes) -> bytes | VnetDrop:
    """The Ethernet frame behind a received ``virtio_net_hdr`` (its partial checksum
    completed), or why it is dropped. Never raises, whatever the bytes."""
    got = read_vnet_hdr(data)
    if isinstance(got, VnetDrop):
        return got
    frame, checksum = got
    return netdev.complete_checksum(frame) if checksum == CHECKSUM_PARTIAL else frame


def gso_header(frame: bytes, gso_size: int) -> bytes:
    """The ``virtio_net_hdr`` asking the kernel to cut ``frame`` (an IPv4 or IPv6 TCP
    super-segment whose checksum field holds the pseudo-header sum, RFC 9293 §3.1 or
    RFC 8200 §8.1) into segments of ``gso_size`` payload bytes, completing each one's
    checksum: NEEDS_CSUM from the TCP header on, GSO TCPv4 or TCPv6, and ``hdr_len``
    covering the Ethernet, IP and TCP headers. An IPv6 one has its TCP header right
    behind the fixed header."""
    if frame[12:14] == b"\x86\xdd":
        gso_type, csum_start = VIRTIO_NET_HDR_GSO_TCPV6, _ETH + _IP6_HDR
    else:
        gso_type, csum_start = VIRTIO_NET_HDR_GSO_TCPV4, _ETH + (frame[_ETH] & 0x0F) * 4
    hdr_len = csum_start + (frame[csum_start + 12] >> 4) * 4
    return _VNET_HDR.pack(
        VIRTIO_NET_HDR_F_NEEDS_CSUM, gso_type, hdr_len, gso_size, csum_start, _CSUM_FIELD[6]
    )
