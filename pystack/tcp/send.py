"""What a TCP session sends: segmentation, Nagle, windows, ACKs and their delay.

The send path respects the peer's window and the congestion window (RFC 9293 §3.8.6,
RFC 5681), avoids silly windows on both sides (RFC 9293 §3.8.6.2), and delays ACKs by at
most `TcpConfig.delayed_ack`, acknowledging at least every second full-sized segment
(RFC 9293 §3.8.6.3, RFC 5681 §4.2).
"""

from __future__ import annotations

from typing import Any

from pystack.tcp.states import S
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
PSH = tcpwire.PSH
RST = tcpwire.RST
# The 16-bit window field: 65535 at most, shifted by RCV.WIND.SHIFT when scaling is on.
MAX_WINDOW = 65535
# RFC 2018 §3: NOP, NOP and a SACK option of n blocks take 4 + 8n bytes; 3 blocks fit
# beside the timestamps option, 4 without it.
SACK_BLOCKS_WITH_TS = 3
SACK_BLOCKS = 4
# Reported blocks the receiver remembers, most recent first (a few more than fit).
SACK_MEMORY = 8
# Flags of the states where our segments carry an ACK (every state past SYN_SENT).


class OutputMixin(Tcb):
    """Send-side methods of a TCP session."""

    # ------------------------------------------------------------------- segment builder

    def make_segment(self, seq: SeqNum, flags: int, payload: bytes = b"") -> tcpwire.TcpSegment:
        """A segment of this connection carrying our current ACK and window."""
        assert self.remote_port is not None
        # RFC 7323 §2.2: the window of a SYN or SYN,ACK is never scaled.
        window = self.window_to_advertise(0 if flags & SYN else self.rcv_wscale)
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
                options += (NOP, NOP, Sack(self.sack_blocks(SACK_BLOCKS_WITH_TS)))
            return tcpwire.TcpSegment(
                self.local_port, self.remote_port, seq.value, ack, flags, window, payload,
                options,
            )  # fmt: skip
        if sack:
            return tcpwire.TcpSegment(
                self.local_port, self.remote_port, seq.value, ack, flags, window, payload,
                (NOP, NOP, Sack(self.sack_blocks(SACK_BLOCKS))),
            )  # fmt: skip
        return tcpwire.TcpSegment(
            self.local_port, self.remote_port, seq.value, ack, flags, window, payload
        )

    def sack_blocks(self, limit: int) -> tuple[tuple[int, int], ...]:
        """The SACK blocks of our next ACK (RFC 2018 §4): first the block holding the
        most recently received out-of-order segment, then the blocks reported most
        recently before it, then any other held block, at most ``limit``. Every block is
        a merged range of the reorder queue, so it lies above RCV.NXT and no two overlap."""
        held = self.reorder.blocks()
        order: list[tuple[SeqNum, SeqNum]] = []
        kept: list[SeqNum] = []
        for seq in self.sack_recent:
            for block in held:
                if block[0] <= seq < block[1]:
                    if block not in order:
                        order.append(block)
                        kept.append(seq)
                    break
        # Remember only what still names a held block: delivered data drops out.
        self.sack_recent = kept[:SACK_MEMORY]
        for block in reversed(held):  # never reported (memory full): highest first
            if len(order) >= limit:
                break
            if block not in order:
                order.append(block)
        return tuple((left.value, right.value) for left, right in order[:limit])

    def sack_space(self) -> int:
        """Option bytes the SACK blocks of our next segment may take (RFC 2018 §3): data
        segments shrink by as much, so that a segment never outgrows the MSS."""
        if not self.sack_ok or not len(self.reorder):
            return 0
        return 4 + 8 * (SACK_BLOCKS_WITH_TS if self.ts_ok else SACK_BLOCKS)

    def ts_val(self) -> int:
        """Our TSval: a millisecond clock (RFC 7323 §5.4: 1 ms to 1 s per tick) plus the
        connection's random offset (§7.1), modulo 2**32."""
        return (self.ts_offset + int(self.clock.seconds() * 1000)) & _MASK

    def window_to_advertise(self, shift: int = 0) -> int:
        """The window field to announce, RCV.WND >> ``shift``: free buffer space, never
        shrinking the right edge (RFC 9293 §3.8.6.2.2, MUST-35 discourages shrinking) and
        growing only in steps of min(buffer / 2, MSS) to avoid silly windows (MUST-39)."""
        rcvbuf = self.rcvbuf
        free = rcvbuf.window
        limit = MAX_WINDOW << shift
        if free > limit:
            free = limit
        rcv_nxt = self.rcv_nxt
        edge = ((self.rcv_adv.value - rcv_nxt.value + _HALF) & _MASK) - _HALF
        offered = edge if edge > 0 else 0
        if free - offered >= min(rcvbuf.capacity // 2, self.config.mss):
            field = free >> shift
        else:
            field = offered >> shift
        if field << shift < offered:
            # RFC 7323 §2.4: round up to the scale unit so that the right edge never moves
            # left (the receive buffer takes the few bytes beyond its capacity).
            field = min(-(-offered >> shift), MAX_WINDOW)
        elif field > MAX_WINDOW:
            # An unscaled SYN,ACK resent after a scaled ACK (RFC 7323 §2.2): the field says
            # what it can; RCV.ADV keeps the edge already announced.
            return MAX_WINDOW
        wnd = field << shift
        if wnd != edge:  # else RCV.ADV already is RCV.NXT + wnd
            self.rcv_adv = rcv_nxt + wnd
        return field

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

    def on_data_ack(self, seg: tcpwire.TcpSegment, full_sized: bool) -> None:
        """In-order data arrived: acknowledge it now or within the delayed-ACK time.

        RFC 9293 §3.8.6.3 (SHOULD-18/MUST-40): ACK at least every second full-sized
        segment, and within 0.5 s (we use `TcpConfig.delayed_ack`, 0.2 s by default).
        """
        self.ack_pending += 2 if full_sized else 1
        if self.ack_pending >= 3 or self.config.delayed_ack == 0:
            self.send_ack()
        else:
            self.timers.delack.arm_if_idle(self.config.delayed_ack)

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
        if ((seq.value - self.snd_max.value + _HALF) & _MASK) - _HALF < 0:
            self.rexmit_bytes += len(data)
        self.ack_pending = 0
        self.timers.delack.cancel()
        self.emit_segment(self.make_segment(seq, flags | ACK, data))

    def output(self, force_one: bool = False) -> None:
        """Send what the windows, Nagle and the queue allow (RFC 9293 §3.8.6.2.1, §3.7.4).

        ``force_one`` sends one segment regardless of the congestion window (a retransmission
        after a timeout, RFC 5681 §3.1).
        """
        if self.state not in S.may_send_data:
            return
        if self.sack_ok and not force_one and self.cc.in_recovery:
            self.sack_output()  # RFC 6675 §5: loss recovery sends by the scoreboard
            return
        start = self.sndbuf_seq().value
        end = (start + len(self.sndbuf)) & _MASK
        nxt = self.snd_nxt.value
        fin_queued = self.fin_queued
        if not force_one and nxt == end and not (fin_queued and nxt == self.snd_fin.value):
            return  # nothing new to send (the common case on the receiving side)
        mss = self.snd_mss - self.sack_space()
        while True:
            snd_wnd = self.snd_wnd
            window = min(snd_wnd, self.cc.cwnd)
            if force_one:
                window = max(window, min(snd_wnd, mss), 1)
            nxt = self.snd_nxt.value
            if self.scoreboard and nxt != self.snd_max.value:
                nxt = self._skip_sacked(nxt)
            usable = ((self.snd_una.value + window - nxt + _HALF) & _MASK) - _HALF
            unsent = ((end - nxt + _HALF) & _MASK) - _HALF
            if unsent > 0:
                n = min(unsent, mss, usable)
                if n <= 0 or not self._may_send(n, unsent, force_one, mss):
                    break
                self._emit_chunk(start, end, n)
            elif self.fin_queued and nxt == self.snd_fin.value:
                self.send_data(self.snd_nxt, b"", FIN)
                self._advance_snd_nxt(self.snd_nxt + 1)
            else:
                break
            force_one = False
        if ((end - self.snd_nxt.value + _HALF) & _MASK) - _HALF > 0 and (
            self.snd_una.value == self.snd_max.value
        ):
            # Data waits but nothing is in flight to bring an ACK: a zero or too small
            # window. Probe it (RFC 9293 §3.8.6.1) / override SWS avoidance (§3.8.6.2.1).
            self.enter_persist()
        else:
            self.arm_rexmit()

    def _may_send(self, n: int, unsent: int, force_one: bool, mss: int) -> bool:
        """Sender silly-window avoidance and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4)."""
        if n >= mss or force_one:
            return True
        in_flight = self.snd_max.value != self.snd_una.value
        if n == unsent and (self.config.nodelay or not in_flight or self.fin_queued):
            # Nagle: a small segment only when nothing is unacknowledged; but after CLOSE
            # no later write can join the tail, and holding it for an ACK the peer may
            # delay (RFC 9293 §3.8.6.3, an odd segment count) only stalls the close (as
            # Linux's tcp_nagle_test exempts the final FIN).
            return True
        return not in_flight and n >= self.max_snd_wnd // 2 > 0

    def _emit_chunk(self, start: int, end: int, n: int) -> None:
        """Send ``n`` new bytes at SND.NXT; ``start``/``end`` bound the send buffer (ints)."""
        seq = self.snd_nxt
        seq_v = seq.value
        data = self.sndbuf.peek(((seq_v - start + _HALF) & _MASK) - _HALF, n)
        after = (seq_v + n) & _MASK
        last = after == end
        flags = PSH if last else 0
        if (
            last
            and self.fin_queued
            and (((self.snd_una.value + self.snd_wnd - after + _HALF) & _MASK) - _HALF > 0)
        ):
            flags |= FIN
        if self.rtt_seq is None and seq_v == self.snd_max.value:
            # RFC 6298 §3: time one segment at a time; never a retransmitted one (Karn).
            self.rtt_seq = SeqNum(after)
            self.rtt_time = self.clock.seconds()
        self.send_data(seq, data, flags)
        self._advance_snd_nxt(SeqNum(after + 1 if flags & FIN else after))

    def _skip_sacked(self, nxt: int) -> int:
        """Going back after a timeout, skip a range the peer has SACKed since (RFC 6675
        §5.1 lets the scoreboard rebuilt after the timeout spare its bytes)."""
        skipped = self.scoreboard.sacked_end(nxt, self.snd_una.value)
        if skipped != nxt:
            self.snd_nxt = SeqNum(skipped)
        return skipped

    def sack_output(self) -> None:
        """Loss recovery with SACK (RFC 6675 §5 step (C)): while cwnd - pipe >= 1 SMSS,
        send NextSeg: a lost hole above HighRxt (rule 1), else new data (rule 2), else
        any hole above HighRxt below the highest SACKed byte (rule 3). Each send raises
        pipe, so the loop ends."""
        board, mss = self.scoreboard, self.snd_mss - self.sack_space()
        last_pipe = -1
        while True:
            una = self.snd_una.value
            pipe = board.pipe(una, self.snd_max.value, mss)
            if self.cc.cwnd - pipe < mss or pipe <= last_pipe:
                break  # (the second test only guards against a send that changed nothing)
            last_pipe = pipe
            hole = board.next_retransmission(una, mss)
            if hole is not None and hole[2]:
                self.sack_retransmit(hole[0], hole[1])
            elif not self._send_new_segment(mss):
                if hole is None:
                    break
                self.sack_retransmit(hole[0], hole[1])
        self.arm_rexmit()

    def sack_retransmit(self, seq: int, length: int) -> None:
        """Resend [seq, seq + length) (un-SACKed bytes) and move HighRxt past it."""
        data = self.sndbuf.peek(((seq - self.sndbuf_seq().value + _HALF) & _MASK) - _HALF, length)
        self.rtt_seq = None  # Karn (RFC 6298 §3): no sample across a retransmission
        self.scoreboard.retransmitted(seq, max(len(data), 1), self.snd_una.value)
        if data:
            self.send_data(SeqNum(seq), data, 0)

    def _send_new_segment(self, mss: int) -> bool:
        """RFC 6675 NextSeg rule (2): one segment of new data (or our FIN) the peer's
        window allows; False when there is none."""
        start = self.sndbuf_seq().value
        end = (start + len(self.sndbuf)) & _MASK
        nxt = self.snd_nxt.value
        room = ((self.snd_una.value + self.snd_wnd - nxt + _HALF) & _MASK) - _HALF
        unsent = ((end - nxt + _HALF) & _MASK) - _HALF
        if unsent > 0 and room > 0:
            self._emit_chunk(start, end, min(unsent, mss, room))
            return True
        if unsent <= 0 and self.fin_queued and nxt == self.snd_fin.value:
            self.send_data(self.snd_nxt, b"", FIN)
            self._advance_snd_nxt(self.snd_nxt + 1)
            return True
        return False

    def _advance_snd_nxt(self, nxt: SeqNum) -> None:
        self.snd_nxt = nxt
        if ((nxt.value - self.snd_max.value + _HALF) & _MASK) - _HALF > 0:
            self.snd_max = nxt
