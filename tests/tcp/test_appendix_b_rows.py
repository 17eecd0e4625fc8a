"""RFC 9293 Appendix B rows shown here rather than beside the code they exercise: the
window field is unsigned and kept in 32 bits (MUST-1, REC-1), a shrunk window (MUST-34,
SHLD-15), sender SWS avoidance (MUST-38), one ACK for queued segments (MUST-58, MUST-59),
passive OPENs beside live connections (MUST-41, MUST-42), a RST with data (SHLD-2),
options at any alignment (MUST-64), MSS only on SYNs (MUST-65), a RST at a zero receive
window (MUST-66), soft ICMP errors and source quench (MUST-55, MUST-56), the connection's
own address (MUST-44, MUST-45), unknown IP options (MUST-50) and SYNs from an invalid
source (MUST-63)."""

from __future__ import annotations

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet, WireTap
from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpHarness
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.ethernet import ETHERTYPE_IPV4
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.tcp_options import NOP, Mss

A, B = "198.18.0.1", "198.18.0.2"


@pytest.mark.requirement("RFC9293:MUST-1")
def test_the_window_field_is_read_as_an_unsigned_number() -> None:
    h = TcpHarness(peer_window=1000)
    for window in (0x8000, 0xFFFF):  # negative if the field were signed
        h.send(".", seq=h.remote(1), ack=h.local(1), window=window)
        h.assert_tcb(snd_wnd=window)


@pytest.mark.requirement("RFC9293:MUST-64")
def test_an_mss_option_at_an_odd_offset_is_honoured() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), options=(NOP, NOP, NOP, Mss(1000)))
    h.take()
    h.send(".", seq=h.remote(1), ack=h.local(1))
    h.session.send(b"a" * 3000)
    assert [len(s.payload) for s in h.take()] == [1000, 1000, 1000]


def _has_mss(seg: tcpwire.TcpSegment) -> bool:
    return any(isinstance(opt, Mss) for opt in seg.options)


@pytest.mark.requirement("RFC9293:MUST-65")
def test_the_mss_option_goes_on_the_syn_ack_only() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), mss=1460)
    (synack,) = h.take()
    assert _has_mss(synack)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"hello")
    h.session.send(b"a" * 2000)
    h.advance(1.0)
    later = h.take()
    assert later and not any(_has_mss(s) for s in later)


@pytest.mark.requirement("RFC9293:MUST-66")
def test_a_reset_is_processed_while_the_receive_window_is_zero() -> None:
    h = TcpHarness(config=TcpConfig(rcv_buf=1000))
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x" * 1000)
    h.advance(0.5)  # past the delayed ACK
    (ack,) = h.take()
    assert ack.window == 0  # the application has read nothing: the window is closed
    h.send("R", seq=h.remote(1001))
    assert h.state == "CLOSED"


def _quote_of(client: TCPApplication) -> bytes:
    session = client.session
    assert session is not None
    ports = session.local_port.to_bytes(2, "big") + session.remote_port.to_bytes(2, "big")
    return icmp_wire.quote(ipv4.emit(Ipv4Packet(A, B, 6, ports + bytes(16))))


@pytest.mark.requirement("RFC9293:MUST-55", "RFC9293:MUST-56", "RFC1122:3.2.2.1-unreach-hint")
def test_soft_icmp_errors_and_source_quench_leave_the_connection_alone() -> None:
    net = SimNet(2)
    client, server = net.connect_tcp(7)
    quoted = _quote_of(client)
    errors = [icmp_wire.dest_unreachable(code, quoted) for code in (0, 1, 5)]
    errors += [icmp_wire.time_exceeded(0, quoted), icmp_wire.IcmpMessage(12, 0, 0, quoted)]
    errors.append(icmp_wire.IcmpMessage(4, 0, 0, quoted))  # source quench
    tap = WireTap(net)
    for msg in errors:
        tap.inject(Ipv4Packet(B, A, 1, icmp_wire.emit(msg)))
    assert net.a.stats.get("tcp", "icmp_soft_errors") == len(errors)
    client.send(b"still here")
    net.advance(1.0)
    assert server.fetch_data() == b"still here"
    assert client.session is not None and client.session.state == "ESTABLISHED"


@pytest.mark.requirement("RFC9293:MUST-44", "RFC9293:MUST-45")
def test_every_segment_of_a_connection_carries_the_stacks_own_address() -> None:
    net = SimNet(2)
    tap = WireTap(net)
    client, _ = net.connect_tcp(7)
    client.send(b"data")
    client.close()
    net.advance(1.0)
    sent = [p for p in tap.ip() if p.proto == 6 and p.dst == B]
    assert len(sent) >= 3 and {p.src for p in sent} == {A}


