"""The TCP session's timers: retransmission, persist, delayed ACK, keep-alive and 2*MSL.

All of them run on the injected clock (`callLater`), never on real time, so a test under
`twisted.internet.task.Clock` crosses a two-minute TIME_WAIT in microseconds.
"""

from __future__ import annotations

import heapq
import itertools
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from pystack.tcp.config import CloseReason, TcpConfig
from pystack.tcp.rtt import RttEstimator
from pystack.tcp.states import TCP, S
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

__all__ = [
    "IDLE_TIMERS", "NO_TIMER", "TimeWaitTimer", "TimeWaitTimers", "Timer", "TimerOwner", "Timers",
]  # fmt: skip


class Timer:
    """One restartable timer on the injected clock; holds no delayed call while idle.

    Re-arming to a later deadline (the retransmission timer restarts on every ACK) keeps
    the pending delayed call and only moves ``deadline``: when the call fires early it
    re-schedules itself for the rest, so a busy connection costs one callLater per RTO
    rather than one per ACK. On expiry it calls ``handler(owner.timers, owner)``: a plain
    function and the session, not a bound method per timer.
    """

    __slots__ = ("_call", "_clock", "_handler", "_owner", "deadline")

    def __init__(self, clock: Any, owner: Any, handler: Callable[[Any, Any], None]) -> None:
        self._clock = clock
        self._owner = owner
        self._handler = handler
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
        owner = self._owner
        self._handler(owner.timers, owner)

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
                session = timer.session
                session.timers.on_time_wait_timeout(session)
        if heap and self.call is None:
            self.call = self.clock.callLater(heap[0][0] - self.clock.seconds(), self._run)


_REAPERS: weakref.WeakKeyDictionary[Any, _Reaper] = weakref.WeakKeyDictionary()


class TimeWaitTimer:
    """The 2*MSL timer (the `Timer` interface), run by the clock's shared `_Reaper`."""

    __slots__ = ("deadline", "session")

    def __init__(self, session: Any) -> None:
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


class TimerOwner(Protocol):
    """What `Timers` needs from its session: the TCB fields it reads and writes, and the
    session calls an expiry leads to (send, fire a trigger, give up)."""

    state: str
    clock: Any
    config: TcpConfig
    host: Any
    timers: Timers
    iss: SeqNum
    snd_una: SeqNum
    snd_nxt: SeqNum
    snd_max: SeqNum
    snd_wnd: int
    rtt: RttEstimator
    rtt_seq: SeqNum | None
    cc: Any
    scoreboard: Any
    sndbuf: Any
    dupacks: int
    ack_pending: int
    rexmit_since: float | None
    persist_backoffs: int
    probe_since: float | None
    keepalive_probes: int

    def fire(self, trigger: str, **kwargs: Any) -> bool: ...
    def emit_segment(self, seg: tcpwire.TcpSegment) -> None: ...
    def syn_segment(self) -> tcpwire.TcpSegment: ...
    def send_synack(self, **kw: Any) -> None: ...
    def send_ack(self, **kw: Any) -> None: ...
    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None: ...
    def output(self, force_one: bool = False) -> None: ...
    def sndbuf_seq(self) -> SeqNum: ...
    def make_segment(self, seq: SeqNum, flags: int, payload: bytes = b"") -> tcpwire.TcpSegment: ...
    def synack_retries_spent(self) -> bool: ...


