"""Sender-side congestion control behind a small pluggable interface.

The session owns the sequence variables and the retransmission timer; a
`CongestionControl` only owns cwnd, ssthresh and its recovery state, and tells the session
what to do through the `Action` it returns (sans-IO). The session calls:

- `on_ack(ack, acked, snd_nxt)` when an acceptable ACK advances SND.UNA (``acked`` bytes of
  new data acknowledged, ``ack`` the new SND.UNA);
- `on_dupack(ack, snd_nxt)` for each duplicate ACK as RFC 5681 §2 defines one (no data,
  no SYN/FIN, same ACK as SND.UNA, same window, data outstanding);
- `on_retransmit_timeout(snd_una, snd_nxt, repeated)` when the retransmission timer fires;
- `restart_after_idle()` before sending after an idle period longer than the RTO;
- `set_smss(smss)` once the effective send MSS is known;
- `on_rtt_sample(rtt, now)`, optional, just before `on_ack` whenever that ACK gives an RTT
  measurement (from the timestamps option's echo when both sides use it, RFC 7323 §4,
  else from the one segment timed per RTT, RFC 6298 §3 with Karn's rule).

Time comes from the session, never from the system: before its first event the session
sets ``clock`` on the controller to its injected clock's ``seconds`` (unless the factory
already set one), so a controller that needs the time (CUBIC) calls ``self.clock()``.
Controllers that need neither (NewReno) inherit the no-op defaults: a class written
against the interface before these two hooks existed keeps working unchanged.

``snd_nxt`` always means one past the highest sequence number sent so far (SND.NXT, or
SND.MAX when the session rewinds SND.NXT to go back after a timeout). The sender may have
``min(cwnd, SND.WND) - FlightSize`` bytes in flight more (RFC 5681 §3.1).

`Action.RETRANSMIT` asks the session to retransmit the first unacknowledged segment now
(fast retransmit, RFC 5681 §3.2 step 2, and RFC 6582 partial ACKs). Per RFC 6298 §5.3 the
session restarts its timer on every ACK of new data, which is RFC 6582 §4's
"Slow-but-Steady" variant; `partial_acks` lets a session choose "Impatient" instead.

With SACK negotiated the session sets ``sack`` on its controller: loss recovery then
follows RFC 6675, where the session sends while its "pipe" estimate is below cwnd, so
the controller neither inflates cwnd per duplicate ACK nor asks for retransmissions on
partial ACKs; it only sets ssthresh and cwnd on entry (RFC 6675 §5 step 4.2) and exit.

A session takes a congestion-control factory, ``Callable[[int], CongestionControl]``
called with the SMSS, so another algorithm (CUBIC, ...) plugs in without touching it.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable

from pystack.wire.seqnum import SeqNum

__all__ = [
    "Action",
    "CongestionControl",
    "NewReno",
    "rfc5681_initial_window",
    "rfc6928_initial_window",
]

# RFC 5681 §3.1: ssthresh SHOULD start arbitrarily high.
INITIAL_SSTHRESH = 1 << 30
# RFC 5681 §3.2: the third duplicate ACK signals a loss.
DUPACK_THRESHOLD = 3


class Action(enum.Enum):
    """What a congestion controller asks the session to do after an event."""

    NONE = "none"
    RETRANSMIT = "retransmit"  # the first unacknowledged segment, now


def rfc5681_initial_window(smss: int) -> int:
    """IW of RFC 5681 §3.1 (the RFC 3390 rule), in bytes."""
    if smss > 2190:
        return 2 * smss
    if smss > 1095:
        return 3 * smss
    return 4 * smss


def rfc6928_initial_window(smss: int) -> int:
    """IW of RFC 6928 §2 (experimental, what Linux uses): min(10*MSS, max(2*MSS, 14600))."""
    return min(10 * smss, max(2 * smss, 14600))


class CongestionControl(ABC):
    """The interface a TCP session drives; see the module docstring for when to call what.

    Invariants every implementation keeps: ``cwnd >= smss`` and ``ssthresh >= 2 * smss``.
    """

    # Any attribute may be set (the dict is made when the first one not in a subclass's
    # __slots__ is); NewReno and Cubic keep their fields in slots.
    __slots__ = ("__dict__",)
    smss: int
    cwnd: int
    ssthresh: int
    sack: bool = False
    """Set by the session when SACK was negotiated (see the module docstring)."""
    clock: Callable[[], float] | None = None
    """The session's clock (seconds), set by the session; None until then."""

    def on_rtt_sample(self, rtt: float, now: float) -> None:  # noqa: B027 (optional hook)
        """An RTT measurement of ``rtt`` seconds taken at ``now``; ignored by default."""

    @property
    @abstractmethod
    def in_recovery(self) -> bool:
        """True between entering fast recovery and the ACK that ends it."""

    @abstractmethod
    def on_ack(self, ack: SeqNum, acked: int, snd_nxt: SeqNum) -> Action:
        """An ACK advanced SND.UNA to ``ack``, acknowledging ``acked`` new bytes."""

    @abstractmethod
    def on_dupack(self, ack: SeqNum, snd_nxt: SeqNum) -> Action:
        """A duplicate ACK (RFC 5681 §2) for SND.UNA == ``ack`` arrived."""

    @abstractmethod
    def on_retransmit_timeout(self, snd_una: SeqNum, snd_nxt: SeqNum, repeated: bool) -> None:
        """The retransmission timer fired; ``repeated`` if SND.UNA was already resent by it."""

    @abstractmethod
    def restart_after_idle(self) -> None:
        """The connection was idle longer than the RTO and is about to send again."""

    @abstractmethod
    def set_smss(self, smss: int) -> None:
        """The sender MSS became known or changed."""


