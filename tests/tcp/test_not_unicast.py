"""TCP is unicast only: a SYN sent to a broadcast or multicast address is dropped without an
answer (RFC 9293 §3.9.1 MUST-57, as Linux drops every such segment), and an OPEN to such an
address is refused (MUST-46)."""

from __future__ import annotations

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet
from pystack.tcp.config import TcpDrop
from pystack.testing.harness import TcpPair
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire

A, B = TcpPair.ADDRESSES
SYN = tcpwire.TcpSegment(40000, 80, 100, 0, tcpwire.SYN, 1000)


def listening_pair() -> tuple[TcpPair, list[bytes]]:
    pair = TcpPair()
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(80)
    server.listen(5)
    sent: list[bytes] = []
    pair.wire.filter = lambda src, dst, data: sent.append(data) or False
    return pair, sent


@pytest.mark.requirement("RFC9293:MUST-57")
@pytest.mark.parametrize("dst", ["255.255.255.255", "224.0.0.1", "239.1.2.3"])
def test_a_syn_to_broadcast_or_multicast_is_silently_dropped(dst: str) -> None:
    pair, sent = listening_pair()
    data = tcpwire.emit(SYN, A, dst)
    pair.layers[1].packet_received(data, IP=ipv4.Ipv4Packet(A, dst, 6, data))
    assert sent == []  # neither SYN,ACK nor RST
    assert pair.layers[1].stats.dropped("tcp", TcpDrop.NOT_UNICAST) == 1
    (listener,) = pair.layers[1].listeners.values()
    assert not listener.accept_queue


def test_the_same_syn_to_our_address_is_answered() -> None:
    pair, sent = listening_pair()
    data = tcpwire.emit(SYN, A, B)
    pair.layers[1].packet_received(data, IP=ipv4.Ipv4Packet(A, B, 6, data))
    (reply,) = sent
    assert tcpwire.parse(reply).flags == tcpwire.SYN | tcpwire.ACK


@pytest.mark.requirement("RFC9293:MUST-57")
def test_a_syn_to_the_subnet_broadcast_reaches_no_listener() -> None:
    """On a whole stack, IP delivers datagrams sent to the subnet's directed broadcast (UDP
    uses them); TCP drops the SYN among them."""
    net = SimNet(2)
    server = TCPApplication()
    net.b.register_tcp_application(server)
    server.bind(80)
    server.listen(5)
    broadcast = "198.18.0.255"  # SimNet's stacks are on 198.18.0.0/24
    assert net.b.ip.is_broadcast(broadcast)
    net.a.ip.send_payload(tcpwire.emit(SYN, A, broadcast), dst=broadcast, proto=6)
    net.run_until(lambda: net.b.stats.get("tcp", "segments_in") > 0, 1.0)
    net.advance(1.0)
    assert net.a.stats.get("tcp", "segments_in") == 0  # no SYN,ACK, no RST
    assert net.b.stats.dropped("tcp", TcpDrop.NOT_UNICAST) == 1


@pytest.mark.requirement("RFC9293:MUST-46")
@pytest.mark.parametrize("dst", ["255.255.255.255", "224.0.0.251", "0.0.0.0", "not-an-ip"])
def test_connecting_to_a_non_unicast_address_is_refused(dst: str) -> None:
    pair = TcpPair()
    with pytest.raises(ValueError, match="not a unicast IPv4 address"):
        pair.layers[0].connect(dst, 80)
    assert pair.wire.carried == 0 and not pair.layers[0].connections


@pytest.mark.requirement("RFC9293:MUST-46")
def test_connecting_to_the_subnet_broadcast_is_refused() -> None:
    net = SimNet(2)
    client = TCPApplication()
    net.a.register_tcp_application(client)
    with pytest.raises(ValueError, match="not a unicast"):
        client.connect_deferred("198.18.0.255", 80)
