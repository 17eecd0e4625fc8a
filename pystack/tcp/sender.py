"""The send side of a TCP connection: what may be sent now and how it is cut.

`Sender` is a part the session owns (``session.sender``), as gVisor splits a connection's
sender from its receiver. It decides segmentation, sender silly-window avoidance and
Nagle (RFC 9293 §3.8.6.2.1, §3.7.4), what the peer's window and the congestion window
(RFC 5681) let out, retransmission by the SACK scoreboard during loss recovery
(RFC 6675 §5), and the window we advertise (RFC 9293 §3.8.6.2.2). The TCB variables
(SND.UNA, SND.NXT, SND.WND, ...) stay attributes of the session; the part reaches them,
and the session's hooks (`send_data` puts a segment on the wire), only through the
session passed to each method, typed `SenderOwner`. Replace it with ``TCPSession.sender_class``.
"""

from __future__ import annotations

from typing import Any, Protocol

from pystack.tcp.config import TcpConfig
from pystack.tcp.states import S
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

__all__ = [
    "MAX_WINDOW",
    "SACK_BLOCKS",
    "SACK_BLOCKS_WITH_TS",
    "SACK_MEMORY",
    "Sender",
    "SenderOwner",
]

# The data path works on SeqNum.value ints: the signed distance a - b modulo 2**32 is
# ((a - b + _HALF) & _MASK) - _HALF, the same arithmetic as SeqNum's (RFC 9293 §3.4).
_MASK = 0xFFFFFFFF
_HALF = 1 << 31

FIN = tcpwire.FIN
PSH = tcpwire.PSH
# The 16-bit window field: 65535 at most, shifted by RCV.WIND.SHIFT when scaling is on.
MAX_WINDOW = 65535
# RFC 2018 §3: NOP, NOP and a SACK option of n blocks take 4 + 8n bytes; 3 blocks fit
# beside the timestamps option, 4 without it.
SACK_BLOCKS_WITH_TS = 3
SACK_BLOCKS = 4
# Reported blocks the receiver remembers, most recent first (a few more than fit).
SACK_MEMORY = 8
# What a super-segment's datagram holds besides its text, at most: the IPv4 and TCP
# headers with the longest options each may carry (more than IPv6's fixed header and TCP's).
_HEADERS_MAX = 60 + 60


class SenderOwner(Protocol):
    """What `Sender` needs from its session: the TCB fields it reads and writes, and the
    session calls that put a segment on the wire or arm a timer."""

    state: str
    clock: Any
    config: TcpConfig
    cc: Any
    scoreboard: Any
    sndbuf: Any
    rcvbuf: Any
    reorder: Any
    sack_ok: bool
    ts_ok: bool
    sack_recent: list[SeqNum]
    snd_una: SeqNum
    snd_nxt: SeqNum
    snd_max: SeqNum
    snd_wnd: int
    max_snd_wnd: int
    snd_mss: int
    snd_fin: SeqNum
    fin_queued: bool
    rcv_nxt: SeqNum
    rcv_adv: SeqNum
    rtt_seq: SeqNum | None
    rtt_time: float

    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None: ...
    def send_super_segment(self, seq: SeqNum, data: bytes, flags: int, mss: int) -> None: ...
    def tso_max(self) -> int: ...
    def sndbuf_seq(self) -> SeqNum: ...
    def arm_rexmit(self) -> None: ...
    def enter_persist(self) -> None: ...


