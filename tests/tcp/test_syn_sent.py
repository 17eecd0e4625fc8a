"""SYN-SENT (RFC 9293 §3.10.7.3)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import CloseReason, TcpConfig, TcpDrop
from pystack.testing.harness import TcpHarness


@pytest.mark.requirement("RFC9293:MUST-14", "RFC9293:SHLD-5", "RFC9293:MAY-3")
def test_active_open_sends_syn_with_mss() -> None:
    h = TcpHarness("CLOSED")
    h.session.remote_ip, h.session.remote_port = "198.18.0.2", 49500
    h.session.open_active()
    h.recv(h.expect("S", seq=h.local(0), ack=0, mss=1460))
    assert h.state == "SYN_SENT"


def test_synack_establishes_and_acks() -> None:
    h = TcpHarness("SYN_SENT")
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1200, window=4000)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.state == "ESTABLISHED"
    h.assert_tcb(snd_una=h.local(1), rcv_nxt=h.remote(1), snd_wnd=4000, snd_mss=1200)


def test_bad_ack_gets_reset_and_no_transition() -> None:
    h = TcpHarness("SYN_SENT")
    h.send("S.", seq=h.remote(0), ack=h.local(5))
    h.recv(h.expect("R", seq=h.local(5)))
    assert h.state == "SYN_SENT"
    assert h.drops[TcpDrop.SYN_SENT_BAD_ACK] == 1


def test_rst_with_acceptable_ack_refuses() -> None:
    closed = []

    class User:
        def tcp_closed(self, session: object, reason: CloseReason) -> None:
            closed.append(reason)

    h = TcpHarness("SYN_SENT", user=User())
    h.send("R.", seq=0, ack=h.local(1))
    h.recv_nothing()
    assert h.state == "CLOSED"
    assert closed == [CloseReason.RESET]


def test_rst_without_ack_is_dropped() -> None:
    h = TcpHarness("SYN_SENT")
    h.send("R", seq=h.remote(0))
    assert h.state == "SYN_SENT"
    assert h.drops[TcpDrop.SYN_SENT_RST_NO_ACK] == 1


@pytest.mark.requirement("RFC9293:MUST-10")
def test_simultaneous_open() -> None:
    h = TcpHarness("SYN_SENT")
    h.send("S", seq=h.remote(0))
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1), mss=1460))
    assert h.state == "SYN_RECEIVED"
    h.send("S.", seq=h.remote(0), ack=h.local(1))  # its SYN,ACK: our SYN is acknowledged
    # Its SYN,ACK repeats a SYN already seen: RFC 5961 §4 challenge ACK, but established.
    assert h.state == "ESTABLISHED"


@pytest.mark.requirement("RFC9293:MUST-22")
def test_syn_is_retransmitted_with_backoff_then_times_out() -> None:
    closed = []

    class User:
        def tcp_closed(self, session: object, reason: CloseReason) -> None:
            closed.append(reason)

    h = TcpHarness("SYN_SENT", config=TcpConfig(syn_r2=10.0), user=User())
    h.advance(1.0)
    h.recv(h.expect("S", seq=h.local(0), mss=1460))
    h.advance(1.9)
    h.recv_nothing()
    h.advance(0.1)
    h.recv(h.expect("S", seq=h.local(0), mss=1460))
    h.advance(4.0)
    h.recv(h.expect("S", seq=h.local(0), mss=1460))
    h.advance(8.0)
    assert h.state == "CLOSED"
    assert closed == [CloseReason.TIMED_OUT]


@pytest.mark.requirement("RFC9293:MUST-54", "RFC9293:SHLD-26")
def test_icmp_port_unreachable_aborts_the_open() -> None:
    h = TcpHarness("SYN_SENT")
    h.session.icmp_error(hard=True)
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.UNREACHABLE
