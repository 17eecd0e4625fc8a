"""CUBIC congestion control (RFC 9438) with HyStart++ slow start (RFC 9406).

`Cubic` plugs into the session through the `CongestionControl` interface of
:mod:`pystack.tcp.congestion`, and keeps NewReno's loss recovery (fast retransmit,
RFC 6582 partial ACKs, or RFC 6675 with SACK) as RFC 9438 §4.6 allows; it changes how
much cwnd shrinks on a congestion event and how it grows afterwards:

- §4.1-§4.2: in congestion avoidance cwnd follows W_cubic(t) = C*(t-K)^3 + W_max, with
  t the time since the epoch (the first ACK of this congestion-avoidance stage) and
  K = cbrt((W_max - cwnd_epoch) / C); each ACK moves cwnd toward the target W_cubic(t+RTT),
  clamped between cwnd and 1.5*cwnd. Below W_max the curve is concave (§4.4), above it
  convex (§4.5).
- §4.3: the Reno-friendly estimate W_est grows by alpha_cubic = 3(1-beta)/(1+beta)
  segments per window (1 once it reaches cwnd_prior); while W_cubic(t) < W_est, cwnd
  follows W_est.
- §4.6: a congestion event sets ssthresh = beta_cubic * FlightSize (beta = 0.7), at
  least 2*SMSS, and remembers W_max; §4.7 fast convergence lowers W_max to
  cwnd*(1+beta)/2 when the window shrank since the last event.
- §4.8: a retransmission timeout sets ssthresh the same way and cwnd to one SMSS; the
  next congestion-avoidance stage starts with W_max = cwnd and K = 0, as after a
  HyStart++ exit without loss (§4.10).
- RFC 9406 §4.2: slow start measures the minimum RTT of each round (a window of data);
  when it rises by max(4 ms, min(last/8, 16 ms)) over the previous round's, with at least
  8 samples, slow start turns conservative (CSS: growth divided by 4); a lower RTT in CSS
  goes back to slow start, and 5 rounds of CSS end slow start (ssthresh = cwnd). Only the
  first slow start uses it (§4.3); a loss ends it.

Not implemented: the spurious-congestion undo of §4.9 (optional) and ECN.

Units: W_cubic, W_max, W_est and cwnd_epoch are in segments (floats) and t in seconds,
as in the RFC; ``cwnd`` and ``ssthresh`` stay bytes, as the interface wants. Time comes
from ``self.clock`` (the session's injected clock), RTT samples from `on_rtt_sample`.

`congestion_factory` turns a `TcpConfig.congestion` value into the factory a session uses.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

from pystack.tcp.congestion import (
    DUPACK_THRESHOLD,
    Action,
    CongestionControl,
    NewReno,
    rfc6928_initial_window,
)
from pystack.wire.seqnum import SeqNum

__all__ = [
    "ALPHA_CUBIC", "BETA_CUBIC", "C", "Cubic", "HyStart", "HyStartVerdict",
    "congestion_factory", "cubic_k", "w_cubic",
]  # fmt: skip

# RFC 9438 §5.1: C = 0.4 (segments/s^3); §4.6: beta_cubic = 0.7; §4.3: alpha_cubic.
C = 0.4
BETA_CUBIC = 0.7
ALPHA_CUBIC = 3 * (1 - BETA_CUBIC) / (1 + BETA_CUBIC)
# RFC 9406 §4.3: the constants of HyStart++ (times in seconds).
MIN_RTT_THRESH = 0.004
MAX_RTT_THRESH = 0.016
MIN_RTT_DIVISOR = 8
N_RTT_SAMPLE = 8
CSS_GROWTH_DIVISOR = 4
CSS_ROUNDS = 5
# RFC 6298 §2.3's gain, for the smoothed RTT the target of §4.2 looks ahead by.
_SRTT_GAIN = 1 / 8


def cubic_k(w_max: float, cwnd_epoch: float, c: float = C) -> float:
    """K of RFC 9438 §4.2 eq. 2: the seconds W_cubic takes from cwnd_epoch to W_max.
    Negative when cwnd_epoch > W_max, so that W_cubic(0) == cwnd_epoch always."""
    cube = (w_max - cwnd_epoch) / c
    return math.copysign(abs(cube) ** (1 / 3), cube)


def w_cubic(t: float, k: float, w_max: float, c: float = C) -> float:
    """W_cubic(t) of RFC 9438 §4.2 eq. 1, in segments, ``t`` seconds into the epoch."""
    return c * (t - k) ** 3 + w_max


class HyStartVerdict(enum.Enum):
    """What HyStart++ decided on an ACK (RFC 9406 §4.2)."""

    NONE = "none"
    ENTER_CSS = "enter_css"
    RESUME_SLOW_START = "resume_slow_start"
    END_SLOW_START = "end_slow_start"


class HyStart:
    """The per-round RTT bookkeeping of HyStart++ (RFC 9406 §4.2), named as there."""

    __slots__ = (
        "css_baseline_min_rtt", "css_rounds", "current_round_min_rtt",
        "last_round_min_rtt", "rtt_sample_count", "window_end",
    )  # fmt: skip

    def __init__(self) -> None:
        self.window_end: SeqNum | None = None
        self.last_round_min_rtt = math.inf
        self.current_round_min_rtt = math.inf
        self.rtt_sample_count = 0
        self.css_baseline_min_rtt = math.inf  # infinite: not in CSS
        self.css_rounds = 0

    @property
    def in_css(self) -> bool:
        """True during conservative slow start."""
        return self.css_baseline_min_rtt != math.inf

    def on_ack(self, ack: SeqNum, snd_nxt: SeqNum, rtt: float | None) -> None:
        """Start a round when ``ack`` covers windowEnd, then count the RTT sample."""
        if self.window_end is None or ack >= self.window_end:
            if self.window_end is not None and self.in_css:
                self.css_rounds += 1
            self.window_end = snd_nxt
            self.last_round_min_rtt = self.current_round_min_rtt
            self.current_round_min_rtt = math.inf
            self.rtt_sample_count = 0
        if rtt is not None:
            self.current_round_min_rtt = min(self.current_round_min_rtt, rtt)
            self.rtt_sample_count += 1

    def increase(self, acked: int, smss: int) -> int:
        """Bytes cwnd grows by for ``acked`` bytes: RFC 5681's min(N, SMSS) (within RFC
        9406's L*SMSS), divided by CSS_GROWTH_DIVISOR in CSS."""
        step = min(acked, smss)
        return step // CSS_GROWTH_DIVISOR if self.in_css else step

    def verdict(self) -> HyStartVerdict:
        """The checks of RFC 9406 §4.2 after an ACK's growth."""
        enough = (
            self.rtt_sample_count >= N_RTT_SAMPLE
            and self.current_round_min_rtt != math.inf
            and self.last_round_min_rtt != math.inf
        )
        if not self.in_css:
            if enough:
                last = self.last_round_min_rtt
                thresh = max(MIN_RTT_THRESH, min(last / MIN_RTT_DIVISOR, MAX_RTT_THRESH))
                if self.current_round_min_rtt >= last + thresh:
                    self.css_baseline_min_rtt = self.current_round_min_rtt
                    self.css_rounds = 0
                    return HyStartVerdict.ENTER_CSS
            return HyStartVerdict.NONE
        if enough and self.current_round_min_rtt < self.css_baseline_min_rtt:
            # The RTT rise was a false alarm: back to standard slow start.
            self.css_baseline_min_rtt = math.inf
            return HyStartVerdict.RESUME_SLOW_START
        if self.css_rounds >= CSS_ROUNDS:
            return HyStartVerdict.END_SLOW_START
        return HyStartVerdict.NONE


