"""What a TCP session sends: segmentation, Nagle, windows, ACKs and their delay.

The send path respects the peer's window and the congestion window (RFC 9293 §3.8.6,
RFC 5681), avoids silly windows on both sides (RFC 9293 §3.8.6.2), and delays ACKs by at
most `TcpConfig.delayed_ack`, acknowledging at least every second full-sized segment
(RFC 9293 §3.8.6.3, RFC 5681 §4.2).
"""

from __future__ import annotations

from typing import Any

from pystack.tcp.sender import MAX_WINDOW, SACK_BLOCKS, SACK_BLOCKS_WITH_TS, Sender
from pystack.tcp.tcb import Tcb
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp_options import NOP, Sack, TcpOption, Timestamp

# The data path works on SeqNum.value ints: the signed distance a - b modulo 2**32 is
# ((a - b + _HALF) & _MASK) - _HALF, the same arithmetic as SeqNum's (RFC 9293 §3.4).
_MASK = 0xFFFFFFFF
_HALF = 1 << 31

__all__ = ["MAX_WINDOW", "OutputMixin"]

ACK = tcpwire.ACK
SYN = tcpwire.SYN
FIN = tcpwire.FIN
RST = tcpwire.RST


class OutputMixin(Tcb):
    """The send-side hooks of a TCP session (``send_ack``, ``send_data``, the segment
    builder); what to send and when is its `Sender` part's (``session.sender``)."""

    __slots__ = ()
    sender: Sender  # TCPSession.sender
    segmentation_offload = True
    """Class setting: whether this connection hands the link TCP super-segments when the
    link has its device cut them (TCP segmentation offload, a TAP's default): new data
    then leaves in segments of up to 64 KB that `on_segment_out` sees whole. Set it False
    in a subclass whose `on_segment_out` must see every segment as the wire carries it
    (`pystack.evasion.EvasiveSession` does)."""

    # ------------------------------------------------------------------- segment builder

    def make_segment(self, seq: SeqNum, flags: int, payload: bytes = b"") -> tcpwire.TcpSegment:
        """A segment of this connection carrying our current ACK and window."""
        assert self.remote_port is not None
        # RFC 7323 §2.2: the window of a SYN or SYN,ACK is never scaled.
        window = self.sender.window_to_advertise(self, 0 if flags & SYN else self.rcv_wscale)
        if flags & ACK:
            ack = self.last_ack_sent = self.rcv_nxt.value  # Last.ACK.sent (RFC 7323 §4.3)
        else:
            ack = 0
        sack = flags & ACK and self.sack_ok and len(self.reorder) and not flags & (SYN | RST)
        if self.ts_ok and not flags & RST:
            # RFC 7323 §3.2: once negotiated, every segment but an RST MUST carry TSopt,
            # laid out NOP, NOP, TSopt (Appendix A) for the wire's one-pack fast path.
            options: tuple[TcpOption, ...] = (
                NOP, NOP, Timestamp(self.ts_val(), self.ts_recent),
            )  # fmt: skip
            if sack:
                options += (NOP, NOP, Sack(self.sender.sack_blocks(self, SACK_BLOCKS_WITH_TS)))
            return tcpwire.TcpSegment(
                self.local_port, self.remote_port, seq.value, ack, flags, window, payload,
                options,
            )  # fmt: skip
        if sack:
            return tcpwire.TcpSegment(
                self.local_port, self.remote_port, seq.value, ack, flags, window, payload,
                (NOP, NOP, Sack(self.sender.sack_blocks(self, SACK_BLOCKS))),
            )  # fmt: skip
        return tcpwire.TcpSegment(
            self.local_port, self.remote_port, seq.value, ack, flags, window, payload
        )

    def ts_val(self) -> int:
        """Our TSval: a millisecond clock (RFC 7323 §5.4: 1 ms to 1 s per tick) plus the
        connection's random offset (§7.1), modulo 2**32."""
        return (self.ts_offset + int(self.clock.seconds() * 1000)) & _MASK

    # ---------------------------------------------------------------------------- ACKs

    def send_ack(self, **kw: Any) -> None:
        """Hook: send an ACK now (<SEQ=SND.MAX><ACK=RCV.NXT><CTL=ACK>).

        SND.MAX rather than RFC 9293's SND.NXT, as BSD does: after a timeout rewinds SND.NXT
        the peer's RCV.NXT may lie beyond it, and it would drop our ACKs as unacceptable.
        But never beyond the peer's right edge SND.UNA + SND.WND (as Linux's
        tcp_acceptable_seq): once the peer's window closed below SND.MAX (it shrank, or a
        probe's byte was refused), RFC 9293 §3.10.7.4 makes a zero-window receiver accept a
        segment without text only at SEQ = RCV.NXT, so an ACK at SND.MAX would be dropped
        with the acknowledgment it carries, and both sides can wait on each other.
        """
        self.ack_pending = 0
        self.timers.delack.cancel()
        self.emit_segment(self.make_segment(self.ack_seq(), ACK))

    def ack_seq(self) -> SeqNum:
        """SEQ of a segment without text: SND.MAX, or the peer's right edge if before it."""
        snd_max, snd_una = self.snd_max, self.snd_una
        if snd_una.value == self.iss.value:  # our SYN is not acknowledged: no window yet
            return snd_max
        edge = snd_una + self.snd_wnd
        if ((snd_max.value - edge.value + _HALF) & _MASK) - _HALF > 0:
            return edge
        return snd_max

    # ---------------------------------------------------------------------- data output

    def output(self, force_one: bool = False) -> None:
        """Send what the windows, Nagle and the queue allow (the `Sender` decides);
        ``force_one`` sends one segment regardless of the congestion window."""
        self.sender.output(self, force_one)

    def window_to_advertise(self, shift: int = 0) -> int:
        """The window field our next segment announces (see `Sender.window_to_advertise`)."""
        return self.sender.window_to_advertise(self, shift)

    def sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
        """The SACK blocks of our next ACK (see `Sender.sack_blocks`)."""
        return self.sender.sack_blocks(self, limit)

    def sack_space(self) -> int:
        """Option bytes the SACK blocks of our next segment take (`Sender.sack_space`)."""
        return self.sender.sack_space(self)

    def sndbuf_seq(self) -> SeqNum:
        """Sequence number of the first byte in the send buffer (after the SYN)."""
        una = self.snd_una
        if una.value == self.iss.value:
            return self.iss + 1
        return una

    def fin_seq(self) -> SeqNum:
        """Sequence number our FIN occupies (after every queued byte)."""
        return self.snd_fin

    def tso_max(self) -> int:
        """The largest IP datagram a super-segment of this connection may fill: the
        host's ``tso_max`` (``tso_max6`` over IPv6; see `pystack.tcp.host`) when
        `segmentation_offload` is on, else 0 (MSS-sized segments only)."""
        if not self.segmentation_offload:
            return 0
        if ":" in (self.remote_ip or ""):
            return int(getattr(self.host, "tso_max6", 0))
        return int(getattr(self.host, "tso_max", 0))

    def send_super_segment(self, seq: SeqNum, data: bytes, flags: int, mss: int) -> None:
        """Hook: emit new ``data`` at ``seq`` (whole ``mss``-sized segments, never a FIN)
        as one super-segment that the link's device cuts into segments of ``mss`` bytes,
        each with this one's ACK, window and options, PSH (if set) on the last only."""
        self.ack_pending = 0
        self.timers.delack.cancel()
        self.emit_segment(self.make_segment(seq, flags | ACK, data), mss)

    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None:
        """Hook: emit one segment carrying ``data`` at ``seq`` (with ACK, maybe PSH/FIN)."""
        if ((seq.value - self.snd_max.value + _HALF) & _MASK) - _HALF < 0:
            self.rexmit_bytes += len(data)
        self.ack_pending = 0
        self.timers.delack.cancel()
        self.emit_segment(self.make_segment(seq, flags | ACK, data))
