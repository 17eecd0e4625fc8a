"""RFC 1122 host requirements of the IP, ICMP and UDP layers that the per-layer test files
do not name: TTL 1 on receipt, ignored options, soft ICMP errors reaching the application,
IP options and TTL/TOS from a UDP application, link-layer broadcast and multicast, and the
on-link / gateway decision."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.udp_application import UDPApplication
from pystack.sim import SimNet, WireTap
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4
from pystack.wire import udp as udp_wire
from pystack.wire.ethernet import BROADCAST, ETHERTYPE_IPV4
from pystack.wire.ipv4 import Ipv4Packet

A, B, C = "198.18.0.1", "198.18.0.2", "198.18.0.3"
OFF_LINK = "198.19.0.5"  # outside the simulated /24


def udp_to_a(payload: bytes, **ip: Any) -> Ipv4Packet:
    data = udp_wire.emit(udp_wire.UdpDatagram(1000, 7, payload), B, A)
    return Ipv4Packet(B, A, 17, data, **ip)


def bound_app(net: SimNet, port: int = 7) -> UDPApplication:
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(port)
    return app


@pytest.fixture
def net() -> SimNet:
    sim = SimNet(2)
    sim.a.arp.resolve(B, b"", 0x0800)  # learn B so A's datagrams go out at once
    sim.advance(0.01)
    return sim


@pytest.mark.requirement("RFC1122:3.2.1.7-ttl-low-kept")
def test_a_datagram_arriving_with_ttl_one_is_delivered(net: SimNet) -> None:
    app = bound_app(net)
    WireTap(net).inject(udp_to_a(b"last hop", ttl=1))
    assert app.recvfrom() == (b"last hop", (B, 1000))


@pytest.mark.requirement("RFC1122:3.2.1.8-unknown-option", "RFC1122:3.2.1.8b-stream-id-ignore")
def test_unknown_and_stream_identifier_options_are_ignored(net: SimNet) -> None:
    app = bound_app(net)
    stream_id = bytes([136, 4, 0x12, 0x34])  # RFC 791 stream identifier
    unknown = bytes([30, 4, 0xAB, 0xCD])  # an option number with no meaning
    WireTap(net).inject(udp_to_a(b"with options", options=stream_id + unknown))
    assert app.recvfrom() == (b"with options", (B, 1000))
    assert sum(net.a.stats.drops().values()) == 0


@pytest.mark.requirement(
    "RFC1122:3.2.2.3-quench", "RFC1122:3.2.2.5-param-problem-up", "RFC1122:3.2.2.5-report-user"
)
def test_source_quench_and_parameter_problem_reach_the_application(net: SimNet) -> None:
    app = UDPApplication()
    net.a.register_udp_application(app)
    port = app.bind(0)
    sent = udp_wire.emit(udp_wire.UdpDatagram(port, 53, b"q"), A, B)
    quoted = icmp_wire.quote(ipv4.emit(Ipv4Packet(A, B, 17, sent)))
    tap = WireTap(net)
    for type_, rest in ((4, 0), (12, 9 << 24)):  # quench; parameter problem at octet 9
        tap.inject(
            Ipv4Packet(B, A, 1, icmp_wire.emit(icmp_wire.IcmpMessage(type_, 0, rest, quoted)))
        )
    assert app.errors == [("source_quench", 0, (B, 53)), ("parameter_problem", 0, (B, 53))]


@pytest.mark.requirement(
    "RFC1122:3.2.1.8-options-set",
    "RFC1122:4.1.3.2-options-send",
    "RFC1122:4.1.3.2-options-down",
    "RFC1122:4.1.4-ttl-tos-options",
)
def test_a_udp_application_sends_ip_options_ttl_and_tos(net: SimNet) -> None:
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    record_route = bytes([7, 7, 4, 0, 0, 0, 0, 0])  # one empty slot, then end of options
    app.send_packet(b"x", IP={"dst": B, "ttl": 5, "tos": 8, "options": record_route},
                    UDP={"dport": 7})  # fmt: skip
    net.advance(0.1)
    (sent,) = [p for p in tap.ip() if p.src == A]
    assert (sent.options, sent.ttl, sent.tos) == (record_route, 5, 8)


@pytest.mark.requirement("RFC1122:3.3.6-link-broadcast")
def test_ip_broadcast_and_multicast_go_out_as_link_broadcast_and_multicast(net: SimNet) -> None:
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    for dst in ("255.255.255.255", "198.18.0.255", "224.0.0.9"):
        app.sendto(b"all", (dst, 7))
    net.advance(0.1)
    macs = [f.dst for f in tap.frames if f.src == net.a.mac and f.ethertype == ETHERTYPE_IPV4]
    assert macs == [BROADCAST, BROADCAST, "01:00:5e:00:00:09"]


def _first_hop_macs(net: SimNet, *dsts: str) -> list[str]:
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    for dst in dsts:
        app.sendto(b"hop", (dst, 7))
        net.advance(1.0)
    return [f.dst for f in tap.frames if f.src == net.a.mac and f.ethertype == ETHERTYPE_IPV4]


@pytest.mark.requirement(
    "RFC1122:3.3.1.1-local-remote",
    "RFC1122:3.3.1.2-default-gateway",
    "RFC1122:3.3.1.6-manual-config",
    "RFC1122:3.2.2.9-static-mask",
)
def test_the_mask_sends_on_link_peers_direct_and_others_to_the_gateway() -> None:
    net = SimNet(3, gateway=B)
    assert _first_hop_macs(net, C, OFF_LINK) == [net.stacks[2].mac, net.b.mac]


@pytest.mark.requirement("RFC1122:3.3.1.1-no-gateway")
def test_without_a_gateway_on_link_peers_work_and_off_link_ones_are_dropped() -> None:
    net = SimNet(3)
    assert _first_hop_macs(net, C, OFF_LINK) == [net.stacks[2].mac]
    assert net.a.stats.dropped("IP", "no_route") == 1


class HeaderKeeper(UDPApplication):
    """A UDP application that keeps the headers each datagram came with."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, Any]] = []

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.headers.append(kwargs)
        super().packet_received(packet, **kwargs)


