"""RFC 5681 congestion control with RFC 6582 NewReno fast recovery."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.tcp.congestion import (
    Action,
    CongestionControl,
    NewReno,
    rfc5681_initial_window,
    rfc6928_initial_window,
)
from pystack.wire.seqnum import SeqNum

MSS = 1000
ISS = SeqNum(2**32 - 5000)  # close to the wrap, so every test crosses it


def test_new_reno_implements_the_interface() -> None:
    assert isinstance(NewReno(MSS), CongestionControl)


@pytest.mark.parametrize(("smss", "iw"), [(536, 2144), (1095, 4380), (1460, 4380), (4000, 8000)])
def test_initial_window_per_rfc5681(smss: int, iw: int) -> None:
    assert rfc5681_initial_window(smss) == iw
    assert NewReno(smss).cwnd == iw


def test_initial_window_per_rfc6928_when_asked() -> None:
    assert rfc6928_initial_window(1460) == 14600
    assert rfc6928_initial_window(536) == 5360
    assert NewReno(1460, initial_window=rfc6928_initial_window(1460)).cwnd == 14600


def test_set_smss_before_any_data_recomputes_the_initial_window() -> None:
    cc = NewReno(536)
    cc.set_smss(1460)
    assert cc.cwnd == 4380


@pytest.mark.requirement("RFC9293:MUST-19", "RFC5681:3.1")
def test_slow_start_grows_by_at_most_one_smss_per_ack() -> None:
    cc = NewReno(MSS)
    start = cc.cwnd
    cc.on_ack(ISS + 3000, 3000, ISS + 10_000)
    assert cc.cwnd == start + MSS
    cc.on_ack(ISS + 3500, 500, ISS + 10_000)
    assert cc.cwnd == start + MSS + 500


@pytest.mark.requirement("RFC9293:MUST-19", "RFC5681:3.1")
def test_congestion_avoidance_adds_one_smss_per_window_of_bytes() -> None:
    cc = NewReno(MSS)
    cc.on_retransmit_timeout(ISS, ISS + 20_000, repeated=False)  # ssthresh = 10 000
    cc.cwnd = 10_000
    seq = ISS
    for _ in range(9):
        seq += MSS
        cc.on_ack(seq, MSS, seq + 20_000)
    assert cc.cwnd == 10_000
    seq += MSS
    cc.on_ack(seq, MSS, seq + 20_000)
    assert cc.cwnd == 11_000


@pytest.mark.requirement("RFC5681:3.2")
def test_third_dupack_enters_fast_recovery_and_retransmits() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 20 * MSS
    snd_nxt = ISS + 20 * MSS
    assert cc.on_dupack(ISS, snd_nxt) is Action.NONE
    assert cc.on_dupack(ISS, snd_nxt) is Action.NONE
    assert cc.on_dupack(ISS, snd_nxt) is Action.RETRANSMIT
    assert cc.in_recovery
    assert cc.ssthresh == 10 * MSS  # FlightSize / 2
    assert cc.cwnd == 13 * MSS  # ssthresh + 3 SMSS
    cc.on_dupack(ISS, snd_nxt)
    assert cc.cwnd == 14 * MSS  # inflated per extra dupack


@pytest.mark.requirement("RFC6582:3.2")
def test_partial_ack_retransmits_and_deflates() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 20 * MSS
    snd_nxt = ISS + 20 * MSS
    for _ in range(3):
        cc.on_dupack(ISS, snd_nxt)
    assert cc.on_ack(ISS + 4 * MSS, 4 * MSS, snd_nxt) is Action.RETRANSMIT
    assert cc.in_recovery
    assert cc.cwnd == 13 * MSS - 4 * MSS + MSS
    assert cc.partial_acks == 1


def test_full_ack_exits_recovery_without_a_burst() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 20 * MSS
    snd_nxt = ISS + 20 * MSS
    for _ in range(3):
        cc.on_dupack(ISS, snd_nxt)
    assert cc.on_ack(snd_nxt, 20 * MSS, snd_nxt + 2 * MSS) is Action.NONE
    assert not cc.in_recovery
    # min(ssthresh, max(FlightSize, SMSS) + SMSS) with FlightSize = 2 SMSS
    assert cc.cwnd == 3 * MSS


def test_dupacks_for_data_before_a_timeout_do_not_start_recovery() -> None:
    cc = NewReno(MSS)
    snd_nxt = ISS + 20 * MSS
    cc.on_retransmit_timeout(ISS, snd_nxt, repeated=False)
    for _ in range(3):
        assert cc.on_dupack(ISS + MSS, snd_nxt) is Action.NONE
    assert not cc.in_recovery
    # Once the ACK passes the old SND.NXT, new losses are fast-retransmitted again.
    cc.on_ack(snd_nxt, MSS, snd_nxt + 5 * MSS)
    actions = [cc.on_dupack(snd_nxt, snd_nxt + 5 * MSS) for _ in range(3)]
    assert actions[-1] is Action.RETRANSMIT


@pytest.mark.requirement("RFC5681:3.1")
def test_timeout_collapses_to_one_segment_and_halves_flight() -> None:
    cc = NewReno(MSS)
    cc.on_retransmit_timeout(ISS, ISS + 30 * MSS, repeated=False)
    assert cc.cwnd == MSS
    assert cc.ssthresh == 15 * MSS
    cc.on_retransmit_timeout(ISS, ISS + 30 * MSS, repeated=True)
    assert cc.ssthresh == 15 * MSS  # RFC 5681 §3.1: held on a repeated timeout
    cc.on_retransmit_timeout(ISS, ISS + MSS, repeated=False)
    assert cc.ssthresh == 2 * MSS  # never below 2 SMSS


def test_restart_after_idle_caps_cwnd_at_the_initial_window() -> None:
    cc = NewReno(MSS)
    cc.cwnd = 50 * MSS
    cc.restart_after_idle()
    assert cc.cwnd == rfc5681_initial_window(MSS)


def test_misuse_raises() -> None:
    with pytest.raises(ValueError):
        NewReno(0)
    with pytest.raises(ValueError):
        NewReno(MSS).set_smss(-1)


events = st.one_of(
    st.tuples(st.just("ack"), st.integers(1, 20 * MSS)),
    st.tuples(st.just("dupack"), st.just(0)),
    st.tuples(st.just("rto"), st.booleans()),
    st.tuples(st.just("send"), st.integers(0, 30 * MSS)),
    st.tuples(st.just("idle"), st.just(0)),
)


@given(st.lists(events, max_size=120), st.integers(0, 2**32 - 1), st.integers(200, 9000))
def test_cwnd_never_below_one_smss_and_ssthresh_never_below_two(
    script: list[tuple[str, object]], iss: int, smss: int
) -> None:
    cc = NewReno(smss)
    snd_una = snd_nxt = SeqNum(iss)
    for kind, arg in script:
        if kind == "send":
            assert isinstance(arg, int)
            snd_nxt += arg
        elif kind == "ack":
            assert isinstance(arg, int)
            acked = min(arg, snd_nxt - snd_una)
            if acked:
                snd_una += acked
                assert cc.on_ack(snd_una, acked, snd_nxt) in (Action.NONE, Action.RETRANSMIT)
        elif kind == "dupack":
            cc.on_dupack(snd_una, snd_nxt)
        elif kind == "rto":
            assert isinstance(arg, bool)
            cc.on_retransmit_timeout(snd_una, snd_nxt, repeated=arg)
            assert cc.cwnd == smss
        else:
            cc.restart_after_idle()
        assert cc.cwnd >= smss
        assert cc.ssthresh >= 2 * smss
        if cc.in_recovery:
            assert cc.recover is not None
