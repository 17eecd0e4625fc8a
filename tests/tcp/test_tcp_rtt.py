"""RFC 6298 retransmission timeout estimation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.tcp.rtt import RttEstimator


def test_initial_rto_is_one_second_before_any_sample() -> None:
    est = RttEstimator()
    assert est.rto == 1.0
    assert est.srtt is None and est.rttvar is None


@pytest.mark.requirement("RFC6298:2.2")
def test_first_sample_sets_srtt_and_half_rttvar() -> None:
    est = RttEstimator(min_rto=0.01)
    rto = est.on_sample(0.1)
    assert est.srtt == pytest.approx(0.1)
    assert est.rttvar == pytest.approx(0.05)
    # RFC 6298 §2.2: RTO = SRTT + max(G, K*RTTVAR) = 0.1 + 4*0.05
    assert rto == pytest.approx(0.3)


def test_second_sample_updates_rttvar_with_old_srtt() -> None:
    est = RttEstimator(min_rto=0.01)
    est.on_sample(0.1)
    est.on_sample(0.2)
    # RTTVAR = 3/4*0.05 + 1/4*|0.1-0.2| = 0.0625 ; SRTT = 7/8*0.1 + 1/8*0.2 = 0.1125
    assert est.rttvar == pytest.approx(0.0625)
    assert est.srtt == pytest.approx(0.1125)
    assert est.rto == pytest.approx(0.1125 + 0.25)


def test_minimum_rto_of_one_second_applies_by_default() -> None:
    est = RttEstimator()
    assert est.on_sample(0.001) == 1.0


def test_granularity_keeps_rto_above_srtt_when_variance_vanishes() -> None:
    est = RttEstimator(min_rto=0.001, granularity=0.5)
    for _ in range(200):
        est.on_sample(2.0)
    assert est.rto == pytest.approx(2.5, abs=1e-3)


def test_backoff_doubles_until_the_maximum() -> None:
    est = RttEstimator()
    assert [est.backoff() for _ in range(8)] == [2, 4, 8, 16, 32, 60, 60, 60]


def test_new_sample_clears_the_backoff() -> None:
    est = RttEstimator()
    est.backoff()
    est.backoff()
    assert est.backoffs == 2
    est.on_sample(0.01)
    assert est.backoffs == 0
    assert est.rto == 1.0


def test_lost_syn_resets_rto_to_three_seconds_when_data_begins() -> None:
    est = RttEstimator()
    est.backoff()
    est.begin_data_transfer(syn_was_retransmitted=True)
    assert est.rto == 3.0


def test_handshake_sample_is_kept_when_syn_was_not_retransmitted() -> None:
    est = RttEstimator(min_rto=0.01)
    est.on_sample(0.1)
    est.begin_data_transfer(syn_was_retransmitted=False)
    assert est.rto == pytest.approx(0.3)


@pytest.mark.parametrize(
    "kwargs",
    [{"min_rto": 0}, {"min_rto": 10, "max_rto": 5}, {"initial_rto": 0}, {"granularity": -1}],
)
def test_misconfiguration_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RttEstimator(**kwargs)


def test_negative_sample_raises() -> None:
    with pytest.raises(ValueError):
        RttEstimator().on_sample(-0.1)


@given(
    samples=st.lists(st.floats(0, 100, allow_nan=False), max_size=50),
    backoffs=st.integers(0, 20),
    min_rto=st.floats(0.001, 2),
)
def test_rto_always_within_bounds(samples: list[float], backoffs: int, min_rto: float) -> None:
    est = RttEstimator(min_rto=min_rto, max_rto=60.0)
    for s in samples:
        assert min_rto <= est.on_sample(s) <= 60.0
    previous = est.rto
    for _ in range(backoffs):
        rto = est.backoff()
        assert previous <= rto <= 60.0
        previous = rto


@given(samples=st.lists(st.floats(0.001, 10), min_size=1, max_size=50))
def test_rto_is_never_below_srtt(samples: list[float]) -> None:
    est = RttEstimator(min_rto=0.001, max_rto=1000.0)
    for s in samples:
        est.on_sample(s)
        assert est.srtt is not None
        assert est.rto >= est.srtt