@pytest.mark.requirement(
    "RFC1122:3.2.1.8-options-up",
    "RFC1122:3.4-options-up",
    "RFC1122:4.1.3.2-options-up",
    "RFC1122:4.1.3.5-dest-address",
    "RFC1122:4.1.4-tos-up",
)
def test_a_udp_application_sees_the_options_destination_and_tos_of_each_datagram(
    net: SimNet,
) -> None:
    app = HeaderKeeper()
    net.a.register_udp_application(app)
    app.bind(7)
    record_route = bytes([7, 7, 4, 0, 0, 0, 0, 0])
    tap = WireTap(net)
    tap.inject(udp_to_a(b"one", options=record_route, tos=0x20))
    data = udp_wire.emit(udp_wire.UdpDatagram(1000, 7, b"two"), B, "198.18.0.255")
    tap.inject(Ipv4Packet(B, "198.18.0.255", 17, data), BROADCAST)
    seen = [(h["IP"].options, h["IP"].dst, h["IP"].tos) for h in app.headers]
    assert seen == [(record_route, A, 0x20), (b"", "198.18.0.255", 0)]


@pytest.mark.requirement("RFC1122:3.2.2-quote-more")
def test_a_port_unreachable_quotes_more_than_eight_octets(net: SimNet) -> None:
    tap = WireTap(net)
    tap.inject(udp_to_a(bytes(range(100))))
    net.advance(0.1)
    (err,) = [p for p in tap.ip() if p.src == A and p.proto == 1]
    quoted = icmp_wire.parse(err.payload).quoted
    assert quoted.payload[8:] == bytes(range(100))  # the whole UDP datagram, header first


