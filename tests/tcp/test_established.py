"""ESTABLISHED: the SEGMENT ARRIVES pipeline (RFC 9293 §3.10.7.4, RFC 5961)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import CloseReason, TcpConfig, TcpDrop
from pystack.testing.harness import TcpHarness


@pytest.mark.requirement("RFC9293:SHLD-18", "RFC9293:MUST-40")
def test_in_order_data_is_delivered_and_ack_delayed() -> None:
    h = TcpHarness()
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.recv_nothing()
    h.assert_tcb(rcv_nxt=h.remote(4), recv_queued=3)
    h.advance(0.19)
    h.recv_nothing()
    h.advance(0.01)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(4)))


@pytest.mark.requirement("RFC9293:SHLD-19")
def test_every_second_full_segment_is_acked_at_once() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x" * 1460)
    h.recv_nothing()
    h.send(".", seq=h.remote(1461), ack=h.local(1), payload=b"x" * 1460)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(2921)))


@pytest.mark.requirement("RFC9293:SHLD-31", "RFC9293:MAY-13")
def test_out_of_order_is_held_and_acked_at_once() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(4), ack=h.local(1), payload=b"def")
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    h.assert_tcb(ooo_queued=3, recv_queued=0)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(7)))
    assert h.session.read() == b"abcdef"


def test_duplicate_data_is_acked_not_delivered_twice() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.advance(1)
    h.take()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(4)))
    assert h.session.read() == b"abc"
    assert h.drops[TcpDrop.UNACCEPTABLE_SEQ] == 1


def test_overlapping_segment_is_trimmed() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.send(".", seq=h.remote(2), ack=h.local(1), payload=b"bcdef")
    assert h.session.read() == b"abcdef"


def test_sequence_wraparound() -> None:
    h = TcpHarness(irs=2**32 - 2)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abcd")
    h.assert_tcb(rcv_nxt=3)
    assert h.session.read() == b"abcd"


def test_rst_exactly_at_rcv_nxt_resets() -> None:
    h = TcpHarness()
    h.send("R", seq=h.remote(1))
    h.recv_nothing()
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.RESET


def test_rst_in_window_but_not_exact_gets_challenge_ack() -> None:
    h = TcpHarness()
    h.send("R", seq=h.remote(100))
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.state == "ESTABLISHED"
    assert h.drops[TcpDrop.RST_CHALLENGED] == 1


def test_rst_out_of_window_is_silently_dropped() -> None:
    h = TcpHarness()
    h.send("R", seq=h.remote(100_000))
    h.recv_nothing()
    assert h.state == "ESTABLISHED"


def test_syn_in_window_gets_challenge_ack() -> None:
    h = TcpHarness()
    h.send("S", seq=h.remote(50))
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.state == "ESTABLISHED"
    assert h.drops[TcpDrop.SYN_CHALLENGED] == 1


def test_ack_of_unsent_data_is_answered_and_dropped() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(500), payload=b"zz")
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.session.read() == b""
    assert h.drops[TcpDrop.ACK_UNSENT] == 1


def test_too_old_ack_is_dropped_rfc5961_5() -> None:
    h = TcpHarness(peer_window=1000)
    h.send(".", seq=h.remote(1), ack=h.local(-5000), payload=b"zz")
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.drops[TcpDrop.ACK_TOO_OLD] == 1


def test_segment_without_ack_is_dropped() -> None:
    h = TcpHarness()
    h.send("P", seq=h.remote(1), payload=b"zz")
    h.recv_nothing()
    assert h.drops[TcpDrop.NO_ACK] == 1


def test_fin_moves_to_close_wait_and_is_acked() -> None:
    h = TcpHarness()
    h.send("F.", seq=h.remote(1), ack=h.local(1))
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(2)))
    assert h.state == "CLOSE_WAIT"


def test_out_of_order_fin_waits_for_the_hole() -> None:
    h = TcpHarness()
    h.send("F.", seq=h.remote(4), ack=h.local(1))
    h.take()
    assert h.state == "ESTABLISHED"
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    assert h.state == "CLOSE_WAIT"
    h.assert_tcb(rcv_nxt=h.remote(5))


def test_data_beyond_the_window_is_trimmed() -> None:
    h = TcpHarness(config=TcpConfig(rcv_buf=4))
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abcdef")
    assert h.session.read() == b"abcd"
    h.assert_tcb(rcv_nxt=h.remote(5))


def test_large_segment_beyond_mss_is_accepted() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"y" * 20000)
    assert len(h.session.read()) == 20000


@pytest.mark.requirement("RFC9293:SHLD-7", "RFC9293:MAY-16")
def test_nagle_holds_small_segments_while_data_is_unacked() -> None:
    h = TcpHarness()
    h.session.send(b"a")
    h.recv(h.expect("P.", seq=h.local(1), payload=b"a"))
    h.session.send(b"b")
    h.recv_nothing()
    h.send(".", seq=h.remote(1), ack=h.local(2))
    h.recv(h.expect("P.", seq=h.local(2), payload=b"b"))


@pytest.mark.requirement("RFC9293:MUST-17")
def test_nodelay_sends_small_segments_at_once() -> None:
    h = TcpHarness(config=TcpConfig(nodelay=True))
    h.session.send(b"a")
    h.session.send(b"b")
    h.recv(
        h.expect("P.", seq=h.local(1), payload=b"a"), h.expect("P.", seq=h.local(2), payload=b"b")
    )


@pytest.mark.requirement("RFC9293:MUST-25")
def test_keepalive_is_off_by_default() -> None:
    h = TcpHarness()
    h.advance(10_000)
    h.recv_nothing()


@pytest.mark.requirement(
    "RFC9293:MAY-5", "RFC9293:MUST-24", "RFC9293:MUST-26", "RFC9293:MUST-27", "RFC9293:SHLD-12"
)
def test_keepalive_probes_then_times_out() -> None:
    cfg = TcpConfig(keepalive=True, keepalive_idle=100, keepalive_interval=10, keepalive_count=3)
    h = TcpHarness(config=cfg)
    h.session.keepalive_reset()
    h.advance(100)
    h.recv(h.expect(".", seq=h.local(0), ack=h.remote(1)))
    h.send(".", seq=h.remote(1), ack=h.local(1))  # the answer: idle again
    h.advance(99)
    h.recv_nothing()
    h.advance(1)
    h.recv(h.expect(".", seq=h.local(0)))
    for _ in range(3):
        h.advance(10)
    h.take()
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.TIMED_OUT
