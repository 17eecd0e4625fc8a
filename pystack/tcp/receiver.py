"""The receive side of a TCP connection: what becomes of the text of an acceptable segment.

`Receiver` is a part the session owns (``session.receiver``), as gVisor splits a
connection's receiver from its sender. After the SEGMENT ARRIVES checks (the session's
public ``check_*`` hooks, RFC 9293 §3.10.7.4) accepted a segment's text, the receiver
delivers it in order or holds it in the reorder queue, reports held blocks by SACK
(RFC 2018 §4), takes a FIN that waited behind a hole, and decides whether to acknowledge
now or within the delayed-ACK time (RFC 9293 §3.8.6.3, RFC 5681 §4.2). The TCB
variables (RCV.NXT, ...) and the reorder queue stay attributes of the session; the part
reaches them, and the session's hooks (``deliver_data``, ``send_ack``), only through the
session passed to each method, typed `ReceiverOwner`. Replace it with
``TCPSession.receiver_class``.
"""

from __future__ import annotations

from typing import Any, Protocol

from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.reorder import InsertResult
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

NO_BLOCKS: list[SeqNum] = []
"""``sack_recent`` of a connection that holds no out-of-order block: shared by all of them,
so never grown in place (`Receiver.insert` makes a connection its own list)."""

__all__ = ["Receiver", "ReceiverOwner"]

FIN = tcpwire.FIN


class ReceiverOwner(Protocol):
    """What `Receiver` needs from its session: the TCB fields it reads and writes, and
    the session calls that deliver, acknowledge or count a drop."""

    config: TcpConfig
    timers: Any
    reorder: Any
    rcv_nxt: SeqNum
    ooo_fin: SeqNum | None
    sack_ok: bool
    sack_recent: list[SeqNum]
    snd_mss: int
    ack_pending: int

    def deliver_data(self, data: bytes, **kw: Any) -> None: ...
    def send_ack(self, **kw: Any) -> None: ...
    def take_fin_from_queue(self) -> None: ...
    def count_drop(self, reason: TcpDrop) -> None: ...


class Receiver:
    """A session's receive side (see the module docstring). Like `Sender`, its methods
    take the session as an argument typed `ReceiverOwner`: it holds no reference back and
    no state, so the connections of a class share one."""

    __slots__ = ()

    def take_text(self, s: ReceiverOwner, seg: tcpwire.TcpSegment) -> None:
        """Take the text of an acceptable segment (RFC 9293 §3.10.7.4, seventh)."""
        if seg.seq == s.rcv_nxt.value:
            self.take_in_order(s, seg)
        else:
            self.take_out_of_order(s, seg, SeqNum(seg.seq))

    def take_in_order(self, s: ReceiverOwner, seg: tcpwire.TcpSegment) -> None:
        """Deliver text that starts at RCV.NXT, then what it lets out of the queue."""
        payload = seg.payload
        s.rcv_nxt = s.rcv_nxt + len(payload)
        s.deliver_data(payload)
        # Draining an empty reorder queue does nothing: skip it in the common case.
        if self.pending(s) and (self.drain(s) or self.pending(s)):
            s.send_ack()  # RFC 5681 §4.2: ACK at once when a hole is (being) filled
        else:
            # A super-segment (a device's receive offload) is several full-sized segments.
            self.on_data_ack(s, len(payload) // s.snd_mss)

    def take_out_of_order(self, s: ReceiverOwner, seg: tcpwire.TcpSegment, seq: SeqNum) -> None:
        """Hold text beyond RCV.NXT in the reorder queue and acknowledge at once."""
        if not self.insert(s, seq, seg.payload, bool(seg.flags & FIN)):
            s.count_drop(TcpDrop.OUT_OF_ORDER_FULL)
        # RFC 5681 §4.2 / RFC 9293 §3.10.7.4: an out-of-order segment is ACKed at once.
        s.send_ack()

    def on_data_ack(self, s: ReceiverOwner, full_sized: int) -> None:
        """In-order data arrived: acknowledge it now or within the delayed-ACK time;
        ``full_sized`` is how many full-sized segments it holds (True: one).

        RFC 9293 §3.8.6.3 (SHOULD-18/MUST-40): ACK at least every second full-sized
        segment, and within 0.5 s (we use `TcpConfig.delayed_ack`, 0.2 s by default).
        """
        s.ack_pending += 2 * full_sized if full_sized else 1
        if s.ack_pending >= 3 or s.config.delayed_ack == 0:
            s.send_ack()
        else:
            s.timers.delack.arm_if_idle(s.config.delayed_ack)

    def insert(self, s: ReceiverOwner, seq: SeqNum, data: bytes, fin: bool) -> bool:
        """Queue out-of-order text (and its FIN); False when the queue is full."""
        stored = s.reorder.insert(seq, data) is not InsertResult.OVERFLOW
        if fin and stored:
            s.ooo_fin = seq + len(data)
        if stored and s.sack_ok:
            # RFC 2018 §4: its block is reported first. A connection starts with a shared
            # empty list (no per-connection list until it holds a block): never grow that.
            if s.sack_recent:
                s.sack_recent.insert(0, seq)
            else:
                s.sack_recent = [seq]
        return stored

    def remember_fin(self, s: ReceiverOwner, fin_at: SeqNum) -> None:
        """A FIN beyond RCV.NXT: keep its place and acknowledge what we have at once."""
        s.ooo_fin = fin_at
        s.send_ack()

    def pending(self, s: ReceiverOwner) -> bool:
        """Whether text or a FIN waits beyond RCV.NXT."""
        return len(s.reorder) > 0 or s.ooo_fin is not None

    def drain(self, s: ReceiverOwner) -> bool:
        """Deliver what RCV.NXT reached in the queue (and a FIN that became next)."""
        data = s.reorder.pop_ready(s.rcv_nxt) if len(s.reorder) else b""
        if data:
            s.rcv_nxt = s.rcv_nxt + len(data)
            s.deliver_data(data)
            if not len(s.reorder):
                s.sack_recent = NO_BLOCKS
        fin = s.ooo_fin is not None and s.ooo_fin == s.rcv_nxt
        if fin:
            s.ooo_fin = None
            s.take_fin_from_queue()
        return bool(data) or fin
