"""PAWS, RFC 7323 §5: with timestamps on, a segment whose TSval is older than TS.Recent is
an old duplicate: ACKed and dropped before the sequence test (R1), as Linux's
tcp_paws_discard. RSTs are exempt, a segment without TSopt passes (Linux, not §3.2's
SHOULD), and TS.Recent set more than 24 days ago no longer counts (§5.5)."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from pystack.tcp.config import CloseReason, TcpDrop
from pystack.tcp.receive import PAWS_IDLE
from pystack.tcp.session import TCPSession
from pystack.testing import examples
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire

ts = TcpHarness.timestamp


# --------------------------------------------------------------------------- ESTABLISHED


@pytest.mark.requirement("RFC7323:5.3")
def test_an_old_tsval_is_acked_dropped_and_counted() -> None:
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"old", tsval=49)
    (ack,) = h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert ts(ack) == (0, 50)  # TS.Recent untouched: TSecr still echoes 50
    assert h.session.readable == 0
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    h.assert_tcb(rcv_nxt=h.remote(1), ts_recent=50)


def test_an_equal_tsval_is_accepted() -> None:
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"same", tsval=50)
    assert h.session.read() == b"same"
    assert h.drops[TcpDrop.PAWS_REJECTED] == 0


def test_a_newer_tsval_is_accepted_and_becomes_ts_recent() -> None:
    h = TcpHarness(ts_recent=50)
    h.advance(7.0)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"new", tsval=51)
    assert h.session.read() == b"new"
    h.assert_tcb(ts_recent=51, ts_recent_age=7.0)


def test_old_means_older_modulo_2_32() -> None:
    h = TcpHarness(ts_recent=5)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x", tsval=0xFFFFFFF0)  # before 5
    h.recv(h.expect(".", ack=h.remote(1)))
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"y", tsval=0x80000004)  # after 5
    assert h.session.read() == b"y"


def test_paws_runs_before_the_sequence_test() -> None:
    """R1 precedes R2: an old TSval is a PAWS drop even when the segment is in window."""
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(1) + 5000, ack=h.local(1), payload=b"far", tsval=10)
    h.recv(h.expect(".", ack=h.remote(1)))
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    assert h.drops[TcpDrop.UNACCEPTABLE_SEQ] == 0


def test_an_rst_with_an_old_tsval_still_resets() -> None:
    h = TcpHarness(ts_recent=50)
    h.send("R", seq=h.remote(1), tsval=1)
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.RESET
    assert h.drops[TcpDrop.PAWS_REJECTED] == 0
    h.recv_nothing()


def test_a_syn_with_an_old_tsval_gets_a_challenge_ack() -> None:
    h = TcpHarness(ts_recent=50)
    h.send("S", seq=h.remote(1), tsval=1)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    assert h.state == "ESTABLISHED"


def test_a_segment_without_timestamps_is_accepted_as_linux_does() -> None:
    """RFC 7323 §3.2 says SHOULD drop; Linux (and we) accept it and keep TS.Recent."""
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"bare")
    assert h.session.read() == b"bare"
    h.assert_tcb(ts_recent=50)


def test_ts_recent_zero_does_not_count() -> None:
    """As Linux's tcp_paws_check: some hosts send TSval 0 on their SYN only."""
    h = TcpHarness(ts_recent=0)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x", tsval=0xFFFF0000)
    assert h.session.read() == b"x"
    h.assert_tcb(ts_recent=0xFFFF0000)


def test_ts_recent_older_than_24_days_is_ignored_and_replaced() -> None:
    h = TcpHarness(ts_recent=50)
    h.advance(PAWS_IDLE - 1)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a", tsval=40)
    h.recv(h.expect(".", ack=h.remote(1)))  # 24 days less a second: still valid
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    h.advance(1)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"b", tsval=40)
    assert h.session.read() == b"b"
    h.assert_tcb(ts_recent=40, ts_recent_age=PAWS_IDLE)  # valid again, from now on
    h.send(".", seq=h.remote(2), ack=h.local(1), payload=b"c", tsval=39)
    assert h.drops[TcpDrop.PAWS_REJECTED] == 2


def test_without_timestamps_nothing_is_paws_checked() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x", tsval=1)
    assert h.session.read() == b"x"


# ------------------------------------------------------------------------ other states


