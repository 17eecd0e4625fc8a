"""The outgoing-traffic policy: how datagrams are cut into IP fragments and segments into
TCP segments, in which order they leave, and which decoy copies go with them.

Only emission changes. The TCP connection keeps its own sequence space, send buffer and
retransmission timer: a segment it sends (or sends again) is reshaped each time, and an
ACK acknowledges the bytes whatever pieces carried them.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from pystack.wire import tcp as tcpwire
from pystack.wire.checksum import raw_sum
from pystack.wire.ipv4 import FLAG_DF, FLAG_MF, PROTO_ICMP, PROTO_TCP, PROTO_UDP, Ipv4Packet
from pystack.wire.ipv4_options import copied_options

Order = Literal["in-order", "reverse", "random"]
DecoySent = Literal["before", "after"]
ORDERS: tuple[str, ...] = ("in-order", "reverse", "random")
DECOY_SENT: tuple[str, ...] = ("before", "after")
_MASK = 0xFFFFFFFF
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Evasion:
    """What to do to outgoing traffic; every option is off by default.

    IP (every datagram the policy shapes, whatever its protocol):

    ``ip_fragment_size``
        Payload bytes per IP fragment, a multiple of 8 (RFC 791 §3.2); None: fragment
        only to the MTU, as usual. A datagram with DF set is sent whole.
    ``ip_order``
        ``"in-order"``, ``"reverse"`` (last fragment first) or ``"random"`` (from ``seed``).
    ``ip_overlap_decoy``
        Bytes (repeated to length) for a decoy copy of each fragment that lies wholly
        after the transport header, except the fragment sent last (it completes the
        datagram, so a decoy sent after it would come too late). The decoy has the same
        offset, length and flags as the fragment it doubles; its last full 16-bit word is
        adjusted so that the transport checksum holds whichever copy a receiver keeps.
    ``ip_decoy_sent``
        ``"before"`` or ``"after"`` the real copy. Which copy a receiver keeps
        (the overlap policies of :mod:`pystack.layers.ip_reassembly`):

        ============== ========== ==========
        policy          before     after
        ============== ========== ==========
        first           decoy      real
        last            real       decoy
        bsd             decoy      real
        linux-legacy    real       decoy
        windows         decoy      real
        linux           decoy      real
        rfc5722         nothing    nothing
        ============== ========== ==========

        ``linux`` (Linux since 4.19) drops a fragment that lies inside bytes already held
        as a duplicate without comparing it, so it keeps whichever copy came first;
        ``rfc5722`` discards the whole datagram.

    TCP (segments that carry data; SYN and URG segments are sent as they are):

    ``tcp_segment_size``
        Payload bytes per TCP segment; None: as the connection cut them.
    ``tcp_order``
        As ``ip_order``, for the pieces of one segment.
    ``tcp_overlap_decoy``
        Bytes (repeated to length) for a decoy segment with the same sequence number and
        length as each piece (never with FIN). Its checksum is right: a receiver that
        takes it delivers it to its application.
    ``tcp_decoy_sent``
        ``"before"`` or ``"after"`` the real piece. A receiver that keeps the first copy of
        each byte (PyStack's, and Linux's for a copy at the same sequence number and
        length) delivers the decoy when it comes before, the real bytes when after.

    ``seed`` drives the ``"random"`` orders (the same seed, the same orders).
    """

    ip_fragment_size: int | None = None
    ip_order: Order = "in-order"
    ip_overlap_decoy: bytes | None = None
    ip_decoy_sent: DecoySent = "before"
    tcp_segment_size: int | None = None
    tcp_order: Order = "in-order"
    tcp_overlap_decoy: bytes | None = None
    tcp_decoy_sent: DecoySent = "before"
    seed: int = 0
    rng: random.Random = dataclasses.field(init=False, repr=False, compare=False)
    """The random orders' generator, seeded with ``seed``."""
    session_classes: dict[type, type] = dataclasses.field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    """The classes `session_class` made, by base class."""

    def __post_init__(self) -> None:
        size = self.ip_fragment_size
        if size is not None and (size < 8 or size % 8):
            raise ValueError(f"ip_fragment_size must be a positive multiple of 8, not {size}")
        if self.tcp_segment_size is not None and self.tcp_segment_size < 1:
            raise ValueError(f"tcp_segment_size must be positive, not {self.tcp_segment_size}")
        for name in ("ip_order", "tcp_order"):
            if getattr(self, name) not in ORDERS:
                raise ValueError(f"{name} must be one of {', '.join(ORDERS)}")
        for name in ("ip_decoy_sent", "tcp_decoy_sent"):
            if getattr(self, name) not in DECOY_SENT:
                raise ValueError(f"{name} must be 'before' or 'after'")
        for name in ("ip_overlap_decoy", "tcp_overlap_decoy"):
            if getattr(self, name) is not None and not getattr(self, name):
                raise ValueError(f"{name} must be non-empty bytes (or None)")
        if size is None and (self.ip_order != "in-order" or self.ip_overlap_decoy):
            raise ValueError("ip_order and ip_overlap_decoy need an ip_fragment_size")
        object.__setattr__(self, "rng", random.Random(self.seed))

    @property
    def shapes_ip(self) -> bool:
        """Whether this policy cuts IP datagrams."""
        return self.ip_fragment_size is not None

    @property
    def shapes_tcp(self) -> bool:
        """Whether this policy reshapes TCP segments."""
        return self.tcp_segment_size is not None or self.tcp_overlap_decoy is not None

    # -- where it applies --------------------------------------------------------------

    def install(self, stack: Any) -> None:
        """Apply this policy to everything ``stack`` sends from now on: its IP layer's
        datagrams (when it cuts IP) and its new TCP connections (when it reshapes TCP)."""
        if self.shapes_ip:
            stack.ip.shaper = self
        if self.shapes_tcp:
            stack.tcp.session_class = self.session_class(stack.tcp.session_class)

    def session_class(self, base: type[Any] | None = None) -> type[Any]:
        """A TCP session class (a subclass of ``base``, `TCPSession` by default) whose
        connections send through this policy: pass it as ``session_class=`` to one
        ``connect`` or ``listen``. It cuts their datagrams too when the policy cuts IP."""
        from pystack.evasion.session import evasive_class
        from pystack.tcp.session import TCPSession

        return evasive_class(self, base or TCPSession)

    # -- IP ----------------------------------------------------------------------------

    def shape_datagram(self, pkt: Ipv4Packet, mtu: int) -> Sequence[Ipv4Packet]:
        """The pieces to send for ``pkt``, in order (the `DatagramShaper` of IP)."""
        size = self.ip_fragment_size
        hlen = 20 + len(pkt.options)
        if size is None or pkt.flags & FLAG_DF or len(pkt.payload) <= size:
            return [pkt]
        size = min(size, max(8, (mtu - hlen) // 8 * 8))
        real = fragments(pkt, size)
        order = self.ordered(len(real), self.ip_order)
        decoys: dict[int, Ipv4Packet] = {}
        if self.ip_overlap_decoy is not None:
            header = transport_header_len(pkt)
            for i in order[:-1]:
                frag = real[i]
                if frag.frag_offset >= header and len(frag.payload) >= 2:
                    decoys[i] = dataclasses.replace(
                        frag, payload=decoy_payload(frag.payload, self.ip_overlap_decoy)
                    )
        return _interleave(real, order, decoys, self.ip_decoy_sent)

    # -- TCP ---------------------------------------------------------------------------

    def shape_segment(self, seg: tcpwire.TcpSegment) -> list[tcpwire.TcpSegment]:
        """The segments to send for ``seg``, in order."""
        if not seg.payload or seg.flags & (tcpwire.SYN | tcpwire.URG) or not self.shapes_tcp:
            return [seg]
        size = self.tcp_segment_size or len(seg.payload)
        real = segments(seg, size)
        order = self.ordered(len(real), self.tcp_order)
        decoys: dict[int, tcpwire.TcpSegment] = {}
        if self.tcp_overlap_decoy is not None:
            for i, piece in enumerate(real):
                decoys[i] = dataclasses.replace(
                    piece,
                    payload=_repeat(self.tcp_overlap_decoy, len(piece.payload)),
                    flags=piece.flags & ~tcpwire.FIN,
                )
        return _interleave(real, order, decoys, self.tcp_decoy_sent)

    def ordered(self, n: int, order: str) -> list[int]:
        """The indexes 0..n-1 in the sending order ``order``."""
        indexes = list(range(n))
        if order == "reverse":
            indexes.reverse()
        elif order == "random":
            self.rng.shuffle(indexes)
        return indexes


def _interleave(real: list[T], order: list[int], decoys: dict[int, T], sent: str) -> list[T]:
    out: list[T] = []
    for i in order:
        decoy = decoys.get(i)
        if decoy is not None and sent == "before":
            out.append(decoy)
        out.append(real[i])
        if decoy is not None and sent == "after":
            out.append(decoy)
    return out


def fragments(pkt: Ipv4Packet, size: int) -> list[Ipv4Packet]:
    """``pkt`` cut into fragments of ``size`` payload bytes (RFC 791 §3.2), in order."""
    later_options = copied_options(pkt.options) if pkt.options else b""
    out = []
    total = len(pkt.payload)
    for off in range(0, total, size):
        last = off + size >= total
        out.append(
            dataclasses.replace(
                pkt,
                payload=pkt.payload[off : off + size],
                flags=pkt.flags if last else pkt.flags | FLAG_MF,
                frag_offset=pkt.frag_offset + off,
                # RFC 791 §3.1: only options with the copied flag go past fragment 0.
                options=pkt.options if off == 0 else later_options,
            )
        )
    return out


def segments(seg: tcpwire.TcpSegment, size: int) -> list[tcpwire.TcpSegment]:
    """``seg`` cut into segments of ``size`` payload bytes; FIN and PSH stay on the last."""
    out = []
    total = len(seg.payload)
    inner = seg.flags & ~(tcpwire.FIN | tcpwire.PSH)
    for off in range(0, total, size):
        last = off + size >= total
        out.append(
            dataclasses.replace(
                seg,
                seq=(seg.seq + off) & _MASK,
                payload=seg.payload[off : off + size],
                flags=seg.flags if last else inner,
            )
        )
    return out


def transport_header_len(pkt: Ipv4Packet) -> int:
    """Bytes of ``pkt``'s payload taken by its transport header (0 if unknown)."""
    if pkt.proto == PROTO_TCP and len(pkt.payload) > 12:
        return (pkt.payload[12] >> 4) * 4
    if pkt.proto in (PROTO_UDP, PROTO_ICMP):
        return 8
    return 0


def _repeat(pattern: bytes, n: int) -> bytes:
    return (pattern * (n // len(pattern) + 1))[:n]


def decoy_payload(real: bytes, pattern: bytes) -> bytes:
    """``pattern`` repeated to ``len(real)`` bytes, its last full 16-bit word changed so
    that its ones'-complement sum equals ``real``'s (RFC 1071): a transport checksum over
    the datagram holds with either copy. ``real`` starts at an even offset of the
    datagram's payload (fragments start at multiples of 8) and is at least 2 bytes."""
    decoy = bytearray(_repeat(pattern, len(real)))
    at = (len(real) - 2) & ~1
    decoy[at : at + 2] = b"\0\0"
    word = (raw_sum(real) - raw_sum(decoy)) % 0xFFFF
    decoy[at : at + 2] = word.to_bytes(2, "big")
    return bytes(decoy)
