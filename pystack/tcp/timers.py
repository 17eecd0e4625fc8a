"""The TCP session's timers: retransmission, persist, delayed ACK, keep-alive and 2*MSL.

All of them run on the injected clock (`callLater`), never on real time, so a test under
`twisted.internet.task.Clock` crosses a two-minute TIME_WAIT in microseconds.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections.abc import Callable
from typing import Any

from pystack.tcp.config import CloseReason
from pystack.tcp.tcb import Tcb
from pystack.wire import tcp as tcpwire

__all__ = ["TimeWaitTimer", "Timer", "TimerMixin"]

_SYN_STATES = frozenset({"SYN_SENT", "SYN_RECEIVED"})


class Timer:
    """One restartable timer on the injected clock; holds no delayed call while idle.

    Re-arming to a later deadline (the retransmission timer restarts on every ACK) keeps
    the pending delayed call and only moves ``deadline``: when the call fires early it
    re-schedules itself for the rest, so a busy connection costs one callLater per RTO
    rather than one per ACK.
    """

    __slots__ = ("_call", "_clock", "_fn", "deadline")

    def __init__(self, clock: Any, fn: Callable[[], None]) -> None:
        self._clock = clock
        self._fn = fn
        self._call: Any = None
        self.deadline: float | None = None

    @property
    def active(self) -> bool:
        """Whether the timer is armed."""
        return self.deadline is not None

    def arm(self, delay: float) -> None:
        """(Re)start the timer to fire ``delay`` seconds from now."""
        deadline = self._clock.seconds() + delay
        call = self._call
        if call is not None and call.getTime() <= deadline:
            self.deadline = deadline  # the pending call fires early and re-schedules
            return
        if call is not None:
            call.cancel()
        self.deadline = deadline
        self._call = self._clock.callLater(delay, self._expire)

    def arm_if_idle(self, delay: float) -> None:
        """Start the timer unless it already runs."""
        if self.deadline is None:
            self.arm(delay)

    def cancel(self) -> None:
        """Stop the timer if armed (a pending call is kept and ignored when it fires)."""
        self.deadline = None

    def _expire(self) -> None:
        self._call = None
        deadline = self.deadline
        if deadline is None:
            return
        remaining = deadline - self._clock.seconds()
        if remaining > 1e-9:
            self._call = self._clock.callLater(remaining, self._expire)
            return
        self.deadline = None
        self._fn()

    def stop(self) -> None:
        """Cancel for good, pending delayed call included (the connection is gone)."""
        self.deadline = None
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None


class _NoTimer:
    """A timer that never runs: what a TIME_WAIT session keeps in place of the ones it no
    longer needs (one shared instance, so the session holds no bound methods for them)."""

    __slots__ = ()
    deadline = None
    active = False

    def arm(self, delay: float) -> None:
        """Nothing to time in TIME_WAIT besides 2*MSL."""

    arm_if_idle = arm

    def cancel(self) -> None:
        """Nothing to stop."""

    stop = cancel


NO_TIMER: Any = _NoTimer()


class _Reaper:
    """One delayed call per clock for every 2*MSL timer: a TIME_WAIT session then holds
    no delayed call or bound method of its own, only a heap entry (a busy server keeps
    hundreds of thousands of them, each tracked by the cyclic GC). Stale entries (a timer
    restarted or stopped) are skipped when they come due."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.heap: list[tuple[float, int, TimeWaitTimer]] = []
        self.call: Any = None
        self.order = itertools.count()

    def add(self, timer: TimeWaitTimer, deadline: float) -> None:
        heapq.heappush(self.heap, (deadline, next(self.order), timer))
        call = self.call
        if call is not None and call.getTime() <= deadline:
            return
        if call is not None:
            call.cancel()
        self.call = self.clock.callLater(deadline - self.clock.seconds(), self._run)

    def _run(self) -> None:
        self.call = None
        heap = self.heap
        while heap and heap[0][0] - self.clock.seconds() <= 1e-9:
            deadline, _, timer = heapq.heappop(heap)
            if timer.deadline == deadline:
                timer.deadline = None
                timer.session._on_time_wait_timeout()
        if heap and self.call is None:
            self.call = self.clock.callLater(heap[0][0] - self.clock.seconds(), self._run)


