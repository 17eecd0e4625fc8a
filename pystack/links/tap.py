"""A link that owns a TAP device (/dev/net/tun, ``IFF_TAP | IFF_NO_PI``).

The stack is the far end of the TAP's wire: the kernel side of the device (its address,
its MAC) belongs to the host, so the stack has its own MAC and ``mac`` is ``None`` here.

``create=True`` creates the device when it does not exist (a non-persistent device, which
the kernel removes when the link closes its descriptor) and brings it up; ``create=False``
attaches to an existing device (e.g. ``ip tuntap add mode tap``) and leaves it in place.

``vnet_hdr=True`` opens the device with ``IFF_VNET_HDR``: every frame then carries a
``virtio_net_hdr`` that the link strips on receive (completing partial checksums) and adds
(zeroed) on send. Offloads stay off (``TUNSETOFFLOAD`` 0) until TCP handles super-segments;
switching them on is ``offload_flags=`` (DESIGN.md, attachment mode 3).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import Any

from pystack.links import netdev
from pystack.links.base import DescriptorLink

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_TUN_EXCL = 0x8000
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
_VNET_HDR = struct.Struct("=BBHHHH")  # flags, gso_type, hdr_len, gso_size, csum_start/off
_MAX_FRAME = 65536 + 14 + _VNET_HDR.size


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
        self._fd: int | None = self._open(name, vnet_hdr, offload_flags)
        if self.created:
            netdev.set_up(name)
        self.mtu = mtu if mtu is not None else netdev.mtu(name)

    @staticmethod
    def _open(name: str, vnet_hdr: bool, offload_flags: int) -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
            if vnet_hdr:
                fcntl.ioctl(fd, TUNSETOFFLOAD, offload_flags)
        except OSError:
            os.close(fd)
            raise
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
            frame = bytes(_VNET_HDR.size) + frame
        os.write(self._fd, frame)

    def _read(self) -> bytes:
        assert self._fd is not None
        data = os.read(self._fd, _MAX_FRAME)
        return self._strip_vnet_hdr(data) if self.vnet_hdr else data

    def _release(self) -> None:
        assert self._fd is not None
        # A device we created is not persistent: closing its last descriptor removes it.
        os.close(self._fd)
        self._fd = None

    @staticmethod
    def _strip_vnet_hdr(data: bytes) -> bytes:
        if len(data) < _VNET_HDR.size:
            return b""
        flags = data[0]
        frame = data[_VNET_HDR.size :]
        if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM:
            frame = netdev.complete_checksum(frame)
        return frame
