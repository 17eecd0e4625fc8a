"""CUBIC (RFC 9438) and HyStart++ (RFC 9406): the equations and the controller's states."""

from __future__ import annotations

import itertools
import math

import pytest

from pystack.tcp.config import TcpConfig
from pystack.tcp.congestion import Action, CongestionControl, NewReno
from pystack.tcp.cubic import (
    ALPHA_CUBIC,
    BETA_CUBIC,
    C,
    Cubic,
    congestion_factory,
    cubic_k,
    w_cubic,
)
from pystack.wire.seqnum import SeqNum

MSS = 1000
ISS = SeqNum(2**32 - 5000)  # close to the wrap, so every test crosses it


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cubic(**kwargs: object) -> tuple[Cubic, FakeClock]:
    clock = FakeClock()
    return Cubic(MSS, clock=clock, **kwargs), clock  # type: ignore[arg-type]


def lose_at(cc: Cubic, segments: int, una: SeqNum = ISS) -> SeqNum:
    """Three dupacks with ``segments`` in flight (and cwnd); returns SND.NXT."""
    cc.cwnd = segments * MSS
    snd_nxt = una + segments * MSS
    for _ in range(3):
        cc.on_dupack(una, snd_nxt)
    assert cc.in_recovery
    return snd_nxt


def recover(cc: Cubic, snd_nxt: SeqNum) -> SeqNum:
    """The ACK that ends recovery, with cwnd's worth of new data in flight after it."""
    cc.on_ack(snd_nxt, MSS, snd_nxt + cc.ssthresh)
    assert not cc.in_recovery
    cc.cwnd = cc.ssthresh  # as if FlightSize had been at ssthresh
    return snd_nxt


# ----------------------------------------------------------------------- equations


def test_constants_are_the_rfcs() -> None:
    assert (C, BETA_CUBIC) == (0.4, 0.7)
    assert pytest.approx(3 * 0.3 / 1.7) == ALPHA_CUBIC  # §4.3: 0.529...


@pytest.mark.parametrize("w_max", [10.0, 100.0, 1234.5])
@pytest.mark.requirement("RFC9438:4.2")
def test_k_is_the_cube_root_of_w_max_times_one_minus_beta_over_c(w_max: float) -> None:
    # RFC 9438 §4.2 eq. 2 with cwnd_epoch = beta * W_max.
    k = cubic_k(w_max, BETA_CUBIC * w_max)
    assert k == pytest.approx((w_max * (1 - BETA_CUBIC) / C) ** (1 / 3))
    assert cubic_k(100.0, 70.0) == pytest.approx(4.2171633)


@pytest.mark.requirement("RFC9438:4.2")
def test_w_cubic_at_chosen_times() -> None:
    w_max = 100.0
    k = cubic_k(w_max, 70.0)
    assert w_cubic(0.0, k, w_max) == pytest.approx(70.0)  # the epoch starts at cwnd_epoch
    assert w_cubic(k, k, w_max) == pytest.approx(w_max)  # plateau at W_max after K s
    assert w_cubic(k + 2, k, w_max) == pytest.approx(w_max + 0.4 * 8)
    assert w_cubic(k - 2, k, w_max) == pytest.approx(w_max - 0.4 * 8)


def test_k_is_negative_when_the_epoch_starts_above_w_max() -> None:
    k = cubic_k(50.0, 60.0)
    assert k < 0
    assert w_cubic(0.0, k, 50.0) == pytest.approx(60.0)


# --------------------------------------------------------- multiplicative decrease


def test_a_loss_sets_ssthresh_and_cwnd_to_beta_times_flight_size() -> None:
    cc, _ = cubic()
    cc.sack = True  # RFC 6675: cwnd = ssthresh, no inflation
    lose_at(cc, 100)
    assert cc.ssthresh == 70 * MSS  # §4.6: 0.7 * FlightSize
    assert cc.cwnd == 70 * MSS
    assert cc.w_max == 100.0
    assert cc.cwnd_prior == 100.0


def test_a_loss_without_sack_inflates_by_three_segments_like_new_reno() -> None:
    cc, _ = cubic()
    snd_nxt = lose_at(cc, 100)
    assert cc.cwnd == 73 * MSS
    assert cc.on_ack(ISS + 10 * MSS, 10 * MSS, snd_nxt) is Action.RETRANSMIT  # partial ACK
    assert cc.in_recovery


