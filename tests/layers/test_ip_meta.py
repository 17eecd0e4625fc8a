"""What IP tells the transports about each datagram (`IpMeta`), and how they send down:
every delivered payload comes with its own datagram's addresses, TTL, TOS, interface and
link header (a reassembled one too), a listener learns each child's peer from its SYN, and
a datagram's next hop is resolved in IP's routing step."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.udp_application import UDPApplication
from pystack.layers.ip import Route
from pystack.layers.ip_meta import IpMeta, meta_of
from pystack.layers.layer import Layer
from pystack.layers.tcp_application import TCPApplication
from pystack.layers.tcp_session import TCPSession
from pystack.stack import PyStack
from pystack.testing.twostack import SimNet, WireTap
from pystack.wire import ethernet as eth_wire
from pystack.wire import icmp as icmp_wire
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet

A, B, C = "198.18.0.1", "198.18.0.2", "198.18.0.3"


class Recorder(UDPApplication):
    """Keeps each datagram with the kwargs it came with."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[bytes, dict[str, Any]]] = []

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.got.append((bytes(packet), kwargs))


def fragments(src: str, payload: bytes, *, ident: int, ttl: int, tos: int = 0,
              port: int = 7, size: int = 16) -> list[Ipv4Packet]:  # fmt: skip
    """A UDP datagram from ``src`` to A, cut into pieces of ``size`` bytes."""
    data = udp_wire.emit(udp_wire.UdpDatagram(1000, port, payload), src, A)
    return [
        Ipv4Packet(src, A, 17, data[o : o + size], ttl=ttl, tos=tos, ident=ident,
                   flags=int(o + size < len(data)), frag_offset=o)
        for o in range(0, len(data), size)
    ]  # fmt: skip


@pytest.fixture
def net() -> SimNet:
    sim = SimNet(3)  # B and C exist: A's ICMP errors to them resolve
    for peer in (B, C):
        sim.a.arp.resolve(peer, b"", 0x0800)
    sim.advance(0.01)
    return sim


def test_interleaved_fragmented_datagrams_each_keep_their_own_metadata(net: SimNet) -> None:
    app = Recorder()
    net.a.register_udp_application(app)
    app.bind(7)
    from_b = fragments(B, b"from b" * 8, ident=7, ttl=33, tos=0x10)
    from_c = fragments(C, b"from c" * 8, ident=7, ttl=99, tos=0x28)
    tap = WireTap(net)
    for piece_b, piece_c in zip(from_b, from_c, strict=True):
        tap.inject(piece_b)
        tap.inject(piece_c)
    got = {payload: kwargs["meta"] for payload, kwargs in app.got}
    assert set(got) == {b"from b" * 8, b"from c" * 8}
    b_meta, c_meta = got[b"from b" * 8], got[b"from c" * 8]
    assert (b_meta.src, b_meta.dst, b_meta.ttl, b_meta.tos) == (B, A, 33, 0x10)
    assert (c_meta.src, c_meta.dst, c_meta.ttl, c_meta.tos) == (C, A, 99, 0x28)
    assert b_meta.link.src == tap.mac and not b_meta.link_broadcast
    # The 2013 PyStack's kwargs still come: the IP header (reassembled) and the UDP header.
    for payload, kwargs in app.got:
        assert kwargs["IP"] is kwargs["meta"].datagram and kwargs["IP"].payload.endswith(payload)
        assert kwargs["UDP"].src_port == 1000


@pytest.mark.requirement("RFC1122:2.4-broadcast")
def test_a_datagram_is_a_link_broadcast_when_its_fragment_zero_came_in_one(net: SimNet) -> None:
    # RFC 1122 §3.2.2: no ICMP error about a datagram sent as a link-layer broadcast. A
    # reassembled datagram is judged by its own fragment 0's frame (as Linux, which builds
    # the whole datagram on fragment 0's buffer), not by the frame of whichever fragment
    # happened to arrive last.
    tap = WireTap(net)
    x = fragments(B, b"x" * 24, ident=1, ttl=64, port=9)  # fragment 0 broadcast: no error
    y = fragments(B, b"y" * 24, ident=2, ttl=64, port=9)  # all unicast: an error
    z = fragments(C, b"z" * 24, ident=3, ttl=64, port=9)  # only a later one broadcast: error
    tap.inject(x[0], eth_wire.BROADCAST)
    tap.inject(z[0])
    tap.inject(y[0])
    for piece in x[1:] + y[1:]:
        tap.inject(piece)
    for piece in z[1:]:
        tap.inject(piece, eth_wire.BROADCAST)
    net.advance(0.01)
    errors = [p for p in tap.ip() if p.src == A and p.proto == 1]
    quoted = [icmp_wire.parse(p.payload).quoted for p in errors]
    assert sorted(q.ident for q in quoted) == [2, 3]
    assert {(p.dst, icmp_wire.parse(p.payload).code) for p in errors} == {(B, 3), (C, 3)}


@pytest.mark.requirement("RFC1122:3.4-interface-up")
def test_the_metadata_names_the_device_the_datagram_came_in_on() -> None:
    net = SimNet(1)
    port = net.wire.attach()
    port.name = "pst-test0"  # type: ignore[attr-defined]  # as a TAP link names its device
    stack = PyStack(link=port, ip="198.18.0.2/24", clock=net.clock)
    app = Recorder()
    stack.register_udp_application(app)
    app.bind(7)
    client = UDPApplication()
    net.a.register_udp_application(client)
    client.sendto(b"hi", ("198.18.0.2", 7))
    assert net.run_until(lambda: app.got)
    ((_, kwargs),) = app.got
    assert kwargs["meta"].interface == "pst-test0"
    assert kwargs["meta"].src == A and client.localPort == kwargs["UDP"].src_port


