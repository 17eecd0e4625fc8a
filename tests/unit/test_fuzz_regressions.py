"""Inputs the fuzz campaign (``pystack bench fuzz``) found raising out of the receive path
or its timers; each is now dropped, counted or answered as the RFCs say."""

from __future__ import annotations

from pystack.layers.tcp_config import TcpConfig
from pystack.testing.harness import TcpHarness
from pystack.wire.tcp_options import WindowScale

WS = TcpConfig(window_scaling=True)


def test_synack_retransmitted_after_a_scaled_ack_keeps_an_unscaled_window() -> None:
    # In SYN_RECEIVED an unacceptable segment is answered with an ACK whose window is
    # scaled (RCV.WND up to 256 KiB); the SYN,ACK retransmitted later carries an unscaled
    # window (RFC 7323 §2.2), which cannot say more than 65535. It used to raise.
    h = TcpHarness("LISTEN", config=WS)
    h.send("S", seq=h.remote(0), window=2000, mss=1460, options=(WindowScale(2),))
    h.take()
    h.send(".", seq=h.remote(1) + 1_000_000, ack=h.local(1))  # out of the window
    (ack,) = h.take()
    assert ack.window << 3 > 65535
    h.advance(1.5)  # the SYN,ACK's retransmission timeout
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1), window=65535))
    h.send(".", seq=h.remote(1), ack=h.local(1), window=100)
    assert h.state == "ESTABLISHED"