def test_ssthresh_never_falls_below_two_segments() -> None:
    cc, _ = cubic()
    cc.on_retransmit_timeout(ISS, ISS + MSS, repeated=False)
    assert cc.ssthresh == 2 * MSS
    assert cc.cwnd == MSS


def test_new_reno_halves_where_cubic_keeps_seventy_percent() -> None:
    reno = NewReno(MSS)
    reno.sack = True
    reno.cwnd = 100 * MSS
    for _ in range(3):
        reno.on_dupack(ISS, ISS + 100 * MSS)
    assert reno.ssthresh == 50 * MSS


# ---------------------------------------------------------------- fast convergence


@pytest.mark.requirement("RFC9438:4.7")
def test_fast_convergence_lowers_w_max_when_the_window_shrank() -> None:
    cc, _ = cubic()
    cc.sack = True
    recover(cc, lose_at(cc, 100))
    una = ISS + 200 * MSS
    lose_at(cc, 80, una)  # a second loss below the old W_max of 100
    assert cc.w_max == pytest.approx(80 * (1 + BETA_CUBIC) / 2)  # §4.7: 68
    assert cc.ssthresh == 56 * MSS


def test_without_fast_convergence_w_max_is_the_window_at_the_loss() -> None:
    cc, _ = cubic(fast_convergence=False)
    cc.sack = True
    recover(cc, lose_at(cc, 100))
    lose_at(cc, 80, ISS + 200 * MSS)
    assert cc.w_max == 80.0


def test_a_loss_above_w_max_sets_w_max_to_the_window() -> None:
    cc, _ = cubic()
    cc.sack = True
    recover(cc, lose_at(cc, 50))
    lose_at(cc, 90, ISS + 200 * MSS)
    assert cc.w_max == 90.0


# ----------------------------------------------------------- congestion avoidance