def _syn(src: str, dst: str, sport: int) -> Ipv4Packet:
    return Ipv4Packet(
        src, dst, 6, tcpwire.emit(tcpwire.TcpSegment(sport, 7, 1, 0, tcpwire.SYN, 1000), src, dst)
    )


@pytest.mark.requirement("RFC9293:MUST-63")
def test_syns_from_an_invalid_source_are_dropped() -> None:
    net = SimNet(2)
    listening = TCPApplication()
    net.a.register_tcp_application(listening)
    listening.bind(7)
    listening.listen(5)
    tap = WireTap(net)
    for bad_source in ("224.0.0.5", "198.18.0.255", "255.255.255.255"):
        tap.inject(_syn(bad_source, A, 1003))
    net.advance(1.0)
    assert [f for f in tap.frames if f.src == net.a.mac and f.ethertype == ETHERTYPE_IPV4] == []
    tap.inject(_syn(B, A, 1004))  # the same SYN from a valid source is answered
    net.advance(1.0)
    answers = [tcpwire.parse(p.payload) for p in tap.ip() if p.src == A and p.proto == 6]
    assert [s.flags & (tcpwire.SYN | tcpwire.ACK) for s in answers] == [tcpwire.SYN | tcpwire.ACK]


@pytest.mark.requirement("RFC9293:MUST-38")
def test_the_sender_does_not_fill_a_small_usable_window_with_a_small_segment() -> None:
    h = TcpHarness(config=TcpConfig(nodelay=True))  # no Nagle: only SWS avoidance holds data
    h.send(".", seq=h.remote(1), ack=h.local(1), window=2000)
    h.session.send(b"a" * 3000)
    # One full segment; the 540 bytes the window still allows would be a silly segment.
    h.recv(h.expect(".", seq=h.local(1), payload=b"a" * 1460))
    h.send(".", seq=h.remote(1), ack=h.local(1461), window=65535)
    h.recv(
        h.expect(".", seq=h.local(1461), payload=b"a" * 1460),
        h.expect("P.", seq=h.local(2921), payload=b"a" * 80),
    )


@pytest.mark.requirement("RFC9293:MUST-50")
def test_a_syn_with_an_unknown_ip_option_is_answered() -> None:
    net = SimNet(2)
    listening = TCPApplication()
    net.a.register_tcp_application(listening)
    listening.bind(7)
    listening.listen(5)
    tap = WireTap(net)
    syn = _syn(B, A, 1005)
    tap.inject(Ipv4Packet(B, A, 6, syn.payload, options=bytes([30, 4, 0xAB, 0xCD])))
    net.advance(1.0)
    answers = [tcpwire.parse(p.payload) for p in tap.ip() if p.src == A and p.proto == 6]
    assert [s.flags & (tcpwire.SYN | tcpwire.ACK) for s in answers] == [tcpwire.SYN | tcpwire.ACK]


@pytest.mark.requirement("RFC9293:MUST-58")
def test_two_full_segments_are_acknowledged_by_one_ack() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a" * 1460)
    h.send(".", seq=h.remote(1461), ack=h.local(1), payload=b"b" * 1460)
    h.advance(0.5)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(2921)))


@pytest.mark.requirement("RFC9293:MUST-59")
def test_a_segment_that_fills_a_gap_is_acknowledged_with_the_queue_behind_it() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(1461), ack=h.local(1), payload=b"b" * 1460)  # out of order
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))  # duplicate ACK at once
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a" * 1460)
    h.advance(0.5)
    # One ACK, for both segments: the queued one was taken before acknowledging.
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(2921)))


@pytest.mark.requirement("RFC9293:MUST-34", "RFC9293:SHLD-15", "RFC9293:SHLD-16")
def test_a_shrunk_window_holds_new_data_without_ending_the_connection() -> None:
    h = TcpHarness(config=TcpConfig(nodelay=True))
    h.session.send(b"a" * 2920)
    assert len(h.take()) == 2
    h.send(".", seq=h.remote(1), ack=h.local(1), window=1000)  # right edge moves left
    h.session.send(b"b" * 500)
    h.recv_nothing()  # nothing new beyond the shrunk window
    h.advance(30.0)  # retransmissions run; the shrink alone does not end the connection
    assert any(s.seq == h.local(1) and s.payload for s in h.take())  # data inside the window
    assert h.state == "ESTABLISHED"
    h.send(".", seq=h.remote(1), ack=h.local(2921), window=65535)
    h.advance(0.01)
    sent = h.take()
    assert [bytes(s.payload) for s in sent if s.seq == h.local(2921)][:1] == [b"b" * 500]