_REAPERS: weakref.WeakKeyDictionary[Any, _Reaper] = weakref.WeakKeyDictionary()


class TimeWaitTimer:
    """The 2*MSL timer (the `Timer` interface), run by the clock's shared `_Reaper`."""

    __slots__ = ("deadline", "session")

    def __init__(self, session: TimerMixin) -> None:
        self.session = session
        self.deadline: float | None = None

    @property
    def active(self) -> bool:
        """Whether the timer is armed."""
        return self.deadline is not None

    def arm(self, delay: float) -> None:
        """(Re)start the timer to fire ``delay`` seconds from now."""
        clock = self.session.clock
        reaper = _REAPERS.get(clock)
        if reaper is None:
            reaper = _REAPERS[clock] = _Reaper(clock)
        self.deadline = clock.seconds() + delay
        reaper.add(self, self.deadline)

    def arm_if_idle(self, delay: float) -> None:
        """Start the timer unless it already runs."""
        if self.deadline is None:
            self.arm(delay)

    def cancel(self) -> None:
        """Stop the timer (its heap entry is skipped when it comes due)."""
        self.deadline = None

    stop = cancel


class TimerMixin(Tcb):
    """Timer expiry handlers of a TCP session."""

    def _make_timers(self) -> None:
        self.rexmit_timer = Timer(self.clock, self._on_rexmit_timeout)
        self.persist_timer = Timer(self.clock, self._on_persist_timeout)
        self.delack_timer = Timer(self.clock, self._on_delack_timeout)
        self.keepalive_timer = Timer(self.clock, self._on_keepalive_timeout)
        self.time_wait_timer = TimeWaitTimer(self)

    def cancel_timers(self) -> None:
        """Stop every timer (the connection is gone)."""
        for timer in (
            self.rexmit_timer,
            self.persist_timer,
            self.delack_timer,
            self.keepalive_timer,
            self.time_wait_timer,
        ):
            timer.stop()

    def arm_rexmit(self) -> None:
        """RFC 6298 §5.1: run the retransmission timer while data is outstanding."""
        if self.snd_una.value != self.snd_max.value and self.persist_timer.deadline is None:
            timer = self.rexmit_timer
            if timer.deadline is None:
                timer.arm(self.rtt.rto)

    # ------------------------------------------------------------- retransmission timer

    def _on_rexmit_timeout(self) -> None:
        if self.snd_una == self.snd_max:
            return
        now = self.clock.seconds()
        repeated = self.rexmit_since is not None
        if self.rexmit_since is None:
            self.rexmit_since = now
        # RFC 9293 §3.8.3 (MUST-20): give up after R2, longer for a SYN (>= 3 minutes).
        r2 = self.config.syn_r2 if self.state in _SYN_STATES else self.config.r2
        if now - self.rexmit_since >= r2 or self.synack_retries_spent():
            self.fire("timeout_user", reason=CloseReason.TIMED_OUT)
            return
        self.rtt.backoff()  # RFC 6298 §5.5
        self.rtt_seq = None  # Karn: no sample from a retransmitted segment (RFC 6298 §3)
        self.dupacks = 0
        # RFC 2018 §8, RFC 6675 §5.1: the receiver may have reneged; forget what it SACKed
        # (its later ACKs report again what it still holds).
        self.scoreboard.clear()
        self.cc.on_retransmit_timeout(self.snd_una, self.snd_max, repeated)
        self._retransmit_first()
        self.rexmit_timer.arm(self.rtt.rto)  # RFC 6298 §5.6

    def _retransmit_first(self) -> None:
        """Resend the oldest unacknowledged segment: SYN, SYN,ACK or data (and FIN)."""
        if self.snd_una == self.iss:
            if self.state == "SYN_SENT":
                self.emit_segment(self.syn_segment())
            else:
                self.send_synack()
            return
        # RFC 5681 §3.1 after a timeout: go back and resend from snd_una in slow start.
        self.snd_nxt = self.snd_una
        self.output(force_one=True)

    # -------------------------------------------------------------------- persist timer

    def enter_persist(self) -> None:
        """RFC 9293 §3.8.6.1: probe a zero window, the first time after one RTO (SHLD-29)."""
        if not self.persist_timer.active:
            self.rexmit_timer.cancel()
            self.persist_backoffs = 0
            self.probe_since = None
            self.persist_timer.arm(self.rtt.rto)

    def persist_interval(self) -> float:
        """The wait before the next probe: the RTO doubled per probe sent (SHLD-30, as
        Linux's tcp_probe0_when), up to `TcpConfig.max_rto`. Its own count, so that a
        window that opens leaves the retransmission timer's backoff untouched."""
        return min(self.rtt.rto * (1 << min(self.persist_backoffs, 30)), self.config.max_rto)

    def _on_persist_timeout(self) -> None:
        if self.snd_wnd > 0:
            self.output(force_one=True)  # the SWS override timeout (RFC 9293 §3.8.6.2.1)
            return
        now = self.clock.seconds()
        if self.probe_since is not None and now - self.probe_since >= self.config.r2:
            # MUST-37 keeps open only a connection whose probes are acknowledged; probes
            # unanswered for R2 mean the peer is gone (MUST-20; Linux gives up after
            # tcp_retries2 unanswered probes).
            self.fire("timeout_user", reason=CloseReason.TIMED_OUT)
            return
        # MUST-36: one byte of new data beyond the window. SND.MAX covers it, so that the
        # ACK of the byte is acceptable; its answers are not duplicate ACKs (see
        # `InputMixin._process_ack`).
        probe = self.sndbuf.peek(self.snd_una - self.sndbuf_seq(), 1)
        if probe:
            if self.probe_since is None:
                self.probe_since = now
            self.send_data(self.snd_una, probe, tcpwire.ACK)
            if self.snd_max == self.snd_una:
                self.snd_nxt = self.snd_max = self.snd_una + 1
        self.persist_backoffs += 1
        self.persist_timer.arm(self.persist_interval())

    # --------------------------------------------------------------- delayed ACK timer

    def _on_delack_timeout(self) -> None:
        if self.ack_pending:
            self.send_ack()

    # ------------------------------------------------------------------ keep-alive timer

    def keepalive_reset(self) -> None:
        """Any segment from the peer proves it alive (RFC 9293 §3.8.4)."""
        if self.config.keepalive and self.state == "ESTABLISHED":
            self.keepalive_probes = 0
            self.keepalive_timer.arm(self.config.keepalive_idle)

    def _on_keepalive_timeout(self) -> None:
        if self.state != "ESTABLISHED":
            return
        if self.keepalive_probes >= self.config.keepalive_count:
            self.fire(
                "timeout_user", reason=CloseReason.TIMED_OUT
            )  # RFC 9293 §3.8.4: the peer is gone
            return
        self.keepalive_probes += 1
        # RFC 9293 §3.8.4: a probe carries SEG.SEQ = SND.NXT-1 and no data (MUST-27 allows).
        self.emit_segment(self.make_segment(self.snd_nxt - 1, tcpwire.ACK))
        self.keepalive_timer.arm(self.config.keepalive_interval)

    # ------------------------------------------------------------------ TIME_WAIT timer

    def start_time_wait_timer(self, **kw: Any) -> None:
        """Hook: (re)start the 2*MSL timeout (RFC 9293 §3.10.7.4, §3.4.2).

        A host that keeps compact TIME_WAIT records (``host.holds_time_wait``, the TCP layer
        by default) runs the wait itself once this segment is processed: the deadline is
        set for it to read, and nothing is scheduled that would keep this session alive.
        """
        for timer in (self.rexmit_timer, self.persist_timer, self.keepalive_timer):
            timer.stop()
        if getattr(self.host, "holds_time_wait", False):
            self.time_wait_timer.deadline = self.clock.seconds() + 2 * self.config.msl
        else:
            self.time_wait_timer.arm(2 * self.config.msl)
        self.release_for_time_wait()

    def release_for_time_wait(self) -> None:
        """Drop what a connection in TIME_WAIT no longer needs (defined by the session)."""

    def synack_retries_spent(self) -> bool:
        """Whether a half-open connection gives up now (defined by the session)."""
        return False

    def _on_time_wait_timeout(self) -> None:
        self.fire("timeout_2msl")
