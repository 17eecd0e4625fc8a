"""The link contract (docs/internals.md "Links") and what the links share.

- :class:`Link`: the protocol the Ethernet layer sits on.
- :class:`LinkWrapper`: forwards to an inner link (pcap capture, lossy wrapper).
- :class:`WirePort`: one port on a simulated wire (memory and controlled wires).
- :class:`DescriptorLink`: a kernel descriptor read through a Twisted reactor (packet
  socket, TAP).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

from pystack.links import netdev
from pystack.reactor import blocking_call

Receiver = Callable[[bytes], None]
_Data = TypeVar("_Data")

# What a device says of a received frame's TCP/UDP checksum (a virtio-net header's flags,
# a packet socket's auxiliary data).
CHECKSUM_CHECK = 0
"""Nothing known: the stack verifies it."""
CHECKSUM_VALID = 1
"""The kernel verified it (``DATA_VALID``, ``TP_STATUS_CSUM_VALID``)."""
CHECKSUM_PARTIAL = 2
"""The frame comes from this host and its checksum field holds only the pseudo-header
sum (``NEEDS_CSUM``, ``TP_STATUS_CSUMNOTREADY``): no wire has touched it."""

ETHERNET_HEADER = 14


def hand_over(receive: Callable[..., None], frame: bytes, checksum: int, trusting: bool) -> None:
    """Give a received ``frame`` to ``receive``, with what the device said of its checksum
    (a ``CHECKSUM_*`` value): a receiver set with ``set_trusting_receiver`` (``trusting``)
    hears of a checksum that needs no check, any other gets a partial one completed."""
    if checksum == CHECKSUM_CHECK:
        receive(frame)
    elif trusting:
        receive(frame, checksum_valid=True)
    elif checksum == CHECKSUM_PARTIAL:
        receive(netdev.complete_checksum(frame))
    else:
        receive(frame)


_MAX_BATCH = 1024  # bound a wake-up so a flood cannot starve timers


@runtime_checkable
class Link(Protocol):
    """Carries Ethernet frames; what the Ethernet layer sits on."""

    mtu: int
    mac: str | None

    def set_receiver(self, receive: Receiver) -> None:
        """Call ``receive(frame)`` for every frame that arrives."""

    def send(self, frame: bytes) -> None:
        """Send one Ethernet frame (a link that cannot loses it, as a wire would)."""

    def start(self) -> None:
        """Begin delivering frames (register with the reactor)."""

    def close(self) -> None:
        """Release the device or socket; idempotent."""


@runtime_checkable
class SegmentingLink(Link, Protocol):
    """A link that has its device cut TCP super-segments (TCP segmentation offload).

    ``tso_max`` is the largest IP datagram :meth:`send_gso` takes (0: none, send only
    plain frames), IPv4 or IPv6; the stack's TCP reads it to decide whether to build
    super-segments.
    Links without the attribute take none."""

    tso_max: int

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Send one IPv4 or IPv6 TCP super-segment whose TCP checksum field holds the
        pseudo-header sum; the device cuts it into segments of ``gso_size`` payload bytes
        (an IPv6 one has its TCP header right behind the fixed header)."""


class LinkWrapper:
    """A link that forwards everything to an inner link; wrappers override parts.

    A wrapper takes no super-segments (``tso_max`` 0) unless it says how it handles them:
    it would otherwise see one frame where the wire carries many."""

    @property
    def tso_max(self) -> int:
        """0: no super-segments through a wrapper that does not say how it handles them."""
        return 0

    def __init__(self, inner: Link) -> None:
        self.inner = inner
        self._receive: Receiver | None = None
        inner.set_receiver(self._on_frame)

    @property
    def mtu(self) -> int:
        """The inner link's MTU."""
        return self.inner.mtu

    @property
    def mac(self) -> str | None:
        """The inner link's MAC."""
        return self.inner.mac

    def set_receiver(self, receive: Receiver) -> None:
        """See :class:`Link`."""
        self._receive = receive

    def send(self, frame: bytes) -> None:
        """See :class:`Link`."""
        self.inner.send(frame)

    def start(self) -> None:
        """See :class:`Link`."""
        self.inner.start()

    def close(self) -> None:
        """See :class:`Link`."""
        self.inner.close()

    def _on_frame(self, frame: bytes) -> None:
        self._deliver(frame)

    def _deliver(self, frame: bytes) -> None:
        if self._receive is not None:
            self._receive(frame)

    def __getattr__(self, name: str) -> object:
        # Link-specific extras (a TAP's name, a wire's counters) stay reachable.
        return getattr(self.inner, name)


def check_probabilities(**probabilities: float) -> None:
    """Raise ValueError unless every impairment probability is in [0, 1]."""
    for name, p in probabilities.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], not {p!r}")


class _Wire(Protocol):
    def transmit(self, sender: Any, frame: bytes) -> None: ...


