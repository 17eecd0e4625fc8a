"""Flow control: the peer's window, zero-window probes, our window (RFC 9293 §3.8.6)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpHarness


def test_sender_respects_peer_window() -> None:
    h = TcpHarness(peer_window=1000)
    h.session.send(b"x" * 5000)
    (seg,) = h.take()
    assert len(seg.payload) == 1000


@pytest.mark.requirement("RFC9293:MUST-36", "RFC9293:MUST-37")
def test_answered_zero_window_probes_with_backoff_never_time_out() -> None:
    h = TcpHarness(peer_window=0, config=TcpConfig(r2=10.0))
    h.session.send(b"abc")
    h.recv_nothing()
    for wait in (1.0, 2.0, 4.0):
        h.advance(wait)
        h.recv(h.expect(".", seq=h.local(1), payload=b"a"))
        h.send(".", seq=h.remote(1), ack=h.local(1), window=0)
    for _ in range(50):  # MUST-37: answered probes never abort the connection
        h.advance(10.0)
        h.send(".", seq=h.remote(1), ack=h.local(1), window=0)
    assert h.state == "ESTABLISHED"
    h.take()
    h.send(".", seq=h.remote(1), ack=h.local(2), window=1000)
    h.recv(h.expect("P.", seq=h.local(2), payload=b"bc"))


def test_window_opened_by_an_update_restarts_sending() -> None:
    h = TcpHarness(peer_window=0)
    h.session.send(b"abc")
    h.send(".", seq=h.remote(1), ack=h.local(1), window=100)
    h.recv(h.expect("P.", seq=h.local(1), payload=b"abc"))


@pytest.mark.requirement("RFC9293:SHLD-14")
def test_advertised_window_never_shrinks_and_update_on_read() -> None:
    h = TcpHarness(config=TcpConfig(rcv_buf=4000, mss=1000))
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x" * 3000)
    h.advance(0.2)
    (ack,) = h.take()
    assert ack.window == 1000
    h.session.read(500)
    h.recv_nothing()  # 500 bytes are less than min(buffer/2, MSS): no update (SWS)
    h.session.read(1000)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(3001), window=2500))
