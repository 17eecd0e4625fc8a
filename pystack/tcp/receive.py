"""SEGMENT ARRIVES (RFC 9293 §3.10.7) as an ordered pipeline of small named checks.

Each check takes the session and the segment and returns the segment to continue with
(possibly trimmed to the window) or None when processing stops; a drop is counted with
its `TcpDrop` reason. The checks run before any trigger fires, and in-window data in the
synchronized states goes through plain methods, never one trigger per segment.
RFC 5961 hardens the RST, SYN and ACK checks against blind in-window attacks; its
challenge ACKs go through the host's per-second limit (§7). With timestamps on, PAWS
(RFC 7323 §5) runs before the sequence test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pystack.layers.ip_meta import IpMeta
from pystack.tcp.config import MAX_WSCALE, CloseReason, TcpDrop
from pystack.tcp.receiver import Receiver
from pystack.tcp.states import TCP, S
from pystack.tcp.tcb import Tcb
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp_options import Timestamp

if TYPE_CHECKING:
    from pystack.tcp.listener import Listener

__all__ = ["PAWS_IDLE", "InputMixin", "paws_ok", "syn_reopens_time_wait"]

FIN, SYN, RST, PSH, ACK = tcpwire.FIN, tcpwire.SYN, tcpwire.RST, tcpwire.PSH, tcpwire.ACK
Seg = tcpwire.TcpSegment
Check = Callable[["InputMixin", Seg], "Seg | None"]

# States whose data we still accept: the peer has not sent its FIN (RFC 9293 §3.10.7.4).
# Signed distances on SeqNum.value ints in the hot checks (RFC 9293 §3.4 arithmetic):
# ((a - b + _HALF) & _MASK) - _HALF is SeqNum(a) - SeqNum(b).
_MASK = 0xFFFFFFFF
_HALF = 1 << 31
# The MSS assumed when a SYN carries no MSS option (RFC 9293 §3.7.1, MUST-15).
DEFAULT_MSS = 536
# NOP, NOP, TSopt: what timestamps add to every segment (RFC 7323 Appendix A).
TS_OPTION_LEN = 12
# RFC 7323 §5.5: TS.Recent of a connection idle for more than 24 days is invalid, since
# the peer's TSval may have advanced by half its space since (Linux: TCP_PAWS_24DAYS).
PAWS_IDLE = 24 * 24 * 3600.0


def seg_len(seg: Seg) -> int:
    """SEG.LEN: payload plus one for each of SYN and FIN (RFC 9293 §3.3.1)."""
    return len(seg.payload) + (seg.flags & SYN and 1) + (seg.flags & FIN and 1)


def seg_tsval(seg: Seg) -> int | None:
    """SEG.TSval when the segment carries the timestamps option (RFC 7323 §3.2)."""
    for opt in seg.options:
        if type(opt) is Timestamp:
            return opt.tsval
    return None


def paws_ok(tsval: int, ts_recent: int, ts_recent_age: float, now: float) -> bool:
    """RFC 7323 §5.3 R1 as Linux's tcp_paws_check: SEG.TSval is not older than TS.Recent
    (modulo 2**32), or TS.Recent does not count: set at ``ts_recent_age`` more than 24
    days before ``now`` (§5.5), or 0 (Linux: some hosts send TSval 0 on their SYN only)."""
    return (tsval - ts_recent) & _MASK < _HALF or now - ts_recent_age >= PAWS_IDLE or ts_recent == 0


def syn_reopens_time_wait(
    seg: Seg, rcv_nxt: int, ts_recent: int | None, ts_recent_age: float, now: float
) -> bool:
    """Whether ``seg`` is a SYN (no ACK, no RST) that reopens a connection in TIME_WAIT,
    as Linux's tcp_timewait_state_process decides it. ``ts_recent`` is None when the old
    connection did not use timestamps. RFC 6191 §2: with timestamps on both connections,
    a SYN whose TSval is newer than TS.Recent reopens; one PAWS rejects never does. Else
    RFC 1122 §4.2.2.13: SEG.SEQ > RCV.NXT. Used for sessions and records alike."""
    if seg.flags & (SYN | ACK | RST) != SYN:
        return False
    tsval = None if ts_recent is None else seg_tsval(seg)
    if tsval is not None and ts_recent is not None:
        if not paws_ok(tsval, ts_recent, ts_recent_age, now):
            return False
        if 0 < (tsval - ts_recent) & _MASK < _HALF:
            return True
    return 0 < (seg.seq - rcv_nxt) & _MASK < _HALF


class InputMixin(Tcb):
    """The SEGMENT ARRIVES hooks of a TCP session (the ``check_*`` pipeline); what
    becomes of accepted text is its `Receiver` part's (``session.receiver``)."""

    __slots__ = ()
    receiver: Receiver  # TCPSession.receiver
    listen_side: Listener  # TCPSession.listen_side
    ts_recent_age: float
    """Clock time TS.Recent was last set (RFC 7323 §5.5: invalid after 24 days)."""

    # ----------------------------------------------------------- §3.10.7.1 CLOSED state

    def _in_closed(self, seg: Seg, meta: IpMeta) -> None:
        self.count_drop(TcpDrop.CLOSED_STATE)
        if not seg.flags & RST:
            self.send_rst_reply(seg, meta)

    # ----------------------------------------------------------- §3.10.7.2 LISTEN state

    def _in_listen(self, seg: Seg, meta: IpMeta) -> None:
        flags = seg.flags
        if flags & RST:
            self.count_drop(TcpDrop.LISTEN_NOT_SYN)  # first: an RST is ignored
            return
        if flags & ACK:
            if self.listen_side.cookie_ack(
                self, seg, meta
            ):  # the ACK of a SYN cookie (RFC 4987 §3.6)
                return
            self.count_drop(TcpDrop.LISTEN_ACK)  # second: <SEQ=SEG.ACK><CTL=RST>
            self.send_rst_reply(seg, meta)
            return
        if not flags & SYN:
            self.count_drop(TcpDrop.LISTEN_NOT_SYN)
            return
        self.listen_side.syn(self, seg, meta)

    def take_syn(self, seg: Seg) -> None:
        """Record the peer's SYN: IRS, RCV.NXT, its window and MSS (RFC 9293 §3.10.7.2)."""
        self.irs = SeqNum(seg.seq)
        self.rcv_nxt = self.irs + 1
        self.rcv_adv = self.rcv_nxt
        self.snd_wnd = self.max_snd_wnd = seg.window
        self.snd_wl1 = self.irs  # SeqNum is immutable: one object for both
        # RFC 9293 §3.7.1 (MUST-15): 536 when the SYN carries no MSS option.
        peer_mss = seg.mss if seg.mss else DEFAULT_MSS
        tsval = seg_tsval(seg)
        # RFC 7323 §3.2: timestamps are on only if both SYNs carry TSopt (we offer it
        # whenever `TcpConfig.timestamps` is on).
        self.ts_ok = tsval is not None and self.config.timestamps
        mss = min(peer_mss, self.local_mss)
        if self.ts_ok:
            self.ts_recent = tsval or 0
            self.ts_recent_age = self.clock.seconds()
            mss -= TS_OPTION_LEN  # RFC 7323 §3.2, RFC 6691 §2: options come out of the MSS
        self.snd_mss = max(1, mss)
        # RFC 2018 §2: SACK only if both SYNs carry SACK-permitted (we offer it whenever
        # `TcpConfig.sack` is on).
        self.sack_ok = seg.sack_permitted and self.config.sack
        self.cc = self.new_cc(self.snd_mss)
        self.cc.sack = self.sack_ok
        self._negotiate_wscale(seg.wscale)

    def _negotiate_wscale(self, shift: int | None) -> None:
        """RFC 7323 §2.2: scaling is on only if both SYNs carry the option (we offer it
        whenever `TcpConfig.window_scaling` is on); §2.3: a shift above 14 is used as 14."""
        if shift is not None and self.config.window_scaling:
            self.snd_wscale = min(shift, MAX_WSCALE)
            self.wscale_ok = True
        else:
            self.snd_wscale = self.rcv_wscale = 0
            self.wscale_ok = False

    # --------------------------------------------------------- §3.10.7.3 SYN-SENT state

    def _in_syn_sent(self, seg: Seg) -> None:
        flags = seg.flags
        if flags & ACK:
            ack = seg.ack
            # First: an ACK that does not acknowledge our SYN is unacceptable: SEG.ACK =<
            # ISS or SEG.ACK > SND.NXT (signed distances, RFC 9293 §3.4).
            if ((ack - self.iss.value + _HALF) & _MASK) - _HALF <= 0 or (
                ((ack - self.snd_max.value + _HALF) & _MASK) - _HALF > 0
            ):
                self.count_drop(TcpDrop.SYN_SENT_BAD_ACK)
                if not flags & RST:
                    self.send_rst_reply(seg)
                return
        if flags & RST:
            # Second (and RFC 5961 §3): only an RST acknowledging our SYN resets.
            if flags & ACK:
                self.fire("rcv_rst", segment=seg, reason=CloseReason.RESET)
            else:
                self.count_drop(TcpDrop.SYN_SENT_RST_NO_ACK)
            return
        if not flags & SYN:
            self.count_drop(TcpDrop.SYN_SENT_NO_SYN)  # fifth: neither SYN nor RST
            return
        self.take_syn(seg)  # fourth
        self.snd_wl2 = SeqNum(seg.ack) if flags & ACK else self.iss
        if flags & ACK:
            self.snd_una = self.snd_wl2
            self.timers.rexmit.cancel()
            self.rtt.begin_data_transfer(self.rexmit_since is not None)
            self.rexmit_since = None
            if self.fire("rcv_synack", segment=seg) and self.state in S.may_send_data:
                # RFC 9293 §3.10.2: data queued in SYN-SENT goes once ESTABLISHED.
                self.output()
        else:
            # Simultaneous open (RFC 9293 §3.5, Figure 8).
            self.fire("rcv_syn", segment=seg)

    # ---------------------------------------------- §3.10.7.4 the synchronized states

    # The checks of RFC 9293 §3.10.7.4 in order (the third, security, does not apply),
    # PAWS first (RFC 7323 §5.3 R1 precedes the sequence test); resolved per class so
    # that a subclass may override any of them.
    PIPELINE: tuple[str, ...] = (
        "check_paws", "check_sequence", "check_rst", "check_syn", "check_ack", "check_text",
        "check_fin",
    )  # fmt: skip
    fast_receive_path = True
    """Class setting: whether segments in the synchronized states take the fused form of
    the default `PIPELINE` (`_in_synchronized_default`), which calls the default
    ``check_*`` methods only where they can change or stop the segment. Set it False in a
    subclass that overrides a ``check_*`` method or changes `PIPELINE`: every segment then
    runs through each check of `PIPELINE` in order. Both give the same outcome with the
    default checks (a property test holds them to it)."""
    _pipeline: tuple[Check, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._pipeline = tuple(getattr(cls, name) for name in cls.PIPELINE)

    def _in_synchronized(self, seg: Seg) -> None:
        if self.fast_receive_path:
            self._in_synchronized_default(seg)
        else:
            self._in_synchronized_pipeline(seg)

    def _in_synchronized_pipeline(self, seg: Seg) -> None:
        """Each check of `PIPELINE` in order, until one stops the segment."""
        for check in self._pipeline:
            result = check(self, seg)
            if result is None:
                return
            seg = result

    def _in_synchronized_default(self, seg: Seg) -> None:
        """The default `PIPELINE` fused, skipping the calls of checks that would pass the segment
        through untouched (a TSval not older than TS.Recent, no RST, no SYN, no text, no
        FIN): same order, same outcome. SEG.TSval is read once for PAWS and TS.Recent."""
        tsval = None
        if self.ts_ok and not seg.flags & RST:
            tsval = seg_tsval(seg)
            if (
                tsval is not None
                and (tsval - self.ts_recent) & _MASK >= _HALF
                and self.check_paws(seg) is None
            ):
                return
        result = self._check_sequence(seg, tsval)
        if result is None:
            return
        flags = result.flags
        if flags & RST:
            self.check_rst(result)  # an RST always stops here
            return
        if flags & SYN:
            self.check_syn(result)  # so does a SYN
            return
        result = self.check_ack(result)
        if result is None:
            return
        if result.payload:
            result = self.check_text(result)
            if result is None:
                return
        if result.flags & FIN:
            self.check_fin(result)

    def check_paws(self, seg: Seg) -> Seg | None:
        """PAWS (RFC 7323 §5.3 R1), before the sequence test: with timestamps on, a
        segment whose SEG.TSval is older than a valid TS.Recent is an old duplicate
        (perhaps of a wrapped sequence number): ACK and drop it. Never an RST (R1; Linux
        too, so a peer whose clock restarted can still reset). A SYN gets a challenge ACK,
        as in Linux's tcp_validate_incoming.

        A segment without TSopt passes, as in Linux: RFC 7323 §3.2 says such a segment
        SHOULD be dropped, but a middlebox that strips the option mid-connection would
        then stall the connection, and the sequence test still applies."""
        if not self.ts_ok or seg.flags & RST:
            return seg
        tsval = seg_tsval(seg)
        if tsval is None or paws_ok(
            tsval, self.ts_recent, self.ts_recent_age, self.clock.seconds()
        ):
            return seg
        self.count_drop(TcpDrop.PAWS_REJECTED)
        if seg.flags & SYN:
            self.send_challenge_ack()
        else:
            self.send_invalid_ack(seg)
        return None

    def check_sequence(self, seg: Seg) -> Seg | None:
        """First: the acceptability test, then trim to the window (RFC 9293 §3.10.7.4);
        an acceptable segment may update TS.Recent (RFC 7323 §4.3, §5.3 R3)."""
        tsval = seg_tsval(seg) if self.ts_ok and not seg.flags & RST else None
        return self._check_sequence(seg, tsval)

    def _check_sequence(self, seg: Seg, tsval: int | None) -> Seg | None:
        seq = seg.seq
        flags = seg.flags
        size = len(seg.payload)
        length = size + (flags & SYN and 1) + (flags & FIN and 1)  # SEG.LEN
        rcv_nxt = self.rcv_nxt.value
        wnd = ((self.rcv_adv.value - rcv_nxt + _HALF) & _MASK) - _HALF
        if wnd < 0:
            wnd = 0
        front = (seq - rcv_nxt) & _MASK  # SEG.SEQ's offset in the window, if inside
        if length == 0:
            ok = front == 0 if wnd == 0 else front < wnd
        elif wnd == 0:
            ok = False
        else:
            ok = front < wnd or (seq + length - 1 - rcv_nxt) & _MASK < wnd
        if not ok:
            self.count_drop(TcpDrop.UNACCEPTABLE_SEQ)
            if not flags & RST:
                self.on_unacceptable(seg)
            return None
        if tsval is not None:
            self._update_ts_recent(seg, tsval)
        if front == 0 and size <= wnd:
            return seg  # starts at RCV.NXT and fits: nothing to trim
        return self._trim(seg, SeqNum(seq), self.rcv_nxt, wnd)

    def _update_ts_recent(self, seg: Seg, tsval: int) -> None:
        """RFC 7323 §4.3 (2): an acceptable segment with SEG.TSval >= TS.Recent and
        SEG.SEQ <= Last.ACK.sent sets TS.Recent, so TSecr echoes the earliest segment our
        next ACK acknowledges (RFC 7323 dropped RFC 1323's Last.ACK.sent < SEG.SEQ +
        SEG.LEN bound, which kept ACK-only segments from ever updating it). An invalid
        TS.Recent (§5.5) is replaced by any TSval, as Linux's tcp_replace_ts_recent."""
        if (self.last_ack_sent - seg.seq) & _MASK < _HALF:
            now = self.clock.seconds()
            if (tsval - self.ts_recent) & _MASK < _HALF or paws_ok(
                tsval, self.ts_recent, self.ts_recent_age, now
            ):
                self.ts_recent = tsval
                self.ts_recent_age = now

    def on_unacceptable(self, seg: Seg) -> None:
        """Answer an unacceptable segment: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>."""
        if self.state == TCP.SYN_RECEIVED and seg.flags & SYN and seg.seq == self.irs:
            if not seg.flags & ACK:
                self.send_synack()  # the peer lost our SYN,ACK and sent its SYN again
                return
            # Simultaneous open (RFC 9293 §3.5, Figure 8 line 6): the peer's SYN,ACK
            # repeats a SYN we hold; what matters is its ACK of our SYN.
            flags = seg.flags & ~SYN & ~(FIN if seg.payload else 0)  # text: beyond RCV.WND
            ack_part = tcpwire.TcpSegment(
                seg.src_port, seg.dst_port, self.rcv_nxt.value, seg.ack, flags, seg.window,
                b"", seg.options, seg.urgent,
            )  # fmt: skip
            self._in_synchronized(ack_part)
            return
        if self.state == TCP.TIME_WAIT and seg.flags & FIN:
            self.fire("rcv_fin", segment=seg)  # a retransmitted FIN: ACK, restart 2*MSL
            return
        self.send_invalid_ack(seg)

    last_invalid_ack: float  # when it last answered one (-inf: never)

    def send_invalid_ack(self, seg: Seg) -> None:
        """ACK a segment that failed the sequence test or PAWS (RFC 9293 §3.10.7.4 SHLD;
        RFC 7323 §5.3 R1). Without data and within ``invalid_ack_interval`` of the last
        such ACK it is not answered, as Linux's tcp_oow_rate_limited: an ACK loop
        between two ends out of step carries no data."""
        interval = self.config.invalid_ack_interval
        if interval and not seg.payload and not seg.flags & (SYN | FIN):
            now = self.clock.seconds()
            if now - self.last_invalid_ack < interval:
                count = getattr(self.host, "count_event", None)
                if count is not None:
                    count("invalid_acks_limited")
                return
            self.last_invalid_ack = now
        self.send_ack()

    def _trim(self, seg: Seg, seq: SeqNum, rcv_nxt: SeqNum, wnd: int) -> Seg:
        """Keep only the part of the segment inside the receive window."""
        flags = seg.flags
        if flags & (RST | SYN):
            # RFC 5961 §3.2, §4: the RST and SYN checks judge SEG.SEQ and the SYN bit as
            # they arrived, and drop the segment whatever its text: nothing to trim.
            return seg
        front = rcv_nxt - seq
        payload = seg.payload
        if front > 0:
            payload = payload[front:]
            seq = rcv_nxt
        room = (rcv_nxt + wnd) - seq
        if len(payload) > room:
            payload = payload[: max(room, 0)]
            flags &= ~FIN  # the FIN lies beyond the window
        if payload is seg.payload and flags == seg.flags:
            return seg
        return tcpwire.TcpSegment(
            seg.src_port, seg.dst_port, seq.value, seg.ack, flags, seg.window, payload,
            seg.options, seg.urgent,
        )  # fmt: skip

    def check_rst(self, seg: Seg) -> Seg | None:
        """Second: RST (RFC 5961 §3): exactly RCV.NXT resets; otherwise a challenge ACK."""
        if not seg.flags & RST:
            return seg
        seq = SeqNum(seg.seq)
        if seq == self.rcv_nxt:
            self.fire("rcv_rst", segment=seg, reason=CloseReason.RESET)
            self.on_reset_handled(seg)
        elif not seq.in_window(self.rcv_nxt, max(self.rcv_adv - self.rcv_nxt, 0)):
            # RFC 5961 §3.2 (1): SEG.SEQ outside the window (its text reached into it).
            self.count_drop(TcpDrop.RST_OUT_OF_WINDOW)
        else:
            self.count_drop(TcpDrop.RST_CHALLENGED)
            self.send_challenge_ack()  # RFC 5961 §3.2
        return None

    def send_challenge_ack(self) -> None:
        """An RFC 5961 challenge ACK, unless the host's budget for this second is spent
        (RFC 5961 §7: ``host.challenge_ack_allowed()``; a host without it sets no limit)."""
        allowed = getattr(self.host, "challenge_ack_allowed", None)
        if allowed is None or allowed():
            self.send_ack()

    def on_reset_handled(self, seg: Seg) -> None:
        """After a reset took its transition (the session forgets the connection)."""

    def check_syn(self, seg: Seg) -> Seg | None:
        """Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4)."""
        if seg.flags & SYN:
            self.count_drop(TcpDrop.SYN_CHALLENGED)
            self.send_challenge_ack()
            return None
        return seg

    def check_ack(self, seg: Seg) -> Seg | None:
        """Fifth: the ACK field (RFC 9293 §3.10.7.4, RFC 5961 §5)."""
        if not seg.flags & ACK:
            self.count_drop(TcpDrop.NO_ACK)
            return None
        ack = SeqNum(seg.ack)
        if self.state == TCP.SYN_RECEIVED:
            # SND.UNA < SEG.ACK =< SND.NXT (signed distances, RFC 9293 §3.4).
            ack_v = ack.value
            if ((self.snd_una.value - ack_v + _HALF) & _MASK) - _HALF < 0 and (
                ((ack_v - self.snd_max.value + _HALF) & _MASK) - _HALF <= 0
            ):
                self.snd_una = ack
                self.timers.rexmit.cancel()
                self.rtt.begin_data_transfer(self.rexmit_since is not None)
                self.rexmit_since = None
                self._update_window(seg, ack)
                self.fire("rcv_ack_of_syn", segment=seg)
            else:
                self.count_drop(TcpDrop.BAD_ACK_SYN_RECEIVED)
                self.send_rst_reply(seg)
                return None
        # RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
        ack_v = ack.value
        una = self.snd_una.value
        if ((ack_v - self.snd_max.value + _HALF) & _MASK) - _HALF > 0:
            self.count_drop(TcpDrop.ACK_UNSENT)
            self.send_ack()
            return None
        if ((ack_v - una + self.max_snd_wnd + _HALF) & _MASK) - _HALF < 0:
            self.count_drop(TcpDrop.ACK_TOO_OLD)
            self.send_challenge_ack()  # RFC 5961 §5.2
            return None
        self._process_ack(seg, ack)
        return self._after_ack(seg)

    def _process_ack(self, seg: Seg, ack: SeqNum) -> None:
        acked = ((ack.value - self.snd_una.value + _HALF) & _MASK) - _HALF
        probing = self.timers.persist.deadline is not None
        if probing:
            self.probe_since = None  # our zero-window probes are answered (MUST-37)
        newly_sacked = self.sack_update(seg, ack) if self.sack_ok and acked >= 0 else 0
        if acked > 0:
            self.on_ack_advanced(acked, seg)
            self._update_window(seg, ack)
            self.output()
        elif acked == 0:
            before = self.snd_wnd
            self._update_window(seg, ack)
            if not self.snd_wnd and self.rexmit_since is not None:
                # RFC 9293 §3.8.6 (SHLD-17): data beyond a window shrunk to zero is not
                # lost; the peer answering our retransmissions of it is alive, so R2
                # counts from its last answer (as Linux's tcp_retransmit_timer, which
                # gives up on a zero window only after TCP_RTO_MAX of silence).
                self.rexmit_since = self.clock.seconds()
            if newly_sacked and self.snd_una.value != self.snd_max.value:
                # RFC 6675 §2: an ACK that SACKs new data counts as a duplicate, whatever
                # its window or text.
                self.on_dupack(seg)
            elif self.snd_wnd != before or self.snd_una.value == self.snd_max.value:
                self.dupacks = 0
                self.output()
            elif not seg.payload and not seg.flags & (SYN | FIN) and not probing:
                # While we probe a zero window, the only data outstanding is the probe's
                # byte beyond the window: an ACK of nothing new answers the probe and is
                # not a duplicate ACK (RFC 5681 §2 (a); BSD counts duplicate ACKs only
                # while the retransmission timer runs, Linux probes with no data at all).
                self.on_dupack(seg)

    def _update_window(self, seg: Seg, ack: SeqNum) -> None:
        """RFC 9293 §3.10.7.4: take SND.WND from the newest segment (SND.WL1/WL2)."""
        seq = seg.seq
        newer = ((seq - self.snd_wl1.value + _HALF) & _MASK) - _HALF
        if newer > 0 or (
            newer == 0 and ((ack.value - self.snd_wl2.value + _HALF) & _MASK) - _HALF >= 0
        ):
            # RFC 7323 §2.3: SEG.WND is scaled, except in a SYN.
            window = seg.window if seg.flags & SYN else seg.window << self.snd_wscale
            self.snd_wnd = window
            if newer:
                self.snd_wl1 = SeqNum(seq)
            self.snd_wl2 = ack
            if window > self.max_snd_wnd:
                self.max_snd_wnd = window
            if window and self.timers.persist.deadline is not None:
                # The window opened: send at once (RFC 9293 §3.8.6.1), starting again at
                # SND.UNA, since this ACK of SND.UNA says the receiver dropped the probe's
                # byte sent beyond its zero window (§3.10.7.4; BSD pulls SND.NXT back to
                # SND.UNA likewise). The byte is then not in flight: counting it would
                # hold a small segment for Nagle and SWS avoidance until a timeout.
                self.timers.persist.cancel()
                self.snd_nxt = self.snd_max = self.snd_una
                self.output()

    def _after_ack(self, seg: Seg) -> Seg | None:
        """The state-specific part of the fifth check: is our FIN acknowledged?"""
        state = self.state
        if state in (TCP.FIN_WAIT_1, TCP.CLOSING, TCP.LAST_ACK) and self.fin_acked():
            self.fire("rcv_ack_of_fin", segment=seg)
            if self.state == TCP.CLOSED:
                return None
        return seg

    def fin_acked(self) -> bool:
        """True once the peer acknowledged our FIN."""
        return self.fin_queued and self.snd_una.value == (self.fin_seq().value + 1) & _MASK

    def check_text(self, seg: Seg) -> Seg | None:
        """Sixth (URG, ignored: RFC 6093) and seventh: the segment text."""
        if not seg.payload:
            return seg
        if self.state not in S.may_receive:
            self.count_drop(TcpDrop.DATA_AFTER_FIN)
            return seg
        if self.rcv_shut and self.state != TCP.ESTABLISHED:
            # RFC 9293 §3.6.1 (SHLD-3), RFC 1122 §4.2.2.13: new data after the application
            # closed both directions can never be read: reset to show it was lost (Linux,
            # in FIN-WAIT-1/2, answers it with RST at SEG.ACK).
            self.count_drop(TcpDrop.DATA_AFTER_CLOSE)
            self.fire("rcv_data_after_close", segment=seg, reason=CloseReason.RESET)
            return None
        self.receiver.take_text(self, seg)
        return seg

    def check_fin(self, seg: Seg) -> Seg | None:
        """Eighth: the FIN bit, only when it is the next byte we expect."""
        if not seg.flags & FIN:
            return None
        fin_at = SeqNum(seg.seq) + len(seg.payload)
        if fin_at == self.rcv_nxt:
            self.take_fin(seg)
        elif fin_at > self.rcv_nxt and not seg.payload and self.state in S.may_receive:
            self.receiver.remember_fin(self, fin_at)  # a bare FIN ahead of a hole
        return None

    def take_fin(self, seg: Seg) -> None:
        """The peer's FIN is in order: count it and take the transition."""
        if self.fin_received:
            self.send_ack()  # a duplicate FIN in CLOSE_WAIT, CLOSING, LAST_ACK
            return
        self.fin_received = True
        self.rcv_nxt = self.rcv_nxt + 1
        if not self.fire("rcv_fin", segment=seg):
            self.send_ack()
        self.deliver_eof()  # after the transition: the application may close in CLOSE_WAIT
