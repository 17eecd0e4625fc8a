"""ACK processing (RFC 9293 §3.10.7.4, fifth check, once an ACK is acceptable): free
what the peer acknowledged, sample the RTT, let the congestion controller grow cwnd or
start a fast retransmit, restart the retransmission timer, and take SACK blocks into the
scoreboard. `TCPSession` inherits these methods; each one is a hook an extension may
override (docs/extending.md).
"""

from __future__ import annotations

from pystack.tcp.congestion import Action
from pystack.tcp.tcb import Tcb
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

__all__ = ["AckMixin"]

_MASK = 0xFFFFFFFF
_HALF = 1 << 31  # ((a - b + _HALF) & _MASK) - _HALF: SeqNum(a) - SeqNum(b) on ints


class AckMixin(Tcb):
    """What an acceptable ACK does to the send side of a connection."""

    def on_ack_advanced(self, acked: int, seg: tcpwire.TcpSegment) -> None:
        """New data acknowledged: free it, sample the RTT, grow cwnd, restart the timer."""
        ack_v = seg.ack
        ack = SeqNum(ack_v)
        start = self.sndbuf_seq().value
        data_acked = min(max(((ack_v - start + _HALF) & _MASK) - _HALF, 0), len(self.sndbuf))
        self.snd_una = ack
        if ((self.snd_nxt.value - ack_v + _HALF) & _MASK) - _HALF < 0:
            self.snd_nxt = ack
        if data_acked:
            self.sndbuf.ack(data_acked)
        rtt_seq = self.rtt_seq
        now = self.clock.seconds()
        sample = None
        if rtt_seq is not None and ((ack_v - rtt_seq.value + _HALF) & _MASK) - _HALF >= 0:
            sample = now - self.rtt_time
            self.rtt.on_sample(sample)  # RFC 6298 §2, §3
            self.rtt_seq = None
        if self.ts_ok and seg.timestamp is not None and seg.timestamp[1]:
            # RFC 7323 §4: every ACK echoing our TSval measures the RTT (the controller's
            # samples; HyStart++ wants several per round, RFC 9406 §4.2).
            elapsed = (self.ts_val() - seg.timestamp[1]) & _MASK
            sample = elapsed / 1000 if elapsed < _HALF else sample
        if sample is not None:
            self.cc.on_rtt_sample(sample, now)
        self.rexmit_since = None
        self.dupacks = 0
        if self.cc.on_ack(ack, acked, self.snd_max) is Action.RETRANSMIT:
            self._retransmit_una()
        if not self.cc.in_recovery:
            self.scoreboard.high_rxt = None
        self.timers.rexmit.cancel()  # RFC 6298 §5.3: restart on new data acknowledged
        if ack_v != self.snd_max.value:
            self.arm_rexmit()
        if self.user is not None and data_acked:
            self.user.tcp_writable(self)

    def on_dupack(self, seg: tcpwire.TcpSegment) -> None:
        """A duplicate ACK (RFC 5681 §2): the controller decides on fast retransmit."""
        if self.snd_una.value == self.snd_max.value:
            return
        self.dupacks += 1
        if self.cc.on_dupack(self.snd_una, self.snd_max) is Action.RETRANSMIT:
            self.rtt_seq = None  # Karn
            self.scoreboard.high_rxt = self.snd_una.value  # RFC 6675 §5 step 4.1
            self._retransmit_una()
        elif self.dupacks <= 2 and not self.cc.in_recovery:
            self._limited_transmit()
            return
        self.output()

    def _limited_transmit(self) -> None:
        """RFC 5681 §3.2 step 1 (RFC 3042, SHOULD): on the first two duplicate ACKs, send
        new data the peer's window allows with up to cwnd + 2*SMSS outstanding, so that a
        small window still brings the three duplicate ACKs fast retransmit needs."""
        cwnd = self.cc.cwnd
        self.cc.cwnd = cwnd + self.dupacks * self.snd_mss
        try:
            self.output()
        finally:
            self.cc.cwnd = cwnd

    def _retransmit_una(self) -> None:
        """Resend the first unacknowledged segment without rewinding SND.NXT; with SACK
        only up to the first SACKed byte (RFC 6675 §5 step 4.3)."""
        start = self.sndbuf_seq()
        offset = self.snd_una - start
        una = self.snd_una.value
        size = min(self.snd_mss - self.sack_space(), self.snd_max - self.snd_una)
        holes = self.scoreboard.holes(una, self.snd_mss) if self.scoreboard else []
        if holes:
            size = min(size, (holes[0][1] - una) & _MASK)
            self.scoreboard.retransmitted(una, size, una)
        data = self.sndbuf.peek(offset, size)
        flags = 0
        if self.fin_queued and self.snd_una + len(data) == self.fin_seq():
            flags = tcpwire.FIN if self.snd_max > self.fin_seq() else 0
        if data or flags:
            self.send_data(self.snd_una, data, flags)

    def sack_update(self, seg: tcpwire.TcpSegment, ack: SeqNum) -> int:
        """Take an acceptable ACK's SACK blocks into the scoreboard; returns the bytes
        newly SACKed (RFC 6675 §5 step (A))."""
        blocks = seg.sack_blocks
        if not blocks and not self.scoreboard:
            return 0
        return self.scoreboard.update(ack.value, self.snd_max.value, blocks)