class NewReno(CongestionControl):
    """RFC 5681 slow start and congestion avoidance with RFC 6582 NewReno fast recovery.

    ``initial_window`` in bytes overrides IW; the default is RFC 5681 §3.1 (pass
    ``rfc6928_initial_window(smss)`` for IW10). ``recover`` starts unset rather than at ISS
    (RFC 6582 §3.2 step 1): with no recovery yet, any third duplicate ACK may start one.
    """

    # One controller per connection: slots rather than an instance dict (~270 bytes more).
    __slots__ = (
        "_bytes_acked", "_fixed_iw", "_in_recovery", "_sent_anything", "clock", "cwnd",
        "dupacks", "partial_acks", "recover", "sack", "smss", "ssthresh",
    )  # fmt: skip

    def __init__(self, smss: int, *, initial_window: int | None = None) -> None:
        if smss <= 0:
            raise ValueError(f"smss must be positive, got {smss}")
        self.sack = False
        self.clock = None
        self.smss = smss
        self._fixed_iw = initial_window
        self.cwnd = self._initial_window()
        self.ssthresh = INITIAL_SSTHRESH
        self.dupacks = 0
        self.partial_acks = 0
        self.recover: SeqNum | None = None
        self._in_recovery = False
        self._bytes_acked = 0  # congestion-avoidance byte counter (RFC 5681 §3.1)
        self._sent_anything = False

    def _initial_window(self) -> int:
        iw = self._fixed_iw if self._fixed_iw is not None else rfc5681_initial_window(self.smss)
        return max(iw, self.smss)

    @property
    def in_recovery(self) -> bool:
        return self._in_recovery

    def set_smss(self, smss: int) -> None:
        if smss <= 0:
            raise ValueError(f"smss must be positive, got {smss}")
        self.smss = smss
        if not self._sent_anything:
            self.cwnd = self._initial_window()
        self.cwnd = max(self.cwnd, smss)

    def on_ack(self, ack: SeqNum, acked: int, snd_nxt: SeqNum) -> Action:
        self._sent_anything = True
        self.dupacks = 0
        if self._in_recovery:
            assert self.recover is not None
            if ack >= self.recover:
                self._exit_recovery(snd_nxt - ack)
                return Action.NONE
            return self._on_partial_ack(acked)
        if self.recover is not None and ack >= self.recover:
            # Past the point a timeout or a recovery covered: it no longer restricts entry,
            # and forgetting it keeps the comparison valid across wraparound.
            self.recover = None
        self._grow(acked)
        return Action.NONE

    def _grow(self, acked: int) -> None:
        if self.cwnd < self.ssthresh:
            # RFC 5681 §3.1 slow start: cwnd += min(N, SMSS) per ACK (eq. 2).
            self.cwnd += min(acked, self.smss)
            return
        # RFC 5681 §3.1 congestion avoidance, RECOMMENDED byte counting: one SMSS per cwnd
        # of bytes acknowledged.
        self._bytes_acked += acked
        if self._bytes_acked >= self.cwnd:
            self._bytes_acked -= self.cwnd
            self.cwnd += self.smss

    def on_dupack(self, ack: SeqNum, snd_nxt: SeqNum) -> Action:
        self._sent_anything = True
        if self._in_recovery:
            # RFC 6582 §3.2 step 3 / RFC 5681 §3.2 step 4: inflate by one SMSS per dupack
            # (with SACK, the pipe estimate accounts for what left the network instead).
            if not self.sack:
                self.cwnd += self.smss
            return Action.NONE
        self.dupacks += 1
        if self.dupacks != DUPACK_THRESHOLD:
            return Action.NONE
        if self.recover is not None and ack < self.recover:
            # RFC 6582 §3.2 step 2: dupacks for data sent before the last recovery or
            # timeout do not start another one.
            return Action.NONE
        self._enter_recovery(ack, snd_nxt)
        return Action.RETRANSMIT

    def _enter_recovery(self, ack: SeqNum, snd_nxt: SeqNum) -> None:
        # RFC 6582 §3.2 step 2 with RFC 5681 §3.2 steps 2-3; recover is kept as one past
        # the highest sequence number sent.
        self.recover = snd_nxt
        self.ssthresh = self._half_flight(snd_nxt - ack)
        # RFC 6675 §5 step 4.2: with SACK, cwnd = ssthresh and no inflation.
        self.cwnd = self.ssthresh + (0 if self.sack else DUPACK_THRESHOLD * self.smss)
        self.partial_acks = 0
        self._in_recovery = True

    def _on_partial_ack(self, acked: int) -> Action:
        # RFC 6582 §3.2 step 5: retransmit the next hole, deflate by what was acked, add
        # back one SMSS if at least one SMSS was acknowledged. With SACK the session's
        # scoreboard picks what to resend and cwnd stays at ssthresh (RFC 6675 §5).
        self.partial_acks += 1
        if self.sack:
            return Action.NONE
        self.cwnd -= acked
        if acked >= self.smss:
            self.cwnd += self.smss
        self.cwnd = max(self.cwnd, self.smss)
        return Action.RETRANSMIT

    def _exit_recovery(self, flight_size: int) -> None:
        # RFC 6582 §3.2 step 6 option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS),
        # which avoids a burst when little is outstanding.
        self.cwnd = min(self.ssthresh, max(flight_size, self.smss) + self.smss)
        self._in_recovery = False
        self._bytes_acked = 0

    def on_retransmit_timeout(self, snd_una: SeqNum, snd_nxt: SeqNum, repeated: bool) -> None:
        self._sent_anything = True
        if not repeated:
            # RFC 5681 §3.1 eq. 4; a segment already resent keeps ssthresh constant.
            self.ssthresh = self._half_flight(snd_nxt - snd_una)
        # RFC 5681 §3.1: after a timeout cwnd MUST be no more than the loss window, 1 SMSS.
        self.cwnd = self.smss
        self._bytes_acked = 0
        self.dupacks = 0
        self._in_recovery = False
        # RFC 6582 §3.2 step 4: recover = the highest sequence number transmitted.
        self.recover = snd_nxt

    def restart_after_idle(self) -> None:
        # RFC 5681 §4.1: cwnd SHOULD be at most RW = min(IW, cwnd) after an idle RTO.
        self.cwnd = min(self._initial_window(), self.cwnd)

    def _half_flight(self, flight_size: int) -> int:
        # RFC 5681 §3.1 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
        return max(max(flight_size, 0) // 2, 2 * self.smss)

    def __repr__(self) -> str:
        return (
            f"NewReno(cwnd={self.cwnd}, ssthresh={self.ssthresh}, smss={self.smss}, "
            f"in_recovery={self._in_recovery}, recover={self.recover})"
        )
