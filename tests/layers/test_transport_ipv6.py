"""TCP and UDP over IPv6 between two stacks on the simulated wire: the IPv6 pseudo-header
checksum (RFC 8200 §8.1), the smaller MSS (§8.3), listeners of either wildcard, RSTs and
ICMPv6 errors reaching the transports."""

from __future__ import annotations

import random

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.sim import SimNet, WireTap
from pystack.wire import ipv6
from pystack.wire import tcp as tcpwire

A, B = "2001:db8::1", "2001:db8::2"


def _transfer(net: SimNet, client: object, server: object, size: int) -> bytes:
    data = random.Random(size).randbytes(size)
    sent, got = 0, bytearray()
    while len(got) < size:
        if sent < size:
            sent += client.send(data[sent : sent + 65536])  # type: ignore[attr-defined]
        net.advance(0.01)
        got.extend(server.fetch_data())  # type: ignore[attr-defined]
        assert net.now() < 60
    assert bytes(got) == data
    return data


def test_tcp_connects_and_moves_bytes_both_ways_over_ipv6() -> None:
    with SimNet(2, ipv6=True) as net:
        tap = WireTap(net)
        client, server = net.connect_tcp(5001, far_address=B)
        session = client.session
        assert (session.local_ip, session.remote_ip) == (A, B)
        _transfer(net, client, server, 200_000)
        _transfer(net, server, client, 50_000)
        segments = [p for p in tap.ip6() if p.proto == ipv6.NH_TCP]
        assert segments and not any(p.is_fragment for p in tap.ip6())
        # RFC 8200 §8.3: MSS = 1500 - 40 - 20.
        syn = tcpwire.parse(segments[0].payload)
        assert syn.flags & tcpwire.SYN and syn.mss == 1440
        assert all(len(ipv6.emit(p)) <= 1500 for p in segments)
        assert all(tcpwire.checksum_ok(p.payload, p.src, p.dst) for p in segments)
        assert net.a.stats.drops() == {}


def test_ipv4_still_works_beside_ipv6() -> None:
    with SimNet(2, ipv6=True) as net:
        client, server = net.connect_tcp(5002)
        assert client.session.remote_ip == "198.18.0.2"
        _transfer(net, client, server, 20_000)


def test_tcp_to_a_closed_port_is_refused_with_rst() -> None:
    with SimNet(2, ipv6=True) as net:
        app = TCPApplication()
        net.a.register_tcp_application(app)
        results: list[bool] = []
        app.connect_deferred(B, 9).addCallback(results.append)
        net.advance(1)
        assert results == [False]
        assert net.b.stats.dropped("tcp", "no_listener") >= 1


def test_udp_datagrams_both_ways_over_ipv6() -> None:
    with SimNet(2, ipv6=True) as net:
        server, client = UDPApplication(), UDPApplication()
        net.b.register_udp_application(server)
        net.a.register_udp_application(client)
        server.bind(7000)
        client.sendto(b"hello6", (B, 7000))
        net.advance(0.1)
        got = server.fetch_data_from()
        assert got is not None and got[0] == A and got[2] == b"hello6"
        server.sendto(b"back", (got[0], got[1]))
        net.advance(0.1)
        assert client.fetch_data_from() == (B, 7000, b"back")


def test_udp_port_unreachable_reaches_the_sender() -> None:
    with SimNet(2, ipv6=True) as net:
        client = UDPApplication()
        net.a.register_udp_application(client)
        client.sendto(b"anyone?", (B, 7999))
        net.advance(0.1)
        assert client.errors and client.errors[0][:2] == ("unreachable", 3)
        assert client.errors[0][2] == (B, 7999)
