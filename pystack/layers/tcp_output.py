"""What a TCP session sends: segmentation, Nagle, windows, ACKs and their delay.

The send path respects the peer's window and the congestion window (RFC 9293 §3.8.6,
RFC 5681), avoids silly windows on both sides (RFC 9293 §3.8.6.2), and delays ACKs by at
most `TcpConfig.delayed_ack`, acknowledging at least every second full-sized segment
(RFC 9293 §3.8.6.3, RFC 5681 §4.2).
"""

from __future__ import annotations

from typing import Any

from pystack.layers.tcp_tcb import Tcb
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

__all__ = ["MAX_WINDOW", "OutputMixin"]

ACK = tcpwire.ACK
FIN = tcpwire.FIN
PSH = tcpwire.PSH
# Without window scaling (a later issue) the window field carries at most 65535.
MAX_WINDOW = 65535
# Flags of the states where our segments carry an ACK (every state past SYN_SENT).
_DATA_STATES = frozenset({"ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1", "LAST_ACK", "CLOSING"})


class OutputMixin(Tcb):
    """Send-side methods of a TCP session."""

    # ------------------------------------------------------------------- segment builder

    def make_segment(self, seq: SeqNum, flags: int, payload: bytes = b"") -> tcpwire.TcpSegment:
        """A segment of this connection carrying our current ACK and window."""
        assert self.remote_port is not None
        if flags & ACK:
            ack = self.rcv_nxt.value
            window = self.window_to_advertise()
        else:
            ack, window = 0, self.window_to_advertise()
        return tcpwire.TcpSegment(
            self.local_port, self.remote_port, seq.value, ack, flags, window, payload
        )

    def window_to_advertise(self) -> int:
        """RCV.WND to announce: free buffer space, never shrinking the right edge
        (RFC 9293 §3.8.6.2.2, MUST-35 discourages shrinking) and growing only in steps of
        min(buffer / 2, MSS) to avoid silly windows (MUST-39)."""
        free = min(self.rcvbuf.window, MAX_WINDOW)
        offered = max(self.rcv_adv - self.rcv_nxt, 0)
        wnd = free if free - offered >= min(self.rcvbuf.capacity // 2, self.config.mss) else offered
        self.rcv_adv = self.rcv_nxt + wnd
        return wnd

    # ---------------------------------------------------------------------------- ACKs

    def send_ack(self, **kw: Any) -> None:
        """Hook: send an ACK now (<SEQ=SND.MAX><ACK=RCV.NXT><CTL=ACK>).

        SND.MAX rather than RFC 9293's SND.NXT, as BSD does: after a timeout rewinds SND.NXT
        the peer's RCV.NXT may lie beyond it, and it would drop our ACKs as unacceptable.
        """
        self.ack_pending = 0
        self.delack_timer.cancel()
        self.emit_segment(self.make_segment(self.snd_max, ACK))

    def on_data_ack(self, seg: tcpwire.TcpSegment, full_sized: bool) -> None:
        """In-order data arrived: acknowledge it now or within the delayed-ACK time.

        RFC 9293 §3.8.6.3 (SHOULD-18/MUST-40): ACK at least every second full-sized
        segment, and within 0.5 s (we use `TcpConfig.delayed_ack`, 0.2 s by default).
        """
        self.ack_pending += 2 if full_sized else 1
        if self.ack_pending >= 3 or self.config.delayed_ack == 0:
            self.send_ack()
        else:
            self.delack_timer.arm_if_idle(self.config.delayed_ack)

    # ---------------------------------------------------------------------- data output

    def sndbuf_seq(self) -> SeqNum:
        """Sequence number of the first byte in the send buffer (after the SYN)."""
        if self.snd_una == self.iss:
            return self.iss + 1
        return self.snd_una

    def fin_seq(self) -> SeqNum:
        """Sequence number our FIN occupies (after every queued byte)."""
        return self.snd_fin

    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None:
        """Hook: emit one segment carrying ``data`` at ``seq`` (with ACK, maybe PSH/FIN)."""
        self.ack_pending = 0
        self.delack_timer.cancel()
        self.emit_segment(self.make_segment(seq, flags | ACK, data))

    def output(self, force_one: bool = False) -> None:
        """Send what the windows, Nagle and the queue allow (RFC 9293 §3.8.6.2.1, §3.7.4).

        ``force_one`` sends one segment regardless of the congestion window (a retransmission
        after a timeout, RFC 5681 §3.1).
        """
        if self.state not in _DATA_STATES:
            return
        start = self.sndbuf_seq()
        end = start + len(self.sndbuf)
        nxt = self.snd_nxt
        if not force_one and nxt == end and not (self.fin_queued and nxt == self.snd_fin):
            return  # nothing new to send (the common case on the receiving side)
        mss = self.snd_mss
        while True:
            window = min(self.snd_wnd, self.cc.cwnd)
            if force_one:
                window = max(window, min(self.snd_wnd, mss), 1)
            usable = (self.snd_una + window) - self.snd_nxt
            unsent = end - self.snd_nxt
            if unsent > 0:
                n = min(unsent, mss, usable)
                if n <= 0 or not self._may_send(n, unsent, force_one):
                    break
                self._emit_chunk(start, end, n)
            elif self.fin_queued and self.snd_nxt == self.snd_fin:
                self.send_data(self.snd_nxt, b"", FIN)
                self._advance_snd_nxt(self.snd_nxt + 1)
            else:
                break
            force_one = False
        if end - self.snd_nxt > 0 and self.snd_una == self.snd_max:
            # Data waits but nothing is in flight to bring an ACK: a zero or too small
            # window. Probe it (RFC 9293 §3.8.6.1) / override SWS avoidance (§3.8.6.2.1).
            self.enter_persist()
        else:
            self.arm_rexmit()

    def _may_send(self, n: int, unsent: int, force_one: bool) -> bool:
        """Sender silly-window avoidance and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4)."""
        if n >= self.snd_mss or force_one:
            return True
        in_flight = self.snd_max != self.snd_una
        if n == unsent and (self.config.nodelay or not in_flight):
            return True  # Nagle: a small segment only when nothing is unacknowledged
        return not in_flight and n >= self.max_snd_wnd // 2 > 0

    def _emit_chunk(self, start: SeqNum, end: SeqNum, n: int) -> None:
        seq = self.snd_nxt
        data = self.sndbuf.peek(seq - self.sndbuf_seq(), n)
        last = seq + n == end
        flags = PSH if last else 0
        if last and self.fin_queued and (self.snd_una + self.snd_wnd) - (seq + n) > 0:
            flags |= FIN
        if self.rtt_seq is None and seq == self.snd_max:
            # RFC 6298 §3: time one segment at a time; never a retransmitted one (Karn).
            self.rtt_seq = seq + n
            self.rtt_time = self.clock.seconds()
        self.send_data(seq, data, flags)
        self._advance_snd_nxt(seq + n + (1 if flags & FIN else 0))

    def _advance_snd_nxt(self, nxt: SeqNum) -> None:
        self.snd_nxt = nxt
        if nxt > self.snd_max:
            self.snd_max = nxt
