"""SYN-RECEIVED (RFC 9293 §3.10.7.4)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import TcpDrop
from pystack.testing.harness import TcpHarness


def test_ack_of_syn_establishes() -> None:
    h = TcpHarness("SYN_RECEIVED")
    h.send(".", seq=h.remote(1), ack=h.local(1))
    assert h.state == "ESTABLISHED"


def test_bad_ack_gets_reset() -> None:
    h = TcpHarness("SYN_RECEIVED")
    h.send(".", seq=h.remote(1), ack=h.local(9))
    h.recv(h.expect("R", seq=h.local(9)))
    assert h.state == "SYN_RECEIVED"
    assert h.drops[TcpDrop.BAD_ACK_SYN_RECEIVED] == 1


@pytest.mark.requirement("RFC9293:MUST-11")
def test_rst_of_a_passive_open_returns_to_listen_and_is_forgotten() -> None:
    h = TcpHarness("LISTEN")
    listener = h.session
    h.send("S", seq=h.remote(0))
    child = h.session
    h.send("R", seq=h.remote(1))
    assert child.state == "LISTEN"
    assert child in h.host.forgotten
    assert listener.state == "LISTEN" and listener.half_open == 0


def test_retransmitted_syn_gets_the_synack_again() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0))
    h.take()
    h.send("S", seq=h.remote(0))
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1)))


def test_data_with_the_ack_is_delivered() -> None:
    h = TcpHarness("SYN_RECEIVED")
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"early")
    assert h.state == "ESTABLISHED"
    assert h.session.read() == b"early"
