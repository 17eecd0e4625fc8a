"""A link on an existing interface through an AF_PACKET raw socket.

The socket is bound to one interface with ``ETH_P_ALL`` and registered with a Twisted
reactor as a reader; each wake-up drains every pending frame. Frames the host itself sends
come back to a packet socket marked ``PACKET_OUTGOING``; they are skipped, so the stack
never sees its own (or the kernel's) transmissions.

Offloads (see docs/real-networks.md): with ``vnet_hdr=True`` the socket asks for
``PACKET_VNET_HDR``: every frame then carries a ``virtio_net_hdr`` (pystack.links.vnet),
so the link takes the interface's super-segments whole (and says which checksums need no
check, see `DescriptorLink.set_trusting_receiver`) and
declares ``tso_max``, taking the stack's TCP super-segments for the kernel to cut (in
software if the device cannot), as a TAP with offloads does; the interface's offloads stay
as they are. Without it, or where the kernel refuses the option (one warning logged), the
link turns checksum and segmentation offloads off on its interface (best effort,
``ethtool -K``; ``offloads=True`` leaves them) and asks for ``PACKET_AUXDATA`` so that a
frame still flagged ``TP_STATUS_CSUMNOTREADY`` (a partial checksum, as locally generated
traffic over a veth carries) is known for one: the stack takes its checksum as valid
(``TP_STATUS_CSUM_VALID`` too), and a plain receiver gets it completed.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from typing import Any

from pystack.errors import PrivilegeError
from pystack.links import netdev
from pystack.links.base import CHECKSUM_CHECK, CHECKSUM_PARTIAL, CHECKSUM_VALID, DescriptorLink
from pystack.links.vnet import (
    PLAIN_HDR,
    TSO_MAX,
    VNET_HDR_LEN,
    VnetDrop,
    gso_header,
    read_vnet_hdr,
)

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_VNET_HDR = 15
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_CSUM_VALID = 1 << 7
_AUXDATA = struct.Struct("=IIIHHHH")  # tpacket_auxdata
# The largest super-frame: an IPv6 one, 65535 payload bytes behind the 40-byte header.
_MAX_FRAME = 14 + 40 + 65535 + VNET_HDR_LEN
_LOG = logging.getLogger(__name__)
SO_RCVBUFFORCE = 33
# The socket's receive queue: the kernel's default (~200 kB, a few hundred small frames)
# overflows when a burst or a SYN flood arrives while the process is not scheduled; 4 MiB
# holds thousands, as a NIC ring and backlog do for the kernel's own stack.
RCVBUF = 4 << 20


class PacketSocketLink(DescriptorLink):
    """Ethernet frames on ``interface`` through an AF_PACKET raw socket.

    ``reactor`` is the Twisted reactor that reads the socket (default: the global one);
    ``vnet_hdr=True`` takes and sends super-segments through ``PACKET_VNET_HDR`` (see the
    module docstring; ``self.vnet_hdr`` says whether the kernel agreed); otherwise
    ``offloads=False`` (the default) turns checksum/segmentation offloads off on the
    interface; ``rcvbuf`` is the socket's receive queue in bytes (see `RCVBUF`).
    Implements the ``Link`` protocol of docs/internals.md (a ``SegmentingLink`` with the
    header).
    """

    lost_errnos = frozenset((errno.EAGAIN, errno.ENOBUFS, errno.ENETDOWN, errno.ENXIO))

    def __init__(
        self,
        interface: str,
        *,
        reactor: Any = None,
        mtu: int | None = None,
        offloads: bool = False,
        rcvbuf: int = RCVBUF,
        vnet_hdr: bool = False,
    ) -> None:
        super().__init__(interface, reactor)
        self.interface = interface
        self.mtu = mtu if mtu is not None else netdev.mtu(interface)
        self.mac: str | None = netdev.mac(interface)
        self.super_frames = 0  # received frames longer than the MTU (offloads at work)
        self.gso_frames = 0  # super-segments sent for the kernel to cut
        self.rx_drops: dict[VnetDrop, int] = {}
        self._sock: socket.socket | None = self._open(interface)
        self.vnet_hdr = vnet_hdr and self._ask_vnet_hdr()
        self.tso_max = TSO_MAX if self.vnet_hdr else 0
        if not self.vnet_hdr and (vnet_hdr or not offloads):
            # Plain frames, as the wire carries them (unless the caller keeps the offloads
            # without the header: then PACKET_AUXDATA completes partial checksums).
            netdev.disable_offloads(interface)
        self._grow_rcvbuf(rcvbuf)

    def _ask_vnet_hdr(self) -> bool:
        """Ask for ``PACKET_VNET_HDR``; False (one warning) where the kernel refuses it."""
        assert self._sock is not None
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        except OSError as exc:
            _LOG.warning("packet socket on %s refuses offloads (%s): plain frames",
                         self.interface, exc.strerror)  # fmt: skip
            return False
        return True

    @staticmethod
    def _open(interface: str) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError as exc:
            what = f"a packet socket on interface {interface!r}"
            raise PrivilegeError(what, "root or CAP_NET_RAW", exc.errno) from None
        try:
            sock.bind((interface, ETH_P_ALL))
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _grow_rcvbuf(self, size: int) -> None:
        """Ask for a ``size``-byte receive queue: beyond ``net.core.rmem_max`` with
        CAP_NET_ADMIN (SO_RCVBUFFORCE), else as much as the limit allows."""
        assert self._sock is not None
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def set_promiscuous(self) -> None:
        """Receive frames for any MAC (a stack with its own MAC on a shared interface).

        A membership on the socket rather than a device flag, so it ends with the socket.
        """
        if self._sock is None:
            raise RuntimeError("PacketSocketLink is closed")
        index = socket.if_nametoindex(self.interface)
        mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
        self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)

    @property
    def closed(self) -> bool:
        """True once the socket is closed."""
        return self._sock is None

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed)."""
        return self._sock.fileno() if self._sock is not None else -1

    def _write(self, frame: bytes) -> None:
        assert self._sock is not None
        self._sock.send(PLAIN_HDR + frame if self.vnet_hdr else frame)

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Send an IPv4 or IPv6 TCP super-segment for the kernel to cut into segments of
        ``gso_size`` payload bytes (only when ``tso_max`` says so; see `SegmentingLink`)."""
        if not self.tso_max:
            raise RuntimeError(f"{self.interface}: no super-segments (tso_max is 0)")
        if not self.closed and self._guarded(self._write_gso, (gso_header(frame, gso_size), frame)):
            self.gso_frames += 1

    def _write_gso(self, parts: tuple[bytes, bytes]) -> None:
        assert self._sock is not None
        self._sock.sendmsg(parts)  # a 64 KB frame is not copied to put a header before it

    def _read(self) -> tuple[bytes, int] | None:
        assert self._sock is not None
        data, anc, _flags, addr = self._sock.recvmsg(_MAX_FRAME, 64)
        if addr[2] == PACKET_OUTGOING:
            return None
        if self.vnet_hdr:
            got = read_vnet_hdr(data)
            if isinstance(got, VnetDrop):
                self.rx_drops[got] = self.rx_drops.get(got, 0) + 1
                return None
            data, checksum = got
        else:
            checksum = _checksum_state(anc)
        if len(data) > self.mtu + 14:
            self.super_frames += 1
        return data, checksum

    def _release(self) -> None:
        assert self._sock is not None
        self._sock.close()
        self._sock = None


def _checksum_state(ancillary: list[tuple[int, int, bytes]]) -> int:
    """What the kernel's ``tpacket_auxdata`` says of a frame's checksum."""
    for level, kind, payload in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= _AUXDATA.size:
            status = _AUXDATA.unpack_from(payload)[0]
            if status & TP_STATUS_CSUMNOTREADY:
                return CHECKSUM_PARTIAL
            return CHECKSUM_VALID if status & TP_STATUS_CSUM_VALID else CHECKSUM_CHECK
    return CHECKSUM_CHECK