def ack_rounds(cc: Cubic, clock: FakeClock, rounds: int, rtt: float, una: SeqNum) -> list[int]:
    """Each round: one RTT passes, then cwnd's worth of segments is ACKed one by one."""
    windows = []
    for _ in range(rounds):
        clock.now += rtt
        for _ in range(max(cc.cwnd // MSS, 1)):
            una += MSS
            cc.on_rtt_sample(rtt, clock.now)
            cc.on_ack(una, MSS, una + cc.cwnd)
        windows.append(cc.cwnd)
    return windows


def test_after_a_loss_cwnd_grows_concave_to_w_max_then_convex() -> None:
    cc, clock = cubic()
    cc.sack = True
    una = recover(cc, lose_at(cc, 200))
    windows = ack_rounds(cc, clock, 60, 0.1, una)
    k = cc.k
    assert k == pytest.approx(cubic_k(200.0, 140.0))  # 5.3 s: ~53 rounds of 0.1 s
    steps = [b - a for a, b in itertools.pairwise(windows)]
    below = [i for i, w in enumerate(windows[:-1]) if w < 195 * MSS]
    assert len(below) > 20
    # Concave: the increments shrink while cwnd climbs toward W_max ...
    assert steps[below[0]] > steps[below[-1]] >= 0
    assert all(w < 200.5 * MSS for w in windows[:45])
    # ... then convex past it: increments grow again.
    more = ack_rounds(cc, clock, 30, 0.1, una + 10**6)
    more_steps = [b - a for a, b in itertools.pairwise(more)]
    assert more[-1] > 200 * MSS
    assert more_steps[-1] > more_steps[0] > 0


def test_cwnd_follows_w_cubic_one_rtt_ahead_within_one_and_a_half_cwnd() -> None:
    cc, clock = cubic()
    cc.sack = True
    una = recover(cc, lose_at(cc, 100))
    ack_rounds(cc, clock, 1, 0.1, una)  # the epoch starts with the first ACK
    clock.now += 60.0  # far in the convex region: W_cubic is huge
    before = cc.cwnd
    cc.on_ack(una + 10**6, 10 * MSS, una + 2 * 10**6)
    # §4.2: the target is capped at 1.5 * cwnd, so 10 segments ACKed add at most 5.
    assert cc.cwnd - before == pytest.approx(0.5 * 10 * MSS, abs=1)


@pytest.mark.requirement("RFC9438:4.3")
def test_reno_friendly_region_takes_over_when_w_est_exceeds_w_cubic() -> None:
    cc, clock = cubic()
    cc.sack = True
    una = recover(cc, lose_at(cc, 10))  # small W_max, many ACKs at once: Reno is faster
    assert cc.cwnd == 7 * MSS
    for i in range(1, 40):
        cc.on_ack(una + i * MSS, MSS, una + 100 * MSS)  # no time passes
    t = clock.now - (cc.t_epoch or 0.0)
    assert cc.w_est > w_cubic(t, cc.k, cc.w_max or 0.0)
    assert cc.cwnd == int(cc.w_est * MSS)
    # W_est grew by alpha_cubic per window: 39 segments over ~7-12-segment windows.
    assert 7 + ALPHA_CUBIC * 39 / 12 < cc.w_est < 7 + 39 / 7


def test_alpha_becomes_one_once_w_est_reaches_cwnd_prior() -> None:
    cc, _ = cubic()
    cc.sack = True
    una = recover(cc, lose_at(cc, 10))
    for i in range(1, 200):
        cc.on_ack(una + i * MSS, MSS, una + 500 * MSS)
    assert cc.w_est > 10
    before = cc.w_est
    cc.on_ack(una + 200 * MSS, MSS, una + 500 * MSS)
    assert cc.w_est - before == pytest.approx(1.0 / (cc.cwnd / MSS), rel=0.2)


def test_timeout_collapses_cwnd_and_restarts_with_k_zero() -> None:
    cc, clock = cubic()
    cc.cwnd = 100 * MSS
    cc.on_retransmit_timeout(ISS, ISS + 100 * MSS, repeated=False)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 70 * MSS)  # §4.8: 1 SMSS, beta * FlightSize
    cc.on_retransmit_timeout(ISS, ISS + 100 * MSS, repeated=True)
    assert cc.ssthresh == 70 * MSS  # a repeated timeout keeps ssthresh
    cc.cwnd = cc.ssthresh  # slow start done
    ack_rounds(cc, clock, 1, 0.05, ISS)
    assert cc.k == 0.0
    assert cc.w_max == 70.0  # W_max = cwnd at the start of congestion avoidance


def test_idle_restart_starts_a_new_epoch() -> None:
    cc, clock = cubic(initial_window=200 * MSS)  # so that the restart keeps cwnd
    cc.sack = True
    una = recover(cc, lose_at(cc, 100))
    ack_rounds(cc, clock, 2, 0.1, una)
    first = cc.t_epoch
    clock.now += 30
    cc.restart_after_idle()
    ack_rounds(cc, clock, 1, 0.1, una + 10**6)
    assert cc.t_epoch is not None and first is not None and cc.t_epoch > first + 30


def test_without_a_clock_cubic_says_what_is_missing() -> None:
    cc = Cubic(MSS, hystart=False)
    cc.cwnd = cc.ssthresh = 20 * MSS
    with pytest.raises(RuntimeError, match="clock"):
        cc.on_ack(ISS + MSS, MSS, ISS + 10 * MSS)


# ------------------------------------------------------------------------ HyStart++


def hystart_round(cc: Cubic, clock: FakeClock, una: SeqNum, rtt: float, acks: int = 8) -> SeqNum:
    """One round: ``acks`` ACKs of one segment, each with an RTT sample of ``rtt``."""
    # The round's first ACK starts it (RFC 9406 §4.2) and records windowEnd = SND.NXT,
    # which the first ACK of the next round reaches.
    snd_nxt = una + (acks + 1) * MSS
    for _ in range(acks):
        clock.now += rtt / acks
        una += MSS
        cc.on_rtt_sample(rtt, clock.now)
        cc.on_ack(una, MSS, snd_nxt)
    return una


@pytest.mark.requirement("RFC9406:4.2")
def test_hystart_enters_css_on_an_rtt_rise_and_grows_a_quarter_as_fast() -> None:
    cc, clock = cubic()
    una = hystart_round(cc, clock, ISS, 0.040)
    una = hystart_round(cc, clock, una, 0.040)
    assert cc.hystart is not None and not cc.hystart.in_css
    # 40 ms -> threshold max(4 ms, min(40/8 = 5 ms, 16 ms)) = 5 ms: 45 ms enters CSS.
    una = hystart_round(cc, clock, una, 0.045)
    assert cc.hystart.in_css
    assert cc.hystart.css_baseline_min_rtt == 0.045
    before = cc.cwnd
    cc.on_rtt_sample(0.045, clock.now)
    cc.on_ack(una + MSS, MSS, una + 20 * MSS)
    assert cc.cwnd - before == MSS // 4  # RFC 9406 §4.2: CSS_GROWTH_DIVISOR


def test_a_smaller_rtt_rise_stays_in_slow_start() -> None:
    cc, clock = cubic()
    una = hystart_round(cc, clock, ISS, 0.040)
    hystart_round(cc, clock, una, 0.0445)
    assert cc.hystart is not None and not cc.hystart.in_css


def test_fewer_than_eight_samples_do_not_decide() -> None:
    cc, clock = cubic()
    una = hystart_round(cc, clock, ISS, 0.040)
    hystart_round(cc, clock, una, 0.080, acks=7)
    assert cc.hystart is not None and not cc.hystart.in_css


def test_css_goes_back_to_slow_start_when_the_rtt_drops() -> None:
    cc, clock = cubic()
    una = hystart_round(cc, clock, ISS, 0.040)
    una = hystart_round(cc, clock, una, 0.050)
    assert cc.hystart is not None and cc.hystart.in_css
    hystart_round(cc, clock, una, 0.041)
    assert not cc.hystart.in_css
    assert cc.ssthresh > cc.cwnd  # still slow start


def test_css_rounds_end_slow_start_with_ssthresh_at_cwnd() -> None:
    cc, clock = cubic()
    una = hystart_round(cc, clock, ISS, 0.040)
    una = hystart_round(cc, clock, una, 0.050)
    for _ in range(4):
        una = hystart_round(cc, clock, una, 0.050)
        assert cc.hystart is not None and cc.hystart.in_css
    hystart_round(cc, clock, una, 0.050)
    assert cc.hystart is None  # RFC 9406 §4.2: CSS_ROUNDS done, congestion avoidance
    # The round's first ACK ended CSS; the others grew cwnd in congestion avoidance,
    # whose epoch took W_max = cwnd = ssthresh and K = 0 (RFC 9438 §4.10).
    assert cc.w_max == cc.ssthresh / MSS
    assert cc.k == 0.0
    assert cc.ssthresh < cc.cwnd < cc.ssthresh + MSS


def test_a_loss_ends_hystart() -> None:
    cc, clock = cubic()
    hystart_round(cc, clock, ISS, 0.040)
    lose_at(cc, 30, ISS + 8 * MSS)
    assert cc.hystart is None


def test_a_large_rtt_caps_the_threshold_at_sixteen_ms() -> None:
    for rise, css in ((0.015, False), (0.017, True)):  # 400/8 = 50 ms, capped at 16 ms
        cc, clock = cubic()
        una = hystart_round(cc, clock, ISS, 0.400)
        hystart_round(cc, clock, una, 0.400 + rise)
        assert cc.hystart is not None and cc.hystart.in_css is css


# ------------------------------------------------------------- selection, interface


def test_config_names_the_controller() -> None:
    assert isinstance(congestion_factory("cubic")(1460), Cubic)
    reno = congestion_factory("newreno")(1460)
    assert type(reno) is NewReno and reno.cwnd == 14600
    assert congestion_factory(Cubic) is Cubic


def test_an_unknown_name_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="newreno, cubic"):
        TcpConfig(congestion="bbr")
    with pytest.raises(TypeError, match="callable"):
        TcpConfig(congestion=42)  # type: ignore[arg-type]


def test_new_reno_ignores_rtt_samples_and_has_no_clock_until_given_one() -> None:
    reno = NewReno(MSS)
    assert reno.clock is None
    before = (reno.cwnd, reno.ssthresh)
    reno.on_rtt_sample(0.1, 5.0)
    assert (reno.cwnd, reno.ssthresh) == before
    assert isinstance(Cubic(MSS), CongestionControl)


def test_cubic_repr_names_its_state() -> None:
    cc, _ = cubic()
    assert "Cubic(cwnd=" in repr(cc) and math.isfinite(cc.k)
