"""A link that owns a TAP device (/dev/net/tun, ``IFF_TAP | IFF_NO_PI``).

The stack is the far end of the TAP's wire: the kernel side of the device (its address,
its MAC) belongs to the host, so the stack has its own MAC and ``mac`` is ``None`` here.

``create=True`` creates the device when it does not exist (a non-persistent device, which
the kernel removes when the link closes its descriptor) and brings it up; ``create=False``
attaches to an existing device (e.g. ``ip tuntap add mode tap``) and leaves it in place.

``vnet_hdr=True`` opens the device with ``IFF_VNET_HDR``: every frame then carries a
``virtio_net_hdr`` that the link validates and strips on receive (completing partial
checksums) and adds on send. ``offload_flags=`` is handed to ``TUNSETOFFLOAD``; with
:data:`OFFLOADS` (checksum + TCPv4 segmentation) the kernel may send TCP super-segments of
up to 64 KB, which the stack takes whole (``super_frames`` counts frames longer than the
MTU), and the link declares ``tso_max`` (the largest IPv4 datagram it has the kernel cut):
the stack's TCP then hands :meth:`TapLink.send_gso` super-segments of whole MSS-sized
segments, which the kernel cuts (``gso_frames`` counts them). A plain frame goes out with
a zeroed header (no offload asked). A device that refuses ``TUNSETOFFLOAD`` is reopened
without the header (plain frames both ways; one warning logged). A header the link cannot
honour drops the frame, counted in ``rx_drops`` by :class:`VnetDrop` (DESIGN.md,
attachment mode 3).
"""

from __future__ import annotations

import enum
import errno
import fcntl
import logging
import os
import struct
from typing import Any