class Timers:
    """A session's timers and what their expiry does: retransmission (RFC 6298), persist
    (zero-window probes, RFC 9293 §3.8.6.1), delayed ACK, keep-alive (§3.8.4), 2*MSL
    (§3.4.2) and the user timeout (R2, §3.8.3).

    The part owns the timer objects; the TCB stays on the session, which every method
    takes as ``s`` (a `TimerOwner`), and a finished connection swaps the part for the
    shared `IDLE_TIMERS`. Each timer is made on first use (an idle connection never needs
    a persist, keep-alive or 2*MSL timer: a server holding many saves ~70 bytes for each).
    A subclass replaces the behaviour of a timer by overriding its method and naming the
    subclass in ``TCPSession.timers_class``.
    """

    __slots__ = ("_owner", "delack", "keepalive", "persist", "rexmit", "time_wait")
    rexmit: Any
    persist: Any
    delack: Any
    keepalive: Any
    time_wait: Any

    def __init__(self, s: TimerOwner | None = None) -> None:
        self._owner = s
        if s is None:  # the shared idle part: nothing ever runs
            self.rexmit = self.persist = self.delack = self.keepalive = NO_TIMER
            self.time_wait = NO_TIMER

    def __getattr__(self, name: str) -> Any:
        """A timer read before it was ever armed: make it now (only unset slots get here)."""
        handler = _HANDLERS.get(name)
        try:
            owner = object.__getattribute__(self, "_owner")
        except AttributeError:
            owner = None
        if handler is None or owner is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if name == "time_wait":
            timer: Any = TimeWaitTimer(owner)
        else:
            timer = Timer(owner.clock, owner, getattr(type(self), handler))
        setattr(self, name, timer)
        return timer

    def _made(self, but: str = "") -> list[Any]:
        """The timers made so far, but the one named ``but`` (reading the others would
        make them)."""
        made = []
        for name in _HANDLERS:
            if name == but:
                continue
            try:
                made.append(object.__getattribute__(self, name))
            except AttributeError:
                continue
        return made

    def time_wait_deadline(self) -> float | None:
        """When the 2*MSL timer fires: None when it does not run, or was never made
        (reading ``time_wait`` would make it)."""
        try:
            timer = object.__getattribute__(self, "time_wait")
        except AttributeError:
            return None
        return timer.deadline

    def cancel_all(self) -> None:
        """Stop every timer (the connection is gone)."""
        for timer in self._made():
            timer.stop()

    def release_for_time_wait(self) -> None:
        """In TIME_WAIT only the 2*MSL timer remains: the others stop for good."""
        for timer in self._made(but="time_wait"):
            timer.stop()
        self.rexmit = self.persist = self.delack = self.keepalive = NO_TIMER

    def arm_rexmit(self, s: TimerOwner) -> None:
        """RFC 6298 §5.1: run the retransmission timer while data is outstanding."""
        if s.snd_una.value != s.snd_max.value and self.persist.deadline is None:
            timer = self.rexmit
            if timer.deadline is None:
                timer.arm(s.rtt.rto)

    # ------------------------------------------------------------- retransmission timer

    def on_rexmit_timeout(self, s: TimerOwner) -> None:
        """The retransmission timer expired: back off, resend the oldest segment, or
        give up after R2."""
        if s.snd_una == s.snd_max:
            return
        now = s.clock.seconds()
        repeated = s.rexmit_since is not None
        if s.rexmit_since is None:
            s.rexmit_since = now
        # RFC 9293 §3.8.3 (MUST-20): give up after R2, longer for a SYN (>= 3 minutes).
        r2 = s.config.syn_r2 if s.state in S.handshaking else s.config.r2
        if now - s.rexmit_since >= r2 or s.synack_retries_spent():
            s.fire("timeout_user", reason=CloseReason.TIMED_OUT)
            return
        s.rtt.backoff()  # RFC 6298 §5.5
        s.rtt_seq = None  # Karn: no sample from a retransmitted segment (RFC 6298 §3)
        s.dupacks = 0
        # RFC 2018 §8, RFC 6675 §5.1: the receiver may have reneged; forget what it SACKed
        # (its later ACKs report again what it still holds).
        s.scoreboard.clear()
        s.cc.on_retransmit_timeout(s.snd_una, s.snd_max, repeated)
        self.retransmit_first(s)
        self.rexmit.arm(s.rtt.rto)  # RFC 6298 §5.6

    def retransmit_first(self, s: TimerOwner) -> None:
        """Resend the oldest unacknowledged segment: SYN, SYN,ACK or data (and FIN)."""
        if s.snd_una == s.iss:
            if s.state == TCP.SYN_SENT:
                s.emit_segment(s.syn_segment())
            else:
                s.send_synack()
            return
        # RFC 5681 §3.1 after a timeout: go back and resend from snd_una in slow start.
        s.snd_nxt = s.snd_una
        s.output(force_one=True)

    # -------------------------------------------------------------------- persist timer

    def enter_persist(self, s: TimerOwner) -> None:
        """RFC 9293 §3.8.6.1: probe a zero window, the first time after one RTO (SHLD-29)."""
        if not self.persist.active:
            self.rexmit.cancel()
            s.persist_backoffs = 0
            s.probe_since = None
            self.persist.arm(s.rtt.rto)

    @staticmethod
    def persist_interval(s: TimerOwner) -> float:
        """The wait before the next probe: the RTO doubled per probe sent (SHLD-30, as
        Linux's tcp_probe0_when), up to `TcpConfig.max_rto`. Its own count, so that a
        window that opens leaves the retransmission timer's backoff untouched."""
        return min(s.rtt.rto * (1 << min(s.persist_backoffs, 30)), s.config.max_rto)

    def on_persist_timeout(self, s: TimerOwner) -> None:
        """The persist timer expired: probe the zero window, or give up after R2."""
        if s.snd_wnd > 0:
            s.output(force_one=True)  # the SWS override timeout (RFC 9293 §3.8.6.2.1)
            return
        now = s.clock.seconds()
        if s.probe_since is not None and now - s.probe_since >= s.config.r2:
            # MUST-37 keeps open only a connection whose probes are acknowledged; probes
            # unanswered for R2 mean the peer is gone (MUST-20; Linux gives up after
            # tcp_retries2 unanswered probes).
            s.fire("timeout_user", reason=CloseReason.TIMED_OUT)
            return
        # MUST-36: one byte of new data beyond the window. SND.MAX covers it, so that the
        # ACK of the byte is acceptable; its answers are not duplicate ACKs (see
        # `InputMixin._process_ack`).
        probe = s.sndbuf.peek(s.snd_una - s.sndbuf_seq(), 1)
        if probe:
            if s.probe_since is None:
                s.probe_since = now
            s.send_data(s.snd_una, probe, tcpwire.ACK)
            if s.snd_max == s.snd_una:
                s.snd_nxt = s.snd_max = s.snd_una + 1
        s.persist_backoffs += 1
        self.persist.arm(self.persist_interval(s))

    # --------------------------------------------------------------- delayed ACK timer

    def on_delack_timeout(self, s: TimerOwner) -> None:
        """The delayed ACK is due (RFC 9293 §3.8.6.3)."""
        if s.ack_pending:
            s.send_ack()

    # ------------------------------------------------------------------ keep-alive timer

    def keepalive_reset(self, s: TimerOwner) -> None:
        """Any segment from the peer proves it alive (RFC 9293 §3.8.4)."""
        if s.config.keepalive and s.state == TCP.ESTABLISHED:
            s.keepalive_probes = 0
            self.keepalive.arm(s.config.keepalive_idle)

    def on_keepalive_timeout(self, s: TimerOwner) -> None:
        """The connection was idle: probe the peer, or give up after the probes."""
        if s.state != TCP.ESTABLISHED:
            return
        if s.keepalive_probes >= s.config.keepalive_count:
            s.fire("timeout_user", reason=CloseReason.TIMED_OUT)  # RFC 9293 §3.8.4
            return
        s.keepalive_probes += 1
        # RFC 9293 §3.8.4: a probe carries SEG.SEQ = SND.NXT-1 and no data (MUST-27 allows).
        s.emit_segment(s.make_segment(s.snd_nxt - 1, tcpwire.ACK))
        self.keepalive.arm(s.config.keepalive_interval)

    # ------------------------------------------------------------------ TIME_WAIT timer

    def start_time_wait(self, s: TimerOwner) -> None:
        """(Re)start the 2*MSL timeout (RFC 9293 §3.10.7.4, §3.4.2). A host that keeps
        compact TIME_WAIT records (``host.holds_time_wait``) runs the wait itself: the
        deadline is only set for it to read."""
        for timer in self._made():
            if timer is not self.delack and timer is not self.time_wait:
                timer.stop()
        if getattr(s.host, "holds_time_wait", False):
            self.time_wait.deadline = s.clock.seconds() + 2 * s.config.msl
        else:
            self.time_wait.arm(2 * s.config.msl)

    def on_time_wait_timeout(self, s: TimerOwner) -> None:
        """2*MSL passed in TIME_WAIT: the connection closes."""
        s.fire("timeout_2msl")


