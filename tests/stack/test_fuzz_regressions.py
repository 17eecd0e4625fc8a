"""Inputs the fuzz campaign (``pystack bench fuzz``) found raising out of the receive path
or its timers; each is now dropped, counted or answered as the RFCs say."""

from __future__ import annotations

from pystack.layers.tcp_application import TCPApplication
from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpHarness
from pystack.testing.twostack import SimNet, WireTap
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import Mss, Nop, WindowScale

WS = TcpConfig(window_scaling=True)
PEER = "198.18.0.50"


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


def test_the_same_on_a_whole_stack_raised_out_of_the_retransmission_timer() -> None:
    # The frames the campaign sent: a SYN with window scaling to a listener, then an ACK
    # far out of the window; the SYN,ACK's retransmission raised ValueError in the codec.
    net = SimNet(1)
    server = TCPApplication()
    net.a.register_tcp_application(server)
    server.bind(80)
    server.listen(4)
    tap = WireTap(net)
    options = (Mss(1460), Nop(), WindowScale(7))
    syn = tcpwire.TcpSegment(40000, 80, 1000, 0, tcpwire.SYN, 2000, b"", options)
    stray = tcpwire.TcpSegment(40000, 80, 1000 + 5_000_000, 1, tcpwire.ACK, 2000)
    for seg in (syn, stray):
        tap.inject(
            ipv4.Ipv4Packet(PEER, str(net.a.address), 6, tcpwire.emit(seg, PEER, "198.18.0.1"))
        )
    net.advance(2.0)  # raised here
    assert net.a.stats.get("tcp", "segments_out") >= 3  # SYN,ACK, ACK, SYN,ACK again