class Cubic(NewReno):
    """CUBIC (RFC 9438) with HyStart++ (RFC 9406) and NewReno/SACK loss recovery.

    ``clock`` returns seconds (the session sets its injected clock's when None).
    ``hystart=False`` uses standard slow start; ``fast_convergence`` is §4.7's option.
    """

    __slots__ = (
        "_growth", "_pending_rtt", "alpha", "beta", "c", "cwnd_epoch", "cwnd_prior",
        "fast_convergence", "hystart", "k", "srtt", "t_epoch", "w_est", "w_max",
    )  # fmt: skip

    def __init__(
        self,
        smss: int,
        *,
        initial_window: int | None = None,
        clock: Callable[[], float] | None = None,
        hystart: bool = True,
        fast_convergence: bool = True,
        c: float = C,
        beta: float = BETA_CUBIC,
    ) -> None:
        super().__init__(smss, initial_window=initial_window)
        if not 0 < beta < 1 or c <= 0:
            raise ValueError(f"need 0 < beta < 1 and c > 0, got beta={beta}, c={c}")
        self.clock = clock
        self.c, self.beta = c, beta
        self.alpha = 3 * (1 - beta) / (1 + beta)
        self.fast_convergence = fast_convergence
        self.hystart: HyStart | None = HyStart() if hystart else None
        self.w_max: float | None = None  # None: the cwnd the next epoch starts with (K=0)
        self.cwnd_prior: float | None = None
        self.k = 0.0
        self.t_epoch: float | None = None
        self.cwnd_epoch = self.w_est = 0.0
        self.srtt: float | None = None
        self._pending_rtt: float | None = None
        self._growth = 0.0  # fractional bytes of cwnd growth not yet applied

    def _now(self) -> float:
        if self.clock is None:
            raise RuntimeError("Cubic needs a clock: pass clock= or let a TCP session set it")
        return self.clock()

    def on_rtt_sample(self, rtt: float, now: float) -> None:
        pending = self._pending_rtt
        self._pending_rtt = rtt if pending is None else min(pending, rtt)
        self.srtt = rtt if self.srtt is None else self.srtt + _SRTT_GAIN * (rtt - self.srtt)

    def on_ack(self, ack: SeqNum, acked: int, snd_nxt: SeqNum) -> Action:
        rtt, self._pending_rtt = self._pending_rtt, None
        if self.hystart is not None and not self.in_recovery and self.cwnd < self.ssthresh:
            self.hystart.on_ack(ack, snd_nxt, rtt)
        return super().on_ack(ack, acked, snd_nxt)

    def _grow(self, acked: int) -> None:
        if self.cwnd < self.ssthresh:
            self._slow_start(acked)
        else:
            self._avoid_congestion(acked)

    def _slow_start(self, acked: int) -> None:
        hystart = self.hystart
        if hystart is None:
            self.cwnd += min(acked, self.smss)  # RFC 5681 §3.1 eq. 2
            return
        self.cwnd += hystart.increase(acked, self.smss)
        if hystart.verdict() is HyStartVerdict.END_SLOW_START:
            # RFC 9406 §4.2: after CSS_ROUNDS, ssthresh = cwnd; RFC 9438 §4.10: without
            # a loss W_max is unknown, so the epoch starts with W_max = cwnd, K = 0.
            self.ssthresh = max(self.cwnd, 2 * self.smss)
            self.hystart = None

    def _avoid_congestion(self, acked: int) -> None:
        now = self._now()
        cwnd = self.cwnd / self.smss
        if self.t_epoch is None:
            self._start_epoch(now, cwnd)
        assert self.w_max is not None and self.t_epoch is not None
        t = now - self.t_epoch
        # RFC 9438 §4.3: W_est grows alpha per window of ACKed segments; alpha becomes 1
        # once W_est reaches the window before the last reduction.
        alpha = 1.0 if self.w_est >= (self.cwnd_prior or 0.0) else self.alpha
        self.w_est += alpha * (acked / self.smss) / cwnd
        if w_cubic(t, self.k, self.w_max, self.c) < self.w_est:
            # Reno-friendly region: cwnd = W_est, reached no faster than the ACKed bytes.
            self.cwnd = max(self.cwnd, min(int(self.w_est * self.smss), self.cwnd + acked))
            return
        # RFC 9438 §4.2 eq. 4: look one RTT ahead, target clamped to [cwnd, 1.5*cwnd];
        # §4.4/§4.5: concave below W_max, convex above it, by the same equation.
        ahead = w_cubic(t + (self.srtt or 0.0), self.k, self.w_max, self.c)
        target = min(max(ahead, cwnd), 1.5 * cwnd)
        # cwnd += (target - cwnd) / cwnd segments per segment ACKed.
        self._growth += (target - cwnd) / cwnd * acked
        step = int(self._growth)
        self._growth -= step
        self.cwnd += step

    def _start_epoch(self, now: float, cwnd: float) -> None:
        """RFC 9438 §4.2: the first ACK of a congestion-avoidance stage starts an epoch."""
        self.t_epoch = now
        self.cwnd_epoch = self.w_est = cwnd
        self._growth = 0.0
        if self.w_max is None:  # §4.8, §4.10: no W_max from a loss: W_max = cwnd, K = 0
            self.w_max = cwnd
        if self.cwnd_prior is None:
            self.cwnd_prior = cwnd
        self.k = cubic_k(self.w_max, cwnd, self.c)

    def _congestion_event(self, flight_size: int) -> int:
        """RFC 9438 §4.6-§4.7: remember W_max and cwnd_prior, end the epoch and HyStart++
        (RFC 9406 §4.2: a loss ends it), and return the new ssthresh."""
        cwnd = self.cwnd / self.smss
        if self.fast_convergence and self.w_max is not None and cwnd < self.w_max:
            # §4.7: the window shrank since the last event: release bandwidth sooner.
            self.w_max = cwnd * (1 + self.beta) / 2
        else:
            self.w_max = cwnd
        self.cwnd_prior = cwnd
        self.t_epoch = None
        self.hystart = None
        # §4.6 eq. 6: ssthresh = FlightSize * beta_cubic, at least 2 segments.
        return max(int(max(flight_size, 0) * self.beta), 2 * self.smss)

    def _enter_recovery(self, ack: SeqNum, snd_nxt: SeqNum) -> None:
        ssthresh = self._congestion_event(snd_nxt - ack)
        super()._enter_recovery(ack, snd_nxt)
        self.ssthresh = ssthresh
        # RFC 9438 §4.6: cwnd = ssthresh, plus RFC 5681 §3.2's inflation without SACK.
        self.cwnd = ssthresh + (0 if self.sack else DUPACK_THRESHOLD * self.smss)

    def on_retransmit_timeout(self, snd_una: SeqNum, snd_nxt: SeqNum, repeated: bool) -> None:
        ssthresh = None if repeated else self._congestion_event(snd_nxt - snd_una)
        super().on_retransmit_timeout(snd_una, snd_nxt, repeated)
        self.hystart = None  # RFC 9406 §4.3: later slow starts are standard
        self.t_epoch = None
        if ssthresh is not None:
            self.ssthresh = ssthresh
            # RFC 9438 §4.8: the next stage starts with W_max = cwnd and K = 0.
            self.w_max = self.cwnd_prior = None

    def restart_after_idle(self) -> None:
        super().restart_after_idle()
        self.t_epoch = None  # t must not count the idle time: a new epoch starts

    def __repr__(self) -> str:
        return (
            f"Cubic(cwnd={self.cwnd}, ssthresh={self.ssthresh}, smss={self.smss}, "
            f"w_max={self.w_max}, k={self.k:.3f}, in_recovery={self.in_recovery}, "
            f"css={self.hystart is not None and self.hystart.in_css})"
        )


def _newreno_iw10(smss: int) -> CongestionControl:
    return NewReno(smss, initial_window=rfc6928_initial_window(smss))


def _cubic_iw10(smss: int) -> CongestionControl:
    return Cubic(smss, initial_window=rfc6928_initial_window(smss))


_BY_NAME: dict[str, Callable[[int], CongestionControl]] = {
    "newreno": _newreno_iw10,
    "cubic": _cubic_iw10,
}


def congestion_factory(
    choice: str | Callable[[int], CongestionControl],
) -> Callable[[int], CongestionControl]:
    """The factory (called with the SMSS) for a `TcpConfig.congestion` value: a name
    ("newreno", "cubic") or a factory of the user's, returned as is."""
    if callable(choice):
        return choice
    try:
        return _BY_NAME[choice]
    except KeyError:
        names = ", ".join(_BY_NAME)
        raise ValueError(f"unknown congestion control {choice!r} (known: {names})") from None
