"""LISTEN (RFC 9293 §3.10.7.2)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import TcpDrop
from pystack.testing.harness import TcpHarness


@pytest.mark.requirement("RFC9293:MUST-14")
def test_syn_gets_synack_with_mss_and_creates_connection() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), mss=1000)
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1), mss=1460))
    assert h.state == "SYN_RECEIVED"
    h.assert_tcb(iss=h.local(0), irs=h.remote(0), snd_nxt=h.local(1), rcv_nxt=h.remote(1))
    h.assert_tcb(snd_mss=1000)


@pytest.mark.requirement("RFC9293:MUST-15")
def test_syn_without_mss_assumes_536() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0))
    h.take()
    h.assert_tcb(snd_mss=536)  # RFC 9293 MUST-15


def test_rst_is_ignored() -> None:
    h = TcpHarness("LISTEN")
    h.send("R", seq=h.remote(0))
    h.recv_nothing()
    assert h.state == "LISTEN"


def test_ack_gets_reset_with_its_ack_as_seq() -> None:
    h = TcpHarness("LISTEN")
    h.send(".", seq=h.remote(1), ack=1234)
    h.recv(h.expect("R", seq=1234))
    assert h.drops[TcpDrop.LISTEN_ACK] == 1


def test_segment_without_syn_is_dropped() -> None:
    h = TcpHarness("LISTEN")
    h.send("F", seq=h.remote(1))
    h.recv_nothing()
    assert h.drops[TcpDrop.LISTEN_NOT_SYN] == 1


def test_backlog_full_refuses_silently() -> None:
    h = TcpHarness("LISTEN")
    listener = h.session
    listener.backlog = 1
    listener.accept_queue.append(listener)  # a connection waits in the queue
    h.send("S", seq=h.remote(0))
    h.recv_nothing()
    assert h.drops[TcpDrop.BACKLOG_FULL] == 1
    assert listener.state == "LISTEN"