def test_the_ack_completing_the_handshake_with_an_old_tsval_is_dropped() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), mss=1460, tsval=1000)
    h.recv(h.expect("S.", ack=h.remote(1)))
    h.send(".", seq=h.remote(1), ack=h.local(1), tsval=999)
    h.recv(h.expect(".", ack=h.remote(1)))
    assert h.state == "SYN_RECEIVED"
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    h.send(".", seq=h.remote(1), ack=h.local(1), tsval=1000)
    assert h.state == "ESTABLISHED"


def test_synack_ts_recent_age_is_the_time_of_the_synack() -> None:
    h = TcpHarness("CLOSED")
    h.session.open_active()
    h.take()
    h.advance(3.0)
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460, tsval=777)
    h.assert_tcb(state="ESTABLISHED", ts_recent=777, ts_recent_age=3.0)


def test_an_old_fin_in_fin_wait_2_is_not_taken() -> None:
    h = TcpHarness("FIN_WAIT_2", ts_recent=50)
    h.send("F.", seq=h.remote(1), ack=h.local(2), tsval=49)
    h.recv(h.expect(".", ack=h.remote(1)))
    assert h.state == "FIN_WAIT_2"
    h.send("F.", seq=h.remote(1), ack=h.local(2), tsval=50)
    h.recv(h.expect(".", ack=h.remote(2)))
    assert h.state == "TIME_WAIT"


def test_an_old_segment_in_time_wait_is_acked_and_dropped() -> None:
    h = TcpHarness("TIME_WAIT", ts_recent=50)
    h.advance(10)
    h.send(".", seq=h.remote(2), ack=h.local(2), payload=b"x", tsval=10)
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    assert h.drops[TcpDrop.PAWS_REJECTED] == 1
    assert h.state == "TIME_WAIT"


# ---------------------------------------------------------------------------- property


class GenericPipeline(TCPSession):
    """Overrides a check, so segments go through the generic loop, not the fast path."""

    fast_receive_path = False

    def check_paws(self, seg: tcpwire.TcpSegment) -> tcpwire.TcpSegment | None:
        return super().check_paws(seg)


start_ts = st.integers(1, 2**32 - 1)
steps = st.lists(
    st.tuples(
        st.one_of(st.integers(-3, 3), st.integers(-(2**31), 2**31 - 1), st.none()),
        st.booleans(),  # in order (at RCV.NXT), else a retransmission of the last byte
        st.sampled_from([0.0, 0.001, 1.0]),
    ),
    max_size=12,
)


def _run(cls: type[TCPSession], start: int, script: list[Any]) -> tuple[Any, ...]:
    h = TcpHarness(ts_recent=start, session_class=cls)
    sent: list[bytes] = []
    recent = start

    def keep(segments: list[tcpwire.TcpSegment]) -> None:
        sent.extend(tcpwire.emit(s, "198.18.0.1", "198.18.0.2") for s in segments)

    for delta, in_order, pause in script:
        h.advance(pause)
        keep(h.take())  # delayed ACKs
        tsval = None if delta is None else (h.session.ts_recent + delta) & 0xFFFFFFFF
        before, rcv_nxt = h.session.ts_recent, h.session.rcv_nxt.value
        seq = rcv_nxt if in_order else rcv_nxt - 1
        h.send(".", seq=seq, ack=h.local(1), payload=b"d", tsval=tsval)
        older = tsval is not None and (tsval - before) % 2**32 >= 2**31
        accepted = h.session.rcv_nxt.value != rcv_nxt
        # R1: no accepted segment is older than TS.Recent at its arrival, and each older
        # one is answered with exactly one ACK.
        assert not (accepted and older)
        answer = h.take()
        if older:
            (ack,) = answer
            assert ack.flags == tcpwire.ACK and ack.ack == rcv_nxt
        # TS.Recent never moves backwards.
        assert (h.session.ts_recent - recent) % 2**32 < 2**31
        recent = h.session.ts_recent
        keep(answer)
    return tuple(sent), h.session.ts_recent, h.session.read(), dict(h.drops)


@settings(max_examples=examples(ci=500, dev=60), deadline=None)
@given(start=start_ts, script=steps)
def test_paws_holds_for_any_tsval_sequence_on_both_pipelines(start: int, script: Any) -> None:
    """For random TSvals: the invariants above hold, and the fast default pipeline
    answers exactly as the generic one."""
    assert _run(TCPSession, start, script) == _run(GenericPipeline, start, script)