class Sender:
    """A session's send side (see the module docstring). Its methods take the session
    as an argument typed `SenderOwner`, so it holds no reference back (as `Timers`): the
    base class holds no state at all, and is not an object the cyclic GC tracks."""

    __slots__ = ()

    def sack_blocks(self, s: SenderOwner, limit: int) -> tuple[tuple[int, int], ...]:
        """The SACK blocks of our next ACK (RFC 2018 §4): first the block holding the
        most recently received out-of-order segment, then the blocks reported most
        recently before it, then any other held block, at most ``limit``. Every block is
        a merged range of the reorder queue, so it lies above RCV.NXT and no two overlap."""
        held = s.reorder.blocks()
        order: list[tuple[SeqNum, SeqNum]] = []
        kept: list[SeqNum] = []
        for seq in s.sack_recent:
            for block in held:
                if block[0] <= seq < block[1]:
                    if block not in order:
                        order.append(block)
                        kept.append(seq)
                    break
        # Remember only what still names a held block: delivered data drops out.
        s.sack_recent = kept[:SACK_MEMORY]
        for block in reversed(held):  # never reported (memory full): highest first
            if len(order) >= limit:
                break
            if block not in order:
                order.append(block)
        return tuple((left.value, right.value) for left, right in order[:limit])

    def sack_space(self, s: SenderOwner) -> int:
        """Option bytes the SACK blocks of our next segment may take (RFC 2018 §3): data
        segments shrink by as much, so that a segment never outgrows the MSS."""
        if not s.sack_ok or not len(s.reorder):
            return 0
        return 4 + 8 * (SACK_BLOCKS_WITH_TS if s.ts_ok else SACK_BLOCKS)

    def window_to_advertise(self, s: SenderOwner, shift: int = 0) -> int:
        """The window field to announce, RCV.WND >> ``shift``: free buffer space, never
        shrinking the right edge (RFC 9293 §3.8.6.2.2, MUST-35 discourages shrinking) and
        growing only in steps of min(buffer / 2, MSS) to avoid silly windows (MUST-39)."""
        rcvbuf = s.rcvbuf
        free = rcvbuf.window
        limit = MAX_WINDOW << shift
        if free > limit:
            free = limit
        rcv_nxt = s.rcv_nxt
        edge = ((s.rcv_adv.value - rcv_nxt.value + _HALF) & _MASK) - _HALF
        offered = edge if edge > 0 else 0
        if free - offered >= min(rcvbuf.capacity // 2, s.config.mss):
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
            s.rcv_adv = rcv_nxt + wnd
        return field

    def may_send_data(self, s: SenderOwner) -> bool:
        """Whether ``s`` may (re)transmit queued data and its FIN now: in the states of
        the ``may_send_data`` group (the handshake is done). An override lets an
        extension send earlier (TCP Fast Open's server, in SYN_RECEIVED)."""
        return s.state in S.may_send_data

    def output(self, s: SenderOwner, force_one: bool = False) -> None:
        """Send what the windows, Nagle and the queue allow (RFC 9293 §3.8.6.2.1, §3.7.4).

        ``force_one`` sends one segment regardless of the congestion window (a retransmission
        after a timeout, RFC 5681 §3.1).
        """
        if not self.may_send_data(s):
            return
        if s.sack_ok and not force_one and s.cc.in_recovery:
            self.sack_output(s)  # RFC 6675 §5: loss recovery sends by the scoreboard
            return
        start = s.sndbuf_seq().value
        end = (start + len(s.sndbuf)) & _MASK
        nxt = s.snd_nxt.value
        fin_queued = s.fin_queued
        if not force_one and nxt == end and not (fin_queued and nxt == s.snd_fin.value):
            return  # nothing new to send (the common case on the receiving side)
        mss = s.snd_mss - self.sack_space(s)
        # Only new text goes in super-segments: a lone FIN (a close) never asks the link.
        room = 0 if force_one or nxt == end else self._super_room(s, mss)
        while True:
            snd_wnd = s.snd_wnd
            window = min(snd_wnd, s.cc.cwnd)
            if force_one:
                window = max(window, min(snd_wnd, mss), 1)
            nxt = s.snd_nxt.value
            if nxt != s.snd_max.value and s.scoreboard:
                nxt = self._skip_sacked(s, nxt)
            usable = ((s.snd_una.value + window - nxt + _HALF) & _MASK) - _HALF
            unsent = ((end - nxt + _HALF) & _MASK) - _HALF
            if unsent > 0:
                if room and nxt == s.snd_max.value:
                    k = self._super_length(s, unsent, usable, mss, room)
                    if k:
                        self._emit_super(s, start, end, k, mss)
                        continue
                n = min(unsent, mss, usable)
                if n <= 0 or not self._may_send(s, n, unsent, force_one, mss):
                    break
                self._emit_chunk(s, start, end, n)
            elif s.fin_queued and nxt == s.snd_fin.value:
                s.send_data(s.snd_nxt, b"", FIN)
                self._advance_snd_nxt(s, s.snd_nxt + 1)
            else:
                break
            force_one = False
        if ((end - s.snd_nxt.value + _HALF) & _MASK) - _HALF > 0 and (
            s.snd_una.value == s.snd_max.value
        ):
            # Data waits but nothing is in flight to bring an ACK: a zero or too small
            # window. Probe it (RFC 9293 §3.8.6.1) / override SWS avoidance (§3.8.6.2.1).
            s.enter_persist()
        else:
            s.arm_rexmit()

    def _may_send(self, s: SenderOwner, n: int, unsent: int, force_one: bool, mss: int) -> bool:
        """Sender silly-window avoidance and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4)."""
        if n >= mss or force_one:
            return True
        # RFC 9293 §3.7.4: Nagle waits on unacknowledged data; our own unacknowledged SYN
        # is not (Fast Open's server sends in SYN_RECEIVED).
        in_flight = s.snd_max.value != s.sndbuf_seq().value
        if n == unsent and (s.config.nodelay or not in_flight or s.fin_queued):
            # Nagle: a small segment only when nothing is unacknowledged; but after CLOSE
            # no later write can join the tail, and holding it for an ACK the peer may
            # delay (RFC 9293 §3.8.6.3, an odd segment count) only stalls the close (as
            # Linux's tcp_nagle_test exempts the final FIN).
            return True
        return not in_flight and n >= s.max_snd_wnd // 2 > 0

    def _emit_chunk(self, s: SenderOwner, start: int, end: int, n: int) -> None:
        """Send ``n`` new bytes at SND.NXT; ``start``/``end`` bound the send buffer (ints)."""
        seq = s.snd_nxt
        seq_v = seq.value
        data = s.sndbuf.peek(((seq_v - start + _HALF) & _MASK) - _HALF, n)
        after = (seq_v + n) & _MASK
        last = after == end
        flags = PSH if last else 0
        if (
            last
            and s.fin_queued
            and (((s.snd_una.value + s.snd_wnd - after + _HALF) & _MASK) - _HALF > 0)
        ):
            flags |= FIN
        if s.rtt_seq is None and seq_v == s.snd_max.value:
            # RFC 6298 §3: time one segment at a time; never a retransmitted one (Karn).
            s.rtt_seq = SeqNum(after)
            s.rtt_time = s.clock.seconds()
        s.send_data(seq, data, flags)
        self._advance_snd_nxt(s, SeqNum(after + 1 if flags & FIN else after))

    def _super_room(self, s: SenderOwner, mss: int) -> int:
        """The most text a super-segment may carry (whole segments of ``mss`` bytes), or 0
        when the link cuts none or fewer than two segments would fit."""
        tso_max = s.tso_max()
        if not tso_max or mss <= 0:
            return 0
        room = (tso_max - _HEADERS_MAX) // mss * mss
        return room if room >= 2 * mss else 0

    def _super_length(self, s: SenderOwner, unsent: int, usable: int, mss: int, room: int) -> int:
        """How much new text at SND.NXT goes out as one super-segment: the whole segments
        that the peer's window and cwnd (RFC 9293 §3.8.6.2.1, RFC 5681 §3.1: bytes, as for
        plain segments) let out now. Only full-sized segments, which Nagle (RFC 9293
        §3.7.4) and sender SWS avoidance (§3.8.6.2.1) always pass: a shorter tail is left
        to those rules. Never the FIN: the
        last segment before it goes alone, carrying it as a plain one would. 0 when fewer
        than two segments would go (a super-segment of one is a plain segment)."""
        n = min(unsent, usable, room)
        k = n - n % mss
        if k == unsent and s.fin_queued:
            k -= mss
        return k if k >= 2 * mss else 0

    def _emit_super(self, s: SenderOwner, start: int, end: int, k: int, mss: int) -> None:
        """Send ``k`` new bytes at SND.NXT as one super-segment of ``mss``-sized segments;
        PSH when it empties the queue (the device sets it on the last segment only)."""
        seq = s.snd_nxt
        seq_v = seq.value
        data = s.sndbuf.peek(((seq_v - start + _HALF) & _MASK) - _HALF, k)
        after = (seq_v + k) & _MASK
        if s.rtt_seq is None and seq_v == s.snd_max.value:
            # RFC 6298 §3: time the first segment, as if the segments went one by one.
            s.rtt_seq = SeqNum((seq_v + mss) & _MASK)
            s.rtt_time = s.clock.seconds()
        s.send_super_segment(seq, data, PSH if after == end else 0, mss)
        self._advance_snd_nxt(s, SeqNum(after))

    def _skip_sacked(self, s: SenderOwner, nxt: int) -> int:
        """Going back after a timeout, skip a range the peer has SACKed since (RFC 6675
        §5.1 lets the scoreboard rebuilt after the timeout spare its bytes)."""
        skipped = s.scoreboard.sacked_end(nxt, s.snd_una.value)
        if skipped != nxt:
            s.snd_nxt = SeqNum(skipped)
        return skipped

    def sack_output(self, s: SenderOwner) -> None:
        """Loss recovery with SACK (RFC 6675 §5 step (C)): while cwnd - pipe >= 1 SMSS,
        send NextSeg: a lost hole above HighRxt (rule 1), else new data (rule 2), else
        any hole above HighRxt below the highest SACKed byte (rule 3). Each send raises
        pipe, so the loop ends."""
        board, mss = s.scoreboard, s.snd_mss - self.sack_space(s)
        last_pipe = -1
        while True:
            una = s.snd_una.value
            pipe = board.pipe(una, s.snd_max.value, mss)
            if s.cc.cwnd - pipe < mss or pipe <= last_pipe:
                break  # (the second test only guards against a send that changed nothing)
            last_pipe = pipe
            hole = board.next_retransmission(una, mss)
            if hole is not None and hole[2]:
                self.sack_retransmit(s, hole[0], hole[1])
            elif not self._send_new_segment(s, mss):
                if hole is None:
                    break
                self.sack_retransmit(s, hole[0], hole[1])
        s.arm_rexmit()

    def sack_retransmit(self, s: SenderOwner, seq: int, length: int) -> None:
        """Resend [seq, seq + length) (un-SACKed bytes) and move HighRxt past it."""
        data = s.sndbuf.peek(((seq - s.sndbuf_seq().value + _HALF) & _MASK) - _HALF, length)
        s.rtt_seq = None  # Karn (RFC 6298 §3): no sample across a retransmission
        s.scoreboard.retransmitted(seq, max(len(data), 1), s.snd_una.value)
        if data:
            s.send_data(SeqNum(seq), data, 0)

    def _send_new_segment(self, s: SenderOwner, mss: int) -> bool:
        """RFC 6675 NextSeg rule (2): one segment of new data (or our FIN) the peer's
        window allows; False when there is none."""
        start = s.sndbuf_seq().value
        end = (start + len(s.sndbuf)) & _MASK
        nxt = s.snd_nxt.value
        room = ((s.snd_una.value + s.snd_wnd - nxt + _HALF) & _MASK) - _HALF
        unsent = ((end - nxt + _HALF) & _MASK) - _HALF
        if unsent > 0 and room > 0:
            self._emit_chunk(s, start, end, min(unsent, mss, room))
            return True
        if unsent <= 0 and s.fin_queued and nxt == s.snd_fin.value:
            s.send_data(s.snd_nxt, b"", FIN)
            self._advance_snd_nxt(s, s.snd_nxt + 1)
            return True
        return False

    def _advance_snd_nxt(self, s: SenderOwner, nxt: SeqNum) -> None:
        s.snd_nxt = nxt
        if ((nxt.value - s.snd_max.value + _HALF) & _MASK) - _HALF > 0:
            s.snd_max = nxt
