"""Closing: FIN_WAIT_1/2, CLOSING, CLOSE_WAIT, LAST_ACK, abort (RFC 9293 §3.10.4-5)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import CloseReason
from pystack.testing.harness import TcpHarness


def test_active_close_through_fin_wait_2_to_time_wait() -> None:
    h = TcpHarness()
    h.session.close()
    h.recv(h.expect("F.", seq=h.local(1), ack=h.remote(1)))
    h.send(".", seq=h.remote(1), ack=h.local(2))
    assert h.state == "FIN_WAIT_2"
    h.send("F.", seq=h.remote(1), ack=h.local(2))
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    assert h.state == "TIME_WAIT"


def test_fin_waits_for_queued_data() -> None:
    h = TcpHarness(peer_window=3)
    h.session.send(b"abc")
    h.take()
    h.session.send(b"def")
    h.session.close()
    h.recv_nothing()  # the window is full: "def" and the FIN wait
    h.send(".", seq=h.remote(1), ack=h.local(4), window=4)
    h.recv(h.expect("FP.", seq=h.local(4), payload=b"def"))


@pytest.mark.requirement("RFC9293:MUST-60")
def test_nagle_does_not_hold_the_tail_after_close() -> None:
    # Regression: with an odd number of full segments in flight the peer delays its ACK
    # (RFC 9293 §3.8.6.3), and Nagle held the last small segment and the FIN for it: the
    # demo's 100 000-byte transfer took 204.5 ms instead of ~4 ms.
    h = TcpHarness()
    h.session.send(b"abc")
    h.take()
    h.session.send(b"def")
    h.recv_nothing()  # Nagle holds "def" while "abc" is unacknowledged
    h.session.close()
    h.recv(h.expect("FP.", seq=h.local(4), payload=b"def"))


def test_simultaneous_close_goes_through_closing() -> None:
    h = TcpHarness("FIN_WAIT_1")
    h.send("F.", seq=h.remote(1), ack=h.local(1))
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    assert h.state == "CLOSING"
    h.send(".", seq=h.remote(2), ack=h.local(2))
    assert h.state == "TIME_WAIT"


def test_fin_wait_1_receives_data() -> None:
    h = TcpHarness("FIN_WAIT_1")
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"late")
    assert h.session.read() == b"late"


def test_passive_close_through_last_ack() -> None:
    h = TcpHarness("CLOSE_WAIT")
    h.session.send(b"bye")
    h.take()
    h.session.close()
    h.send(".", seq=h.remote(2), ack=h.local(4))
    h.recv(h.expect("F.", seq=h.local(4), ack=h.remote(2)))
    assert h.state == "LAST_ACK"
    h.send(".", seq=h.remote(2), ack=h.local(5))
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.CLOSED


def test_abort_in_established_sends_rst() -> None:
    h = TcpHarness()
    h.session.abort()
    h.recv(h.expect("R", seq=h.local(1)))
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.ABORTED


def test_abort_in_syn_sent_sends_nothing() -> None:
    h = TcpHarness("SYN_SENT")
    h.session.abort()
    h.recv_nothing()
    assert h.state == "CLOSED"


def test_send_after_close_is_an_error() -> None:
    import pytest

    h = TcpHarness()
    h.session.close()
    with pytest.raises(ConnectionError):
        h.session.send(b"x")