@pytest.mark.requirement("RFC1122:3.2.2.6-echo-multicast")
def test_an_echo_request_to_a_multicast_address_is_dropped_silently(net: SimNet) -> None:
    tap = WireTap(net)
    request = icmp_wire.emit(icmp_wire.echo_request(1, 1, b"anyone"))
    tap.inject(Ipv4Packet(B, "224.0.0.1", 1, request), "01:00:5e:00:00:01")
    net.advance(0.1)
    assert [p for p in tap.ip() if p.src == A] == []
    assert net.a.stats.get("ICMP", "echo_replies_sent") == 0


@pytest.mark.requirement("RFC1122:3.3.2-reassemble-576")
def test_a_datagram_far_larger_than_576_octets_is_reassembled(net: SimNet) -> None:
    receiver = UDPApplication()
    net.b.register_udp_application(receiver)
    receiver.bind(7)
    sender = UDPApplication()
    net.a.register_udp_application(sender)
    sender.sendto(bytes(range(256)) * 12, (B, 7))  # 3072 octets: three fragments
    net.advance(0.1)
    got = receiver.recvfrom()
    assert got is not None and got[0] == bytes(range(256)) * 12


@pytest.mark.requirement("RFC1122:2.4-no-unreach-on-miss")
def test_an_unresolved_next_hop_is_not_reported_as_unreachable() -> None:
    net = SimNet(2)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.sendto(b"nobody", ("198.18.0.77", 7))  # no station answers ARP for it
    net.advance(0.5)
    assert app.errors == []  # a cache miss, ARP still asking: no error
    net.advance(10.0)
    # Only when ARP has given up is the host reported unreachable (as Linux does).
    assert net.a.stats.dropped("ARP", "unresolved") == 1
    assert app.errors == [("unreachable", 1, ("198.18.0.77", 7))]


@pytest.mark.requirement("RFC1122:4.1.3.5-wildcard-local")
def test_a_udp_application_leaves_its_local_address_to_the_stack(net: SimNet) -> None:
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(5000)  # a port only: the stack picks the address
    app.sendto(b"from anywhere", (B, 7))
    net.advance(0.1)
    (sent,) = [p for p in tap.ip() if p.src == A and p.proto == 17]
    assert udp_wire.parse(sent.payload).src_port == 5000


@pytest.mark.requirement("RFC1122:3.3.2-emtu-r")
def test_a_datagram_near_the_ip_maximum_is_reassembled(net: SimNet) -> None:
    receiver = UDPApplication()
    net.b.register_udp_application(receiver)
    receiver.bind(7)
    sender = UDPApplication()
    net.a.register_udp_application(sender)
    payload = bytes(range(256)) * 250  # 64000 octets: 44 fragments
    sender.sendto(payload, (B, 7))
    net.advance(0.5)
    got = receiver.recvfrom()
    assert got is not None and got[0] == payload


@pytest.mark.requirement("RFC1122:3.2.1.8c-sr-pass-up")
def test_a_datagram_whose_source_route_is_completed_is_delivered(net: SimNet) -> None:
    app = bound_app(net)
    completed = bytes([131, 7, 8, 198, 18, 0, 9, 0])  # loose source route, pointer past the end
    WireTap(net).inject(udp_to_a(b"routed", options=completed))
    assert app.recvfrom() == (b"routed", (B, 1000))


@pytest.mark.requirement("RFC1122:3.3.1.2-route-cache", "RFC1122:3.3.1.3-cache-per-host")
def test_the_next_hop_of_each_destination_host_is_worked_out_once_and_kept() -> None:
    net = SimNet(3, gateway=B)
    asked: list[str] = []
    routing_step = net.a.ip.route
    net.a.ip.route = lambda dst: asked.append(dst) or routing_step(dst)  # type: ignore[method-assign]
    other_off_link = "198.19.0.6"  # behind the same gateway as OFF_LINK
    macs = _first_hop_macs(net, OFF_LINK, C, OFF_LINK, other_off_link, C, other_off_link)
    # One routing decision per destination host, not per datagram and not per network:
    # the two off-link hosts share a gateway and still each get their own entry.
    assert asked == [OFF_LINK, C, other_off_link]
    gateway, peer = net.b.mac, net.stacks[2].mac
    assert macs == [gateway, peer, gateway, gateway, peer, gateway]
