"""Invariants of the CUBIC controller under any sequence of sender events (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.tcp.cubic import Cubic
from pystack.wire.seqnum import SeqNum

MSS = 1000

event = st.one_of(
    st.tuples(st.just("ack"), st.integers(0, 40 * MSS)),
    st.tuples(st.just("dupack"), st.just(0)),
    st.tuples(st.just("rto"), st.booleans()),
    st.tuples(st.just("rtt"), st.integers(1, 2000)),  # milliseconds
    st.tuples(st.just("tick"), st.integers(0, 5000)),  # milliseconds
    st.tuples(st.just("idle"), st.just(0)),
)


class Sender:
    """A sender that always has data: keeps cwnd's worth in flight past SND.UNA."""

    def __init__(self, cc: Cubic, clock: list[float], una: int) -> None:
        self.cc, self.clock = cc, clock
        self.una = SeqNum(una)
        self.nxt = self.una + cc.cwnd

    def apply(self, kind: str, value: int | bool) -> int:
        """Run one event; returns the bytes it acknowledged (0 for the others)."""
        cc = self.cc
        self.nxt = max(self.nxt, self.una + cc.cwnd, key=lambda s: s - self.una)
        if kind == "ack":
            acked = min(int(value), self.nxt - self.una)
            self.una += acked
            cc.on_ack(self.una, acked, self.nxt)
            return acked
        if kind == "dupack":
            cc.on_dupack(self.una, self.nxt)
        elif kind == "rto":
            cc.on_retransmit_timeout(self.una, self.nxt, bool(value))
        elif kind == "rtt":
            cc.on_rtt_sample(int(value) / 1000, self.clock[0])
        elif kind == "tick":
            self.clock[0] += int(value) / 1000
        else:
            cc.restart_after_idle()
        return 0


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(event, max_size=120),
    una=st.integers(0, 2**32 - 1),
    sack=st.booleans(),
    hystart=st.booleans(),
)
def test_cwnd_and_ssthresh_stay_in_bounds_and_acks_never_add_more_than_they_ack(
    events: list[tuple[str, int | bool]], una: int, sack: bool, hystart: bool
) -> None:
    clock = [0.0]
    cc = Cubic(MSS, clock=lambda: clock[0], hystart=hystart)
    cc.sack = sack
    sender = Sender(cc, clock, una)
    for kind, value in events:
        before = cc.cwnd
        acked = sender.apply(kind, value)
        assert cc.cwnd >= MSS
        assert cc.ssthresh >= 2 * MSS
        if kind == "ack":
            # Slow start adds min(acked, SMSS) (a quarter in CSS), congestion avoidance at
            # most half of it (the 1.5*cwnd target), the Reno-friendly step at most all.
            assert cc.cwnd - before <= acked
        if kind in ("dupack", "tick", "rtt", "idle") and not cc.in_recovery:
            assert cc.cwnd <= before  # only ACKs of new data grow the window
        if kind == "rto":
            assert cc.cwnd == MSS
            assert not cc.in_recovery


@settings(max_examples=200, deadline=None)
@given(segments=st.integers(4, 5000), sack=st.booleans())
def test_a_loss_keeps_beta_of_the_flight_and_w_max_is_the_window(segments: int, sack: bool) -> None:
    cc = Cubic(MSS, clock=lambda: 0.0)
    cc.sack = sack
    cc.cwnd = segments * MSS
    una = SeqNum(12345)
    for _ in range(3):
        cc.on_dupack(una, una + segments * MSS)
    assert cc.ssthresh == max(int(segments * MSS * 0.7), 2 * MSS)
    assert cc.cwnd == cc.ssthresh + (0 if sack else 3 * MSS)
    assert cc.w_max == segments


@settings(max_examples=200, deadline=None)
@given(
    w_max=st.integers(10, 3000),
    rtt_ms=st.integers(1, 500),
    rounds=st.integers(1, 200),
)
def test_congestion_avoidance_grows_at_most_half_a_window_per_round(
    w_max: int, rtt_ms: int, rounds: int
) -> None:
    # RFC 9438 §4.2: the target is at most 1.5 * cwnd, so a round of ACKs (one cwnd of
    # bytes) adds at most half of cwnd, and cwnd never shrinks without a loss.
    clock = [0.0]
    cc = Cubic(MSS, clock=lambda: clock[0], hystart=False)
    cc.sack = True
    una = SeqNum(0)
    cc.cwnd = w_max * MSS
    for _ in range(3):
        cc.on_dupack(una, una + w_max * MSS)
    una += w_max * MSS
    cc.on_ack(una, MSS, una + cc.ssthresh)
    for _ in range(min(rounds, 40)):
        clock[0] += rtt_ms / 1000
        start = cc.cwnd
        for _ in range(max(start // (4 * MSS), 1)):
            una += 4 * MSS
            cc.on_rtt_sample(rtt_ms / 1000, clock[0])
            cc.on_ack(una, 4 * MSS, una + cc.cwnd)
        assert start <= cc.cwnd <= 1.5 * start + 4 * MSS