@pytest.mark.requirement("RFC9293:MAY-9", "RFC1122:3.2.1.6-tos-up")
def test_a_segment_hook_sees_the_ttl_and_tos_the_segment_came_with() -> None:
    net = SimNet(2)
    peer = PyStack(link=net.wire.attach(), ip=f"{C}/24", clock=net.clock, ttl=33, tos=0x28)
    seen: list[tuple[str, str, int, int]] = []

    class Watching(TCPSession):
        def on_segment_in(self, segment: Any, meta: Any) -> None:
            ip = self.to_scapy(segment, meta).getlayer("IP")
            seen.append((ip.src, ip.dst, ip.ttl, ip.tos))

    net.a.tcp.listen(80, session_class=Watching)
    client = TCPApplication()
    peer.register_tcp_application(client)
    client.connect_deferred(A, 80)
    assert net.run_until(lambda: len(seen) >= 2)  # the SYN (listener), then the ACK (child)
    assert set(seen) == {(C, A, 33, 0x28)}


def test_a_listener_gives_each_child_the_peer_of_its_own_syn() -> None:
    net = SimNet(3)
    server = TCPApplication()
    net.a.register_tcp_application(server)
    server.bind(80)
    server.listen(4)
    clients = []
    for stack in net.stacks[1:]:
        client = TCPApplication()
        stack.register_tcp_application(client)
        clients.append(client)
    for client in clients:  # both SYNs are on the wire before A answers either
        client.connect_deferred(A, 80)
    established = lambda: [s.state for s in net.a.tcp.connections.values()] == ["ESTABLISHED"] * 2  # noqa: E731
    assert net.run_until(established)
    children = sorted(
        (s.remote_ip, s.remote_port, s.local_ip, s.state) for s in net.a.tcp.connections.values()
    )
    expected = sorted((c.session.local_ip, c.session.local_port, A, "ESTABLISHED")
                      for c in clients if c.session is not None)  # fmt: skip
    assert children == expected and len(expected) == 2


def test_a_listener_resets_a_stray_ack_to_its_sender() -> None:
    net = SimNet(3)
    net.a.tcp.listen(80)
    tap = WireTap(net)
    for src in (B, C):
        seg = udp_free_ack(src)
        tap.inject(seg)
    net.advance(0.1)
    resets = [p for p in tap.ip() if p.src == A and p.proto == 6]
    assert sorted(p.dst for p in resets) == [B, C]


def udp_free_ack(src: str) -> Ipv4Packet:
    """A bare ACK from ``src`` to A's port 80 (no connection: a listener answers RST)."""
    from pystack.wire import tcp as tcpwire

    seg = tcpwire.TcpSegment(40000, 80, 1000, 5000, tcpwire.ACK, 1000)
    return Ipv4Packet(src, A, 6, tcpwire.emit(seg, src, A))


def test_the_routing_step_names_the_next_hop() -> None:
    net = SimNet(1)
    stack = PyStack(link=net.wire.attach(), ip="198.18.1.1/24", gateway="198.18.1.254",
                    clock=net.clock)  # fmt: skip
    assert stack.ip.route("198.18.1.7") == Route(None, "198.18.1.7")  # on-link: itself
    assert stack.ip.route("198.19.0.1") == Route(None, "198.18.1.254")  # else the gateway
    assert stack.ip.route("198.18.1.255") == Route(eth_wire.BROADCAST, None)
    assert stack.ip.route("224.0.0.251") == Route("01:00:5e:00:00:fb", None)
    assert net.a.ip.route("198.19.0.1") is None  # no gateway: no route


class LinkSpy(Layer):
    """A 2013-style layer between Ethernet and IP: sees each datagram IP sends down."""

    name = "IP"

    def __init__(self) -> None:
        Layer.__init__(self)
        self.down: list[dict[str, Any]] = []

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        self.down.append(dict(kwargs["Ether"]))
        self.transfer_packet(bytes(packet), **kwargs)

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.upperLayers["IP"].packet_received(bytes(packet), **kwargs)


def test_a_user_layer_below_ip_still_gets_the_next_hop_to_resolve() -> None:
    net = SimNet(2)
    stack = PyStack(link=net.wire.attach(), ip="198.18.0.9/24", clock=net.clock)
    spy = LinkSpy()
    stack.ethernet.register_layer(spy)
    spy.register_layer(stack.ip)
    client = UDPApplication()
    stack.register_udp_application(client)
    server = UDPApplication()
    net.b.register_udp_application(server)
    server.bind(7)
    client.sendto(b"via the spy", (B, 7))
    assert net.run_until(lambda: server.data)
    assert server.recvfrom() == (b"via the spy", ("198.18.0.9", client.localPort))
    assert spy.down == [{"type": 0x0800, "next_hop": B}]


def test_meta_of_a_seed_style_header_dict() -> None:
    frame = {"dst": "FF:FF:FF:FF:FF:FF", "src": "02:00:00:00:00:01", "type": 0x0800}
    meta = meta_of(Ipv4Packet(B, A, 17, b""), link=frame)
    assert meta.link_broadcast and not IpMeta(B, A, 64, 0).link_broadcast
    with pytest.raises(AttributeError):
        meta.ttl = 1  # type: ignore[misc]