from pystack.errors import PrivilegeError
from pystack.links import netdev
from pystack.links.base import DescriptorLink

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_TUN_EXCL = 0x8000
# linux/if_tun.h: what TUNSETOFFLOAD lets the kernel hand us.
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_UFO = 0x10
OFFLOADS = TUN_F_CSUM | TUN_F_TSO4  # IPv4 only: the stack has no IPv6 TCP, no ECN
RX_OFFLOADS = OFFLOADS  # the name receive offloads had first
# The IPv4 total length field bounds a super-segment: the kernel cuts one datagram.
TSO_MAX = 65535
# linux/virtio_net.h
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_F_DATA_VALID = 2
VIRTIO_NET_HDR_GSO_NONE = 0
VIRTIO_NET_HDR_GSO_TCPV4 = 1
_KNOWN_FLAGS = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID
_ETH = 14
_CSUM_FIELD = {6: 16, 17: 6}  # checksum offset in the TCP / UDP header
_VNET_HDR = struct.Struct("=BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start/off
_MAX_FRAME = 65536 + 14 + _VNET_HDR.size
_PLAIN_HDR = bytes(_VNET_HDR.size)
_LOG = logging.getLogger(__name__)


class OffloadRefused(OSError):
    """The device took ``IFF_VNET_HDR`` but refused ``TUNSETOFFLOAD``."""


class VnetDrop(enum.Enum):
    """Why the link dropped a received frame: its ``virtio_net_hdr`` asks for something
    the link cannot honour (counted in :attr:`TapLink.rx_drops`)."""

    SHORT_HEADER = "short_header"  # fewer bytes than the header itself
    UNKNOWN_FLAGS = "unknown_flags"
    UNKNOWN_GSO = "unknown_gso"  # a segmentation type we never enabled (UDP, TCPv6, ECN)
    BAD_GSO = "bad_gso"  # TCPv4 segmentation on a frame that is not an IPv4 TCP segment
    BAD_CSUM = "bad_csum"  # csum_start/csum_offset do not point at the L4 checksum


def _ipv4_l4(frame: bytes) -> tuple[int, int] | None:
    """``(offset of the IPv4 payload, protocol)`` of an IPv4 frame, else None."""
    if len(frame) < _ETH + 20 or frame[12:14] != b"\x08\x00" or frame[_ETH] >> 4 != 4:
        return None
    ihl = (frame[_ETH] & 0x0F) * 4
    return (_ETH + ihl, frame[_ETH + 9]) if ihl >= 20 else None


def _checksum_request_ok(frame: bytes, start: int, offset: int) -> bool:
    """A partial checksum must name a field inside the frame; on IPv4, exactly the TCP or
    UDP checksum, since :func:`netdev.complete_checksum` fills that one and no other."""
    if start < _ETH or start + offset + 2 > len(frame):
        return False
    l4 = _ipv4_l4(frame)
    return l4 is None or (start == l4[0] and offset == _CSUM_FIELD.get(l4[1]))


def strip_vnet_hdr(data: bytes) -> bytes | VnetDrop:
    """The Ethernet frame behind a received ``virtio_net_hdr`` (its partial checksum
    completed), or why it is dropped. Never raises, whatever the bytes."""
    if len(data) < _VNET_HDR.size:
        return VnetDrop.SHORT_HEADER
    flags, gso_type, _, gso_size, csum_start, csum_offset = _VNET_HDR.unpack_from(data)
    frame = data[_VNET_HDR.size :]
    if flags & ~_KNOWN_FLAGS:
        return VnetDrop.UNKNOWN_FLAGS
    needs_csum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM
    if gso_type == VIRTIO_NET_HDR_GSO_TCPV4:
        # The virtio spec has a device set NEEDS_CSUM on every segmentation request:
        # a super-segment's TCP checksum is only ever partial.
        l4 = _ipv4_l4(frame)
        if l4 is None or l4[1] != 6 or gso_size == 0 or not needs_csum:
            return VnetDrop.BAD_GSO
    elif gso_type != VIRTIO_NET_HDR_GSO_NONE:
        return VnetDrop.UNKNOWN_GSO
    if not needs_csum:
        return frame
    if not _checksum_request_ok(frame, csum_start, csum_offset):
        return VnetDrop.BAD_CSUM
    return netdev.complete_checksum(frame)


def gso_header(frame: bytes, gso_size: int) -> bytes:
    """The ``virtio_net_hdr`` asking the kernel to cut ``frame`` (an IPv4 TCP super-segment
    whose checksum field holds the pseudo-header sum) into segments of ``gso_size``
    payload bytes, completing each one's checksum: NEEDS_CSUM from the TCP header on,
    GSO TCPv4, and ``hdr_len`` covering the Ethernet, IP and TCP headers."""
    csum_start = _ETH + (frame[_ETH] & 0x0F) * 4
    hdr_len = csum_start + (frame[csum_start + 12] >> 4) * 4
    return _VNET_HDR.pack(
        VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, hdr_len, gso_size,
        csum_start, _CSUM_FIELD[6],
    )  # fmt: skip


def _no_privilege(name: str, exc: OSError) -> PrivilegeError:
    # /dev/net/tun is often 0666: then TUNSETIFF is where the kernel asks for CAP_NET_ADMIN.
    return PrivilegeError(f"opening TAP device {name!r}", "root or CAP_NET_ADMIN", exc.errno)


class TapLink(DescriptorLink):
    """Ethernet frames through TAP device ``name``; implements docs/internals.md's Link."""

    # A down device or a full queue loses the frame, as a wire would.
    lost_errnos = frozenset((errno.EAGAIN, errno.EIO, errno.ENOBUFS, errno.EINVAL))

    def __init__(
        self,
        name: str,
        create: bool = True,
        *,
        reactor: Any = None,
        mtu: int | None = None,
        vnet_hdr: bool = False,
        offload_flags: int = 0,
    ) -> None:
        existed = netdev.exists(name)
        if not existed and not create:
            raise FileNotFoundError(f"TAP device {name!r} does not exist (create=False)")
        super().__init__(name, reactor)
        self.name = name
        self.created = not existed
        self.mac: str | None = None
        self.vnet_hdr = vnet_hdr
        self.super_frames = 0  # received frames longer than the MTU (offloads at work)
        self.gso_frames = 0  # super-segments sent for the kernel to cut
        self.rx_drops: dict[VnetDrop, int] = {}
        try:
            self._fd: int | None = self._open(name, vnet_hdr, offload_flags)
        except OffloadRefused as exc:
            _LOG.warning("TAP %s refuses offloads (%s): plain frames", name, exc.strerror)
            self.vnet_hdr = vnet_hdr = False
            offload_flags = 0
            self._fd = self._open(name, False, 0)
        # What the stack may hand send_gso (0: nothing): segmentation needs the partial
        # checksum too, as a device's TSO needs checksum offload.
        both = TUN_F_CSUM | TUN_F_TSO4
        self.tso_max = TSO_MAX if vnet_hdr and offload_flags & both == both else 0
        if self.created:
            netdev.set_up(name)
        self.mtu = mtu if mtu is not None else netdev.mtu(name)

    @staticmethod
    def _open(name: str, vnet_hdr: bool, offload_flags: int) -> int:
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError as exc:
            raise _no_privilege(name, exc) from None
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
        except PermissionError as exc:  # creating (or taking) a device is the kernel's call
            os.close(fd)
            raise _no_privilege(name, exc) from None
        except OSError:
            os.close(fd)
            raise
        if vnet_hdr:
            try:
                fcntl.ioctl(fd, TUNSETOFFLOAD, offload_flags)
            except OSError as exc:
                os.close(fd)  # a device we created goes with it; reopened plain
                raise OffloadRefused(exc.errno, exc.strerror) from None
        return fd

    @property
    def closed(self) -> bool:
        """True once the device's descriptor is closed."""
        return self._fd is None

    def fileno(self) -> int:
        """The device's descriptor (-1 once closed)."""
        return self._fd if self._fd is not None else -1

    def _write(self, frame: bytes) -> None:
        assert self._fd is not None
        if self.vnet_hdr:
            frame = _PLAIN_HDR + frame
        os.write(self._fd, frame)

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Send an IPv4 TCP super-segment for the kernel to cut into segments of
        ``gso_size`` payload bytes (only when ``tso_max`` says so): the kernel completes
        every segment's checksum, advances SEQ and the IP identification, and sets PSH
        and FIN on the last one only."""
        if not self.tso_max:
            raise RuntimeError(f"TAP {self.name!r} takes no super-segments (tso_max is 0)")
        if not self.closed and self._guarded(self._write_raw, gso_header(frame, gso_size) + frame):
            self.gso_frames += 1

    def _write_raw(self, data: bytes) -> None:
        assert self._fd is not None
        os.write(self._fd, data)

    def _read(self) -> bytes | None:
        assert self._fd is not None
        data = os.read(self._fd, _MAX_FRAME)
        if self.vnet_hdr:
            got = strip_vnet_hdr(data)
            if isinstance(got, VnetDrop):
                self.rx_drops[got] = self.rx_drops.get(got, 0) + 1
                return None
            data = got
        if len(data) > self.mtu + _ETH:
            self.super_frames += 1
        return data

    def _release(self) -> None:
        assert self._fd is not None
        # A device we created is not persistent: closing its last descriptor removes it.
        os.close(self._fd)
        self._fd = None
