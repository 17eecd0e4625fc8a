"""Retransmission per RFC 6298 and R2 per RFC 9293 MUST-20."""

from __future__ import annotations

import pytest

from pystack.tcp.config import CloseReason, TcpConfig
from pystack.testing.harness import TcpHarness


@pytest.mark.requirement("RFC9293:MUST-19", "RFC6298:5.5")
def test_data_is_retransmitted_with_exponential_backoff() -> None:
    h = TcpHarness()
    h.session.send(b"hello")
    h.recv(h.expect("P.", seq=h.local(1), payload=b"hello"))
    for wait in (1.0, 2.0, 4.0, 8.0):
        h.advance(wait - 0.01)
        h.recv_nothing()
        h.advance(0.01)
        h.recv(h.expect("P.", seq=h.local(1), payload=b"hello"))
    h.assert_tcb(rto=16.0)


def test_rto_is_capped_at_max_rto() -> None:
    h = TcpHarness(config=TcpConfig(max_rto=4.0, r2=1000))
    h.session.send(b"x")
    h.take()
    h.advance(1 + 2 + 4 + 4)
    assert len(h.take()) == 4
    h.assert_tcb(rto=4.0)


def test_min_rto_is_configurable() -> None:
    h = TcpHarness(config=TcpConfig(min_rto=0.2, initial_rto=0.2))
    h.session.send(b"x")
    h.take()
    h.advance(0.2)
    h.recv(h.expect("P.", seq=h.local(1), payload=b"x"))


@pytest.mark.requirement("RFC9293:MUST-18")
def test_rtt_sample_sets_srtt_and_karn_skips_retransmitted() -> None:
    h = TcpHarness()
    h.session.send(b"a")
    h.take()
    h.advance(0.1)
    h.send(".", seq=h.remote(1), ack=h.local(2))
    assert h.session.snapshot()["srtt"] == 0.1
    h.session.send(b"b")
    h.take()
    h.advance(1.0)  # RTO fires: "b" is resent, its ACK gives no sample (Karn)
    h.take()
    h.send(".", seq=h.remote(1), ack=h.local(3))
    assert h.session.snapshot()["srtt"] == 0.1


@pytest.mark.requirement("RFC9293:MUST-20", "RFC9293:MUST-12", "RFC9293:MUST-21")
def test_r2_aborts_and_tells_timed_out() -> None:
    h = TcpHarness(config=TcpConfig(r2=10.0))
    h.session.send(b"x")
    h.advance(30)
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.TIMED_OUT


def test_fin_is_retransmitted() -> None:
    h = TcpHarness()
    h.session.close()
    h.recv(h.expect("F.", seq=h.local(1), ack=h.remote(1)))
    h.advance(1.0)
    h.recv(h.expect("F.", seq=h.local(1), ack=h.remote(1)))


def test_synack_is_retransmitted() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0))
    h.take()
    h.advance(1.0)
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1)))