@pytest.mark.requirement("RFC9293:REC-1")
def test_a_scaled_window_beyond_16_bits_is_kept_whole() -> None:
    h = TcpHarness(wscale=(7, 7))
    h.send(".", seq=h.remote(1), ack=h.local(1), window=0xFFFF)
    h.assert_tcb(snd_wnd=0xFFFF << 7)  # 8388480: needs more than 16 bits


@pytest.mark.requirement("RFC9293:SHLD-2")
def test_a_reset_carrying_data_is_accepted() -> None:
    h = TcpHarness()
    h.send("R", seq=h.remote(1), payload=b"connection refused by policy")
    assert h.state == "CLOSED"


@pytest.mark.requirement("RFC9293:MUST-41", "RFC9293:MUST-42")
def test_a_listener_keeps_listening_beside_its_connections_and_new_listeners() -> None:
    net = SimNet(2)
    first, accepted = net.connect_tcp(7)
    second, _ = net.connect_tcp(8)  # another passive OPEN while the first connection runs
    third = TCPApplication()
    net.a.register_tcp_application(third)
    done: list[bool] = []
    third.connect_deferred(B, 7).addCallback(done.append)  # port 7 still listens
    first.send(b"undisturbed")
    net.advance(1.0)
    assert done == [True]
    assert accepted.fetch_data() == b"undisturbed"
    assert first.session is not None and first.session.state == "ESTABLISHED"
    assert second.session is not None and second.session.state == "ESTABLISHED"


@pytest.mark.requirement("RFC9293:SHLD-27")
def test_writes_held_behind_unacknowledged_data_go_out_as_one_pushed_segment() -> None:
    h = TcpHarness()
    h.session.send(b"a")
    h.recv(h.expect("P.", seq=h.local(1), payload=b"a"))
    for chunk in (b"b", b"c", b"d"):  # each write would have ended with PSH on its own
        h.session.send(chunk)
    h.recv_nothing()  # Nagle: held while "a" is unacknowledged
    h.send(".", seq=h.remote(1), ack=h.local(2))
    h.recv(h.expect("P.", seq=h.local(2), payload=b"bcd"))


@pytest.mark.requirement("RFC9293:MAY-8")
def test_a_receiver_keeps_its_window_closed_for_hours_until_the_application_reads() -> None:
    h = TcpHarness(config=TcpConfig(rcv_buf=1000))
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x" * 1000)
    h.advance(0.5)
    assert [s.window for s in h.take()] == [0]  # the application has read nothing
    windows: list[int] = []
    while h.clock.seconds() < 3 * 3600:  # the peer probes once a minute for three hours
        h.advance(60.0)
        h.send(".", seq=h.remote(1001), ack=h.local(1), payload=b"y")
        h.advance(0.5)
        windows += [s.window for s in h.take()]
    # Every probe is answered, the window stays shut, and nobody gives up on it.
    assert len(windows) >= 170 and set(windows) == {0}
    assert h.state == "ESTABLISHED" and h.session.close_reason is None
    assert h.session.read() == b"x" * 1000
    h.advance(0.5)
    assert [s.window for s in h.take()] == [1000]  # reading opens it again


@pytest.mark.requirement("RFC9293:SHLD-17")
def test_data_beyond_a_window_shrunk_to_zero_does_not_time_the_connection_out() -> None:
    h = TcpHarness(config=TcpConfig(nodelay=True))
    h.session.send(b"a" * 2920)
    h.take()
    # The peer takes 1000 bytes and shuts its window: 1920 bytes sent lie beyond it.
    h.send(".", seq=h.remote(1), ack=h.local(1001), window=0)
    answered = 0
    while h.clock.seconds() < 1800:  # half an hour, far beyond R2 (100 s)
        h.advance(1.0)
        for _ in h.take():  # each retransmission beyond the edge is answered, window 0
            h.send(".", seq=h.remote(1), ack=h.local(1001), window=0)
            answered += 1
    assert answered >= 20
    assert h.state == "ESTABLISHED" and h.session.close_reason is None
    # A peer that stops answering is given up after R2, as before.
    h.advance(h.session.config.r2 + h.session.config.max_rto * 2)
    assert h.session.close_reason is not None
