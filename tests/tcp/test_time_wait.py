"""TIME_WAIT: 2*MSL, retransmitted FINs (RFC 9293 §3.10.7.4)."""

from __future__ import annotations

from pystack.layers.tcp_config import TcpConfig
from pystack.testing.harness import TcpHarness


def test_time_wait_lasts_two_msl() -> None:
    h = TcpHarness("TIME_WAIT", config=TcpConfig(msl=30))
    h.advance(59.9)
    assert h.state == "TIME_WAIT"
    h.advance(0.1)
    assert h.state == "CLOSED"


def test_retransmitted_fin_is_acked_and_restarts_the_timer() -> None:
    h = TcpHarness("TIME_WAIT", config=TcpConfig(msl=30))
    h.advance(50)
    h.send("F.", seq=h.remote(1), ack=h.local(2))
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    h.advance(59)
    assert h.state == "TIME_WAIT"
    h.advance(1)
    assert h.state == "CLOSED"
    assert ("TIME_WAIT", "rcv_fin", "TIME_WAIT") in h.transitions


def test_rst_in_time_wait_closes() -> None:
    h = TcpHarness("TIME_WAIT")
    h.send("R", seq=h.remote(2))
    assert h.state == "CLOSED"
