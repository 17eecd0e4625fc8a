"""A link on an existing interface through an AF_PACKET raw socket.

The socket is bound to one interface with ``ETH_P_ALL`` and registered with a Twisted
reactor as a reader; each wake-up drains every pending frame. Frames the host itself sends
come back to a packet socket marked ``PACKET_OUTGOING``; they are skipped, so the stack
never sees its own (or the kernel's) transmissions.

Offloads (see docs/real-networks.md): the link turns off checksum and segmentation
offloads on its interface when it opens (best effort, ``ethtool -K``), and it also asks for
``PACKET_AUXDATA`` so that a frame still flagged ``TP_STATUS_CSUMNOTREADY`` (a partial
checksum, as locally generated traffic over a veth carries) gets its TCP/UDP checksum
completed before the stack validates it.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Callable
from typing import Any

from pystack.links import netdev
from pystack.reactor import blocking_call

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
TP_STATUS_CSUMNOTREADY = 1 << 3
_AUXDATA = struct.Struct("=IIIHHHH")  # tpacket_auxdata
_MAX_FRAME = 65536 + 14
_MAX_BATCH = 1024  # bound a wake-up so a flood cannot starve timers


def _default_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class PacketSocketLink:
    """Ethernet frames on ``interface`` through an AF_PACKET raw socket.

    ``reactor`` is the Twisted reactor that reads the socket (default: the global one);
    ``offloads=False`` (the default) turns checksum/segmentation offloads off on the
    interface. Implements the ``Link`` protocol of docs/internals.md.
    """

    def __init__(
        self,
        interface: str,
        *,
        reactor: Any = None,
        mtu: int | None = None,
        offloads: bool = False,
    ) -> None:
        self.interface = interface
        self.mtu = mtu if mtu is not None else netdev.mtu(interface)
        self.mac: str | None = netdev.mac(interface)
        self.frames_in = 0
        self.frames_out = 0
        self.send_errors = 0
        self._reactor = reactor
        self._receive: Callable[[bytes], None] | None = None
        self._reading = False
        if not offloads:
            netdev.disable_offloads(interface)
        self._sock: socket.socket | None = self._open(interface)

    @staticmethod
    def _open(interface: str) -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.bind((interface, ETH_P_ALL))
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def set_promiscuous(self) -> None:
        """Receive frames for any MAC (a stack with its own MAC on a shared interface).

        A membership on the socket rather than a device flag, so it ends with the socket.
        """
        if self._sock is None:
            raise RuntimeError("PacketSocketLink is closed")
        index = socket.if_nametoindex(self.interface)
        mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
        self._sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)

    # -- Link protocol -------------------------------------------------------------------

    def set_receiver(self, receive: Callable[[bytes], None]) -> None:
        self._receive = receive

    def send(self, frame: bytes) -> None:
        if self._sock is None:
            return
        try:
            self._sock.send(frame)
            self.frames_out += 1
        except OSError as exc:
            # A full queue or a device going away loses the frame, as a wire would;
            # TCP retransmits. Anything else is a real fault.
            if exc.errno not in (errno.EAGAIN, errno.ENOBUFS, errno.ENETDOWN, errno.ENXIO):
                raise
            self.send_errors += 1

    def start(self) -> None:
        # addReader/removeReader belong to the reactor thread (thread mode).
        blocking_call(self._start, _reactor=self.reactor)

    def _start(self) -> None:
        if self._sock is None:
            raise RuntimeError("PacketSocketLink: start() after close()")
        if not self._reading:
            self._reading = True
            self.reactor.addReader(self)

    def close(self) -> None:
        blocking_call(self._close, _reactor=self.reactor)

    def _close(self) -> None:
        if self._sock is None:
            return
        if self._reading:
            self._reading = False
            self.reactor.removeReader(self)
        self._sock.close()
        self._sock = None

    @property
    def closed(self) -> bool:
        return self._sock is None

    @property
    def reactor(self) -> Any:
        if self._reactor is None:
            self._reactor = _default_reactor()
        return self._reactor

    # -- IReadDescriptor ---------------------------------------------------------------

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def logPrefix(self) -> str:
        return f"PacketSocketLink({self.interface})"

    def connectionLost(self, reason: object) -> None:
        self._reading = False

    def doRead(self) -> None:
        """Drain every pending frame (bounded per wake-up)."""
        sock = self._sock
        for _ in range(_MAX_BATCH):
            if sock is None or self._sock is None:
                return
            try:
                data, anc, _flags, addr = sock.recvmsg(_MAX_FRAME, 64)
            except BlockingIOError:
                return
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            if _partial_checksum(anc):
                data = netdev.complete_checksum(data)
            self.frames_in += 1
            if self._receive is not None:
                self._receive(data)


def _partial_checksum(ancillary: list[tuple[int, int, bytes]]) -> bool:
    for level, kind, payload in ancillary:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= _AUXDATA.size:
            return bool(_AUXDATA.unpack_from(payload)[0] & TP_STATUS_CSUMNOTREADY)
    return False
