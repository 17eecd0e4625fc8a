"""One stack on two links (two MemoryWires), each with its IPv4 and IPv6 addresses: the
routing table sends each datagram through the link its route names, from that link's
address, and the stack answers on both."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.links.memory import MemoryWire
from pystack.sim import SimNet
from pystack.stack import PyStack

QUIET = {"dad_transmits": 0, "router_solicitations": 0, "mld": False}


def _setup() -> tuple[SimNet, PyStack, PyStack, PyStack, MemoryWire]:
    """``router`` on wire 1 (198.18.0.0/24, 2001:db8::/64) and wire 2 (198.18.1.0/24,
    2001:db8:1::/64); ``left`` on wire 1, ``right`` on wire 2."""
    clock = Clock()
    net = SimNet(2, ipv6=True, clock=clock)  # stacks 198.18.0.1 (router) and .2 (left)
    router, left = net.stacks
    wire2 = MemoryWire(clock, delay=0.001)
    router.add_link(wire2.attach(), ip="198.18.1.1/24", ip6="2001:db8:1::1/64", **QUIET)
    right = PyStack(link=wire2.attach(), ip="198.18.1.2/24", ip6="2001:db8:1::2/64",
                    clock=clock, **QUIET)  # fmt: skip
    return net, router, left, right, wire2


def test_the_second_link_has_its_addresses_and_routes() -> None:
    _, router, *_ = _setup()
    listed = {(str(a.interface), a.dev) for a in router.addresses}
    assert ("198.18.1.1/24", "link1") in listed
    assert ("2001:db8:1::1/64", "link1") in listed
    assert ("198.18.0.1/24", "link0") in listed
    assert router.routes.lookup("198.18.1.9").dev == "link1"
    assert router.routes.lookup("2001:db8:1::9").dev == "link1"
    assert router.routes.lookup("198.18.0.9").dev == "link0"


def test_ping_on_each_link_goes_through_that_link() -> None:
    net, router, left, right, wire2 = _setup()
    for dst in (right.address, right.address6):
        assert net.wait(router.ping_deferred(dst), max_time=2) >= 0
    sent_on_1 = net.wire.counters.sent
    for dst in (left.address, left.address6):
        assert net.wait(router.ping_deferred(dst), max_time=2) >= 0
    assert net.wire.counters.sent > sent_on_1
    assert wire2.counters.sent > 0
    # the hosts on each link answer the router's address on their own link
    assert net.wait(right.ping_deferred("198.18.1.1"), max_time=2) >= 0
    assert net.wait(left.ping_deferred("198.18.0.1"), max_time=2) >= 0


def test_tcp_and_udp_on_the_second_link_use_its_address() -> None:
    net, router, _, right, _ = _setup()
    server = TCPApplication()
    right.register_tcp_application(server)
    server.bind(80)
    server.listen(5)
    client = TCPApplication()
    router.register_tcp_application(client)
    connected: list[Any] = []
    accepted: list[Any] = []
    client.connect_deferred(right.address, 80).addCallback(connected.append)
    server.accept_deferred().addCallback(accepted.append)
    assert net.run_until(lambda: connected and accepted, max_time=5)
    assert client.session.local_ip == "198.18.1.1"  # the address of the outgoing link
    client.send(b"over link1")
    net.advance(0.5)
    assert accepted[0].fetch_data() == b"over link1"
    udp_server, udp_client = UDPApplication(), UDPApplication()
    router.register_udp_application(udp_server)
    right.register_udp_application(udp_client)
    udp_server.bind(5353)
    udp_client.sendto(b"hi", ("2001:db8:1::1", 5353))
    net.advance(0.5)
    got = udp_server.fetch_data_from()
    assert got is not None and got[0] == "2001:db8:1::2" and got[2] == b"hi"


def test_the_address_of_the_other_link_is_local() -> None:
    net, router, *_ = _setup()
    sent = net.wire.counters.sent
    assert net.wait(router.ping_deferred("198.18.1.1"), max_time=2) >= 0
    assert net.wait(router.ping_deferred("2001:db8:1::1"), max_time=2) >= 0
    assert net.wire.counters.sent == sent
    assert router.loopback.frames == 4


def test_single_link_stack_is_unchanged() -> None:
    net = SimNet(1)
    assert net.a.interfaces == []
    assert {r.dev for r in net.a.routes} == {"link0", "lo"}


def test_route_through_a_gateway_on_the_second_link() -> None:
    net, router, _, right, wire2 = _setup()
    router.routes.add("198.19.0.0/16", via=right.address, dev="link1")
    sent_on_1 = net.wire.counters.sent
    router.ping_deferred("198.19.0.5", timeout=0.5).addErrback(lambda f: None)
    net.advance(1)
    assert net.wire.counters.sent == sent_on_1  # nothing on the first link
    assert right.stats.dropped("IP", "not_our_address") == 1  # it reached the gateway
    assert wire2.counters.sent >= 2  # ARP for the gateway, then the datagram


def test_stop_closes_every_link() -> None:
    net, router, *_ = _setup()
    router.stop()
    net.advance(3)
    assert router.stopped
    assert all(iface.link.closed for iface in router.interfaces)


def test_add_link_refuses_a_name_twice_and_bad_addresses() -> None:

    _, router, _, _, wire2 = _setup()
    with pytest.raises(ValueError):
        router.add_link(wire2.attach(), ip="198.18.2.1/24", name="link1")
    with pytest.raises(ValueError):
        router.add_link(wire2.attach(), ip="198.18.2.1")
    with pytest.raises(ValueError):
        router.routes.add("198.19.0.0/16", dev="link9")