class WirePort:
    """One port on a simulated wire; it has no MAC of its own (the stack picks one).

    The wire calls :meth:`deliver` (or reads ``_receive`` directly on its hot path).
    """

    mac: str | None = None

    def __init__(self, wire: _Wire, mtu: int) -> None:
        self.wire = wire
        self.mtu = mtu
        self.closed = False
        self._receive: Callable[..., None] | None = None

    def set_receiver(self, receive: Receiver) -> None:
        """See :class:`Link`."""
        self._receive = receive

    def send(self, frame: bytes) -> None:
        """Put ``frame`` on the wire (nothing once closed)."""
        if not self.closed:
            self.wire.transmit(self, frame)

    def start(self) -> None:
        """Nothing to register: the wire delivers."""

    def close(self) -> None:
        """Stop sending and receiving."""
        self.closed = True

    def deliver(self, frame: bytes) -> None:
        """Hand ``frame`` to the receiver (the wire's side of the port)."""
        if self._receive is not None:
            self._receive(frame)


class DescriptorLink:
    """A link on a non-blocking kernel descriptor, read as a reactor ``IReadDescriptor``.

    Subclasses provide :attr:`closed`, :meth:`fileno`, ``_write(frame)``, ``_read()`` (one
    frame, or a frame and what the device says of its checksum, a ``CHECKSUM_*`` value;
    None to skip it; ``OSError`` once nothing is left) and ``_release()`` (close the
    descriptor), and list in ``lost_errnos`` the send errors that lose a frame rather than
    signal a fault.
    ``reactor`` defaults to the global Twisted reactor.

    A receiver set with :meth:`set_receiver` gets every frame with a complete checksum;
    one set with :meth:`set_trusting_receiver` is told which checksums need no check.
    """

    lost_errnos: frozenset[int] = frozenset()

    def __init__(self, device: str, reactor: Any = None) -> None:
        self.frames_in = 0
        self.frames_out = 0
        self.send_errors = 0
        self._device = device
        self._reactor = reactor
        self._receive: Callable[..., None] | None = None
        self._trusting = False
        self._reading = False

    @property
    def closed(self) -> bool:
        """True once the descriptor is released."""
        raise NotImplementedError

    def fileno(self) -> int:
        """The descriptor (-1 once closed)."""
        raise NotImplementedError

    def _write(self, frame: bytes) -> None:
        raise NotImplementedError

    def _read(self) -> bytes | tuple[bytes, int] | None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    @property
    def reactor(self) -> Any:
        """The reactor that reads the descriptor."""
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        return self._reactor

    # -- Link protocol -------------------------------------------------------------------

    def set_receiver(self, receive: Receiver) -> None:
        """See :class:`Link`."""
        self._receive = receive
        self._trusting = False

    def set_trusting_receiver(self, receive: Callable[..., None]) -> None:
        """Call ``receive(frame)``, or ``receive(frame, checksum_valid=True)`` for a frame
        whose TCP/UDP checksum needs no check: the kernel checked it, or the frame comes
        from this host and its checksum is left partial. Summing a 64 KB super-segment
        twice (to complete its checksum, then to verify it) would cost more than the rest
        of its way up the stack."""
        self._receive = receive
        self._trusting = True

    def send(self, frame: bytes) -> None:
        """Send one frame; a lost frame (``lost_errnos``) is counted in ``send_errors``."""
        if not self.closed:
            self._guarded(self._write, frame)

    def _guarded(self, write: Callable[[_Data], None], data: _Data) -> bool:
        """``write(data)``; False when the frame is lost (counted in ``send_errors``)."""
        try:
            write(data)
        except OSError as exc:
            # A full queue or a device going away loses the frame, as a wire would;
            # TCP retransmits. Anything else is a real fault.
            if exc.errno not in self.lost_errnos:
                raise
            self.send_errors += 1
            return False
        self.frames_out += 1
        return True

    def start(self) -> None:
        """Register with the reactor (in its thread: addReader belongs to it)."""
        blocking_call(self._start, _reactor=self.reactor)

    def _start(self) -> None:
        if self.closed:
            raise RuntimeError(f"{type(self).__name__}: start() after close()")
        if not self._reading:
            self._reading = True
            self.reactor.addReader(self)

    def close(self) -> None:
        """Unregister and release the descriptor (in the reactor thread); idempotent."""
        blocking_call(self._close, _reactor=self.reactor)

    def _close(self) -> None:
        if self.closed:
            return
        if self._reading:
            self._reading = False
            self.reactor.removeReader(self)
        self._release()

    # -- IReadDescriptor ---------------------------------------------------------------

    def logPrefix(self) -> str:
        """Twisted's log prefix."""
        return f"{type(self).__name__}({self._device})"

    def connectionLost(self, reason: object) -> None:
        """The reactor dropped the descriptor."""
        self._reading = False

    def doRead(self) -> None:
        """Drain every pending frame (bounded per wake-up)."""
        for _ in range(_MAX_BATCH):
            if self.closed:
                return
            try:
                got = self._read()
            except OSError:
                return  # EAGAIN: drained; EBADF/EIO: closing
            if got is None:
                continue
            self.frames_in += 1
            receive = self._receive
            if receive is None:
                continue
            if isinstance(got, bytes):  # a subclass that reads plain frames
                receive(got)
                continue
            frame, checksum = got
            if checksum == CHECKSUM_CHECK:
                receive(frame)  # the common case, without a call more
            else:
                hand_over(receive, frame, checksum, self._trusting)
