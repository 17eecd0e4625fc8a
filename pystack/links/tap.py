"""A link that owns a TAP device (/dev/net/tun, ``IFF_TAP | IFF_NO_PI``).

The stack is the far end of the TAP's wire: the kernel side of the device (its address,
its MAC) belongs to the host, so the stack has its own MAC and ``mac`` is ``None`` here.

``create=True`` creates the device when it does not exist (a non-persistent device, which
the kernel removes when the link closes its descriptor) and brings it up; ``create=False``
attaches to an existing device (e.g. ``ip tuntap add mode tap``) and leaves it in place.

``vnet_hdr=True`` opens the device with ``IFF_VNET_HDR``: every frame then carries a
``virtio_net_hdr`` that the link validates and strips on receive (completing partial
checksums) and adds on send. ``offload_flags=`` is handed to ``TUNSETOFFLOAD``; with
:data:`OFFLOADS` (checksum + TCPv4 and TCPv6 segmentation) the kernel may send TCP
super-segments of up to 64 KB over IPv4 and IPv6, which the stack takes whole
(``super_frames`` counts frames longer than the MTU), and the link declares ``tso_max``
(the largest datagram it has the kernel cut): the stack's TCP then hands
:meth:`TapLink.send_gso` super-segments of whole MSS-sized segments over either family,
which the kernel cuts (``gso_frames`` counts them). A plain frame goes out with
a zeroed header (no offload asked). A device that refuses ``TUNSETOFFLOAD`` is reopened
without the header (plain frames both ways; one warning logged). A header the link cannot
honour drops the frame, counted in ``rx_drops`` by :class:`VnetDrop` (DESIGN.md,
attachment mode 3).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
from typing import Any

from pystack.errors import PrivilegeError
from pystack.links import netdev
from pystack.links.base import CHECKSUM_CHECK, DescriptorLink
from pystack.links.vnet import (  # the virtio header, shared with packet sockets
    PLAIN_HDR,
    TSO_MAX,
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_F_NEEDS_CSUM,
    VIRTIO_NET_HDR_GSO_NONE,
    VIRTIO_NET_HDR_GSO_TCPV4,
    VIRTIO_NET_HDR_GSO_TCPV6,
    VNET_HDR_LEN,
    VnetDrop,
    gso_header,
    read_vnet_hdr,
    strip_vnet_hdr,
)

__all__ = [
    "OFFLOADS",
    "RX_OFFLOADS",
    "TSO_MAX",
    "VIRTIO_NET_HDR_F_DATA_VALID",
    "VIRTIO_NET_HDR_F_NEEDS_CSUM",
    "VIRTIO_NET_HDR_GSO_NONE",
    "VIRTIO_NET_HDR_GSO_TCPV4",
    "VIRTIO_NET_HDR_GSO_TCPV6",
    "OffloadRefused",
    "TapLink",
    "VnetDrop",
    "gso_header",
    "strip_vnet_hdr",
]

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
OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6  # no ECN: the stack's TCP sets no CWR
RX_OFFLOADS = OFFLOADS  # the name receive offloads had first
_ETH = 14
# The largest super-frame: an IPv6 one, 65535 payload bytes behind the 40-byte header.
_MAX_FRAME = _ETH + 40 + 65535 + VNET_HDR_LEN
_LOG = logging.getLogger(__name__)


class OffloadRefused(OSError):
    """The device took ``IFF_VNET_HDR`` but refused ``TUNSETOFFLOAD``."""


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
            os.writev(self._fd, (PLAIN_HDR, frame))  # the header without a copy of the frame
        else:
            os.write(self._fd, frame)

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Send an IPv4 or IPv6 TCP super-segment for the kernel to cut into segments of
        ``gso_size`` payload bytes (only when ``tso_max`` says so): the kernel completes
        every segment's checksum, sets its IP length, advances SEQ (and the IPv4
        identification), and sets PSH and FIN on the last one only."""
        if not self.tso_max:
            raise RuntimeError(f"TAP {self.name!r} takes no super-segments (tso_max is 0)")
        if not self.closed and self._guarded(self._write_gso, (gso_header(frame, gso_size), frame)):
            self.gso_frames += 1

    def _write_gso(self, parts: tuple[bytes, bytes]) -> None:
        assert self._fd is not None
        os.writev(self._fd, parts)  # a 64 KB frame is not copied to put a header before it

    def _read(self) -> tuple[bytes, int] | None:
        assert self._fd is not None
        data = os.read(self._fd, _MAX_FRAME)
        checksum = CHECKSUM_CHECK
        if self.vnet_hdr:
            got = read_vnet_hdr(data)
            if isinstance(got, VnetDrop):
                self.rx_drops[got] = self.rx_drops.get(got, 0) + 1
                return None
            data, checksum = got
        if len(data) > self.mtu + _ETH:
            self.super_frames += 1
        return data, checksum

    def _release(self) -> None:
        assert self._fd is not None
        # A device we created is not persistent: closing its last descriptor removes it.
        os.close(self._fd)
        self._fd = None
