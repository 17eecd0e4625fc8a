"""Window scaling (RFC 7323 §2): negotiated on SYN and SYN,ACK, applied to SEG.WND and to
the window we advertise, never shrinking the right edge in scaled units."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.tcp_pairs import client_of_kernel

from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpHarness
from pystack.wire.tcp_options import WindowScale

# The default 256 KiB receive buffer needs a shift of 3 to fit the 16-bit window field.
DEFAULT_SHIFT = 3
WS = TcpConfig(window_scaling=True)


@pytest.mark.requirement("RFC7323:2.3")
def test_default_shift_covers_the_receive_buffer() -> None:
    assert WS.rcv_wscale == DEFAULT_SHIFT
    assert TcpConfig(rcv_buf=65535, window_scaling=True).rcv_wscale == 0
    assert (
        TcpConfig(rcv_buf=1 << 40, window_scaling=True).rcv_wscale == 14
    )  # RFC 7323 §2.3: at most 14
    assert TcpConfig(window_scaling=False).rcv_wscale == 0


# ----------------------------------------------------------------------------- SYN_SENT


def test_syn_offers_window_scale_with_an_unscaled_window() -> None:
    h = TcpHarness("CLOSED", config=WS)
    h.session.open_active()
    h.recv(h.expect("S", seq=h.local(0), window=65535, mss=1460, wscale=DEFAULT_SHIFT))


@pytest.mark.requirement("RFC7323:2.2")
def test_synack_with_window_scale_turns_scaling_on() -> None:
    h = TcpHarness("CLOSED", config=WS)
    h.session.open_active()
    h.take()
    wscale = (WindowScale(7),)
    h.send("S.", seq=h.remote(0), ack=h.local(1), window=1000, mss=1460, options=wscale)
    # RFC 7323 §2.2: the SYN,ACK's own window is not scaled.
    h.assert_tcb(state="ESTABLISHED", snd_wnd=1000, snd_wscale=7, rcv_wscale=DEFAULT_SHIFT)
    (ack,) = h.take()
    assert ack.window == (256 * 1024) >> DEFAULT_SHIFT
    h.send(".", seq=h.remote(1), ack=h.local(1), window=100)
    h.assert_tcb(snd_wnd=100 << 7)


def test_synack_without_window_scale_leaves_both_directions_unscaled() -> None:
    h = TcpHarness("CLOSED", config=WS)
    h.session.open_active()
    h.take()
    h.send("S.", seq=h.remote(0), ack=h.local(1), window=1000, mss=1460)
    h.assert_tcb(state="ESTABLISHED", snd_wscale=0, rcv_wscale=0)
    h.recv(h.expect(".", ack=h.remote(1), window=65535))
    h.send(".", seq=h.remote(1), ack=h.local(1), window=100)
    h.assert_tcb(snd_wnd=100)


def test_switched_off_no_option_on_syn() -> None:
    h = TcpHarness("CLOSED", config=TcpConfig(window_scaling=False))
    h.session.open_active()
    h.recv(h.expect("S", window=65535, wscale=-1))


# ------------------------------------------------------------------ LISTEN -> SYN_RECEIVED


def test_syn_with_window_scale_is_answered_with_our_shift() -> None:
    h = TcpHarness("LISTEN", config=WS)
    h.send("S", seq=h.remote(0), window=2000, mss=1460, options=(WindowScale(2),))
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1), window=65535, wscale=DEFAULT_SHIFT))
    h.assert_tcb(state="SYN_RECEIVED", snd_wnd=2000, snd_wscale=2, rcv_wscale=DEFAULT_SHIFT)
    h.send(".", seq=h.remote(1), ack=h.local(1), window=2000)
    h.assert_tcb(state="ESTABLISHED", snd_wnd=8000)  # the ACK's window is scaled


def test_syn_without_window_scale_gets_a_synack_without_it() -> None:
    h = TcpHarness("LISTEN", config=WS)
    h.send("S", seq=h.remote(0), mss=1460)
    h.recv(h.expect("S.", ack=h.remote(1), wscale=-1))
    h.assert_tcb(snd_wscale=0, rcv_wscale=0)


def test_a_shift_above_14_is_used_as_14() -> None:
    h = TcpHarness("LISTEN", config=WS)
    h.send("S", seq=h.remote(0), mss=1460, options=(WindowScale(20),))
    h.take()
    h.assert_tcb(snd_wscale=14)


def test_switched_off_the_synack_carries_no_option_even_if_the_syn_did() -> None:
    h = TcpHarness("LISTEN", config=TcpConfig(window_scaling=False))
    h.send("S", seq=h.remote(0), mss=1460, options=(WindowScale(5),))
    h.recv(h.expect("S.", wscale=-1))
    h.assert_tcb(snd_wscale=0, rcv_wscale=0)
    h.send(".", seq=h.remote(1), ack=h.local(1), window=3000)
    h.assert_tcb(snd_wnd=3000)


# ----------------------------------------------------------------------------- ESTABLISHED


def test_established_scales_the_peer_window_and_ours() -> None:
    h = TcpHarness(config=TcpConfig(rcv_buf=200_000, window_scaling=True), wscale=(2, 2))
    h.send(".", seq=h.remote(1), ack=h.local(1), window=30_000)
    h.assert_tcb(snd_wnd=120_000)
    h.session.cc.cwnd = 1 << 20  # past slow start: only the peer's window limits
    h.session.send(b"x" * 100_000)
    sent = h.take()
    assert sum(len(s.payload) for s in sent) > 98_000  # all full segments: > 64 KiB in flight
    h.send(".", seq=h.remote(1), ack=h.local(1), window=30_000, payload=b"y" * 1460)
    h.send(".", seq=h.remote(1461), ack=h.local(1), window=30_000, payload=b"y" * 1460)
    (ack,) = h.take()
    assert ack.window == (200_000 - 2920) >> 2


@pytest.mark.requirement("RFC9293:SHLD-14", "RFC7323:2.4")
def test_right_edge_never_shrinks_in_scaled_units() -> None:
    """RFC 7323 §2.4: rounding the window down to the scale unit would move the right edge
    left; it is rounded up, and data up to that edge is kept."""
    h = TcpHarness(config=TcpConfig(rcv_buf=10_000, mss=1000, window_scaling=True), wscale=(0, 4))
    edge = h.remote(1) + 10_000
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"a" * 1000)
    h.send("P.", seq=h.remote(1001), ack=h.local(1), payload=b"b" * 999)
    (ack,) = h.take()
    right = ack.ack + (ack.window << 4)
    assert right >= edge and ack.window == -(-8001 // 16)  # 8001 free bytes, rounded up
    rest = right - h.remote(2000)
    assert rest > h.session.rcvbuf.window  # the rounded-up edge lies past the free space
    h.send("P.", seq=h.remote(2000), ack=h.local(1), payload=b"c" * rest)
    assert h.session.read() == b"a" * 1000 + b"b" * 999 + b"c" * rest
    h.assert_tcb(rcv_nxt=h.remote(2000 + rest))


# ------------------------------------------------------------------------------ two stacks


def test_two_stacks_negotiate_and_keep_more_than_64_kib_in_flight() -> None:
    net = SimNet(2, seed=3, tcp=WS)
    b = net.b
    client, served = net.connect_tcp(7)
    sender = client.session
    (receiver,) = [s for s in b.tcp.connections.values() if s.state == "ESTABLISHED"]
    assert sender is not None
    for s in (sender, receiver):
        assert (s.snd_wscale, s.rcv_wscale) == (DEFAULT_SHIFT, DEFAULT_SHIFT)
    data = bytes(range(256)) * 4096
    got = bytearray()
    in_flight = 0
    sent = 0
    while len(got) < len(data):
        sent += client.send(data[sent : sent + 65536])
        in_flight = max(in_flight, sender.snd_max - sender.snd_una)
        net.advance(0.0005)
        got += served.fetch_data()
    assert bytes(got) == data
    assert sender.max_snd_wnd > 65535 and in_flight > 65535


def test_a_pure_ack_never_lies_beyond_the_peer_s_closed_window() -> None:
    """Linux with a scaled window may drop data inside the window it announced (its buffer
    memory ran out first) and then announce zero, leaving SND.MAX past its right edge. Our
    ACKs must then carry SEQ = SND.UNA + SND.WND, which a closed window accepts (RFC 9293
    §3.10.7.4): at SND.MAX the kernel dropped them with the acknowledgment they carried, and
    test_serve_echo_keeps_every_byte_for_a_client_that_reads_late stalled."""
    h = TcpHarness(config=WS, wscale=(DEFAULT_SHIFT, 0))
    h.session.send(b"x" * 3000)
    h.take()
    # The peer takes 1000 bytes and closes its window: SND.MAX is 2000 beyond its edge.
    h.send(".", seq=h.remote(1), ack=h.local(1001), window=0)
    h.send("P.", seq=h.remote(1), ack=h.local(1001), window=0, payload=b"y" * 1460)
    h.send("P.", seq=h.remote(1461), ack=h.local(1001), window=0, payload=b"y" * 1460)
    (ack,) = h.take()
    assert (ack.seq, ack.ack) == (h.local(1001), h.remote(2921))


# -------------------------------------------------------------------------- Linux kernel


@pytest.mark.root
def test_linux_negotiates_window_scaling_with_the_stack() -> None:
    from pystack.lab import Lab
    from pystack.stack import PyStack

    with Lab(mode="tap") as lab:
        stack = PyStack(link=lab.open_link(), ip=lab.stack_cidr, tcp=WS)
        seen: list[Any] = []
        try:
            stack.run(doreactor=False)
            original = stack.tcp.datagram_received

            def spy(packet: bytes, meta: Any) -> None:
                from pystack.wire import tcp as tcpwire

                seg = tcpwire.parse(bytes(packet))
                if seg.flags & tcpwire.SYN:
                    seen.append(seg)
                original(packet, meta)

            stack.tcp.datagram_received = spy
            with client_of_kernel(lab, stack) as client:
                session = client.session
                assert session is not None
                # Linux answers our SYN's option with its own (RFC 7323 §2.2).
                assert seen and seen[0].wscale is not None
                assert session.snd_wscale == seen[0].wscale
                assert session.rcv_wscale == DEFAULT_SHIFT
        finally:
            stack.stop()