_HANDLERS = {
    "rexmit": "on_rexmit_timeout",
    "persist": "on_persist_timeout",
    "delack": "on_delack_timeout",
    "keepalive": "on_keepalive_timeout",
    "time_wait": "on_time_wait_timeout",
}
"""Each timer of `Timers` and the method its expiry calls."""


class TimeWaitTimers(Timers):
    """The part of a connection in TIME_WAIT: nothing runs but the 2*MSL timer, which is
    this object itself (one object for the cyclic GC rather than two; a busy server holds
    thousands of such connections)."""

    __slots__ = ("deadline", "session")

    def __init__(self, s: TimerOwner, deadline: float | None) -> None:
        self.rexmit = self.persist = self.delack = self.keepalive = NO_TIMER
        self.session = s
        self.deadline = deadline

    @property
    def time_wait(self) -> TimeWaitTimers:
        """The 2*MSL timer: this part itself (a property, not a reference cycle)."""
        return self

    active = TimeWaitTimer.active
    arm = TimeWaitTimer.arm
    arm_if_idle = TimeWaitTimer.arm_if_idle
    cancel = stop = TimeWaitTimer.cancel

    def release_for_time_wait(self) -> None:
        """Released already."""

    def cancel_all(self) -> None:
        """Stop the 2*MSL timer, the only one that runs (the others are `NO_TIMER`)."""
        self.deadline = None

    def start_time_wait(self, s: TimerOwner) -> None:
        """(Re)start the 2*MSL timeout, as `Timers.start_time_wait` does with nothing else
        left to stop."""
        if getattr(s.host, "holds_time_wait", False):
            self.deadline = s.clock.seconds() + 2 * s.config.msl
        else:
            timer: Any = self  # this part is the 2*MSL timer (`TimeWaitTimer.arm`)
            timer.arm(2 * s.config.msl)


IDLE_TIMERS = Timers()
"""The part a finished connection keeps: no timer ever runs (shared by all)."""
