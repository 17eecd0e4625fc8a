"""The routing table (``stack.routes``) and address list (``stack.addresses``) on the
simulated wire: connected and default routes, the longest prefix winning, gateways,
deletion, and a destination no route covers dropped as ``no_route``."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from pystack.sim import SimNet, WireTap
from pystack.wire import ipv4, ipv6
from pystack.wire.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6


def _ping(net: SimNet, dst: str) -> None:
    net.a.ping_deferred(dst, timeout=0.5).addErrback(lambda f: None)
    net.advance(0.1)


def _frames_to(tap: WireTap, dst: str) -> list[str]:
    """The destination MACs of the frames that carried a datagram to ``dst``."""
    parsers = {ETHERTYPE_IPV4: ipv4.parse, ETHERTYPE_IPV6: ipv6.parse}
    out = []
    for f in tap.frames:
        parse = parsers.get(f.ethertype)
        if parse is not None and parse(f.payload).dst == dst:
            out.append(f.dst)
    return out


def test_connected_routes_and_addresses_follow_the_stack() -> None:
    net = SimNet(1, ipv6=True, gateway="198.18.0.254")
    routes = [str(r) for r in net.a.routes]
    assert "198.18.0.0/24 dev link0 proto kernel metric 0" in routes
    assert "default via 198.18.0.254 dev link0 proto boot metric 0" in routes
    assert "2001:db8::/64 dev link0 proto kernel metric 256" in routes
    assert "fe80::/64 dev link0 proto kernel metric 256" in routes
    addrs = net.a.addresses
    listed = [(a.family, str(a.interface)) for a in addrs]
    assert listed[:3] == [
        (socket.AF_INET, "127.0.0.1/8"),
        (socket.AF_INET6, "::1/128"),
        (socket.AF_INET, "198.18.0.1/24"),
    ]
    assert (socket.AF_INET6, "2001:db8::1/64") in listed
    assert any(a.interface.ip in ipaddress.IPv6Network("fe80::/10") for a in addrs)
    assert str(addrs[2]) == "inet 198.18.0.1/24 dev link0"
    assert "127.0.0.0/8 dev lo proto kernel metric 0" in routes


def test_tentative_address_is_listed_as_such() -> None:
    net = SimNet(1, ipv6=True, dad_transmits=1)
    states = {a.address: a.state for a in net.a.addresses}
    assert states["2001:db8::1"] == "tentative"
    net.advance(3)
    assert {a.address: a.state for a in net.a.addresses}["2001:db8::1"] == "assigned"


def test_more_specific_route_wins() -> None:
    net = SimNet(3)
    tap = WireTap(net)
    a, b, c = net.stacks
    a.routes.add("198.19.0.0/16", via=b.address)
    a.routes.add("198.19.1.0/24", via=c.address)
    assert a.routes.lookup("198.19.1.9").via == c.address
    assert a.routes.lookup("198.19.2.9").via == b.address
    _ping(net, "198.19.1.9")
    _ping(net, "198.19.2.9")
    assert set(_frames_to(tap, "198.19.1.9")) == {c.mac}
    assert set(_frames_to(tap, "198.19.2.9")) == {b.mac}
    # the routers are no routers: the datagram is not theirs, dropped by reason
    assert c.stats.dropped("IP", "not_our_address") >= 1


def test_lower_metric_wins_between_equal_prefixes() -> None:
    net = SimNet(3)
    a, b, c = net.stacks
    a.routes.add("198.19.0.0/16", via=b.address, metric=10)
    a.routes.add("198.19.0.0/16", via=c.address, metric=5)
    assert a.routes.lookup("198.19.3.3").via == c.address
    with pytest.raises(ValueError):
        a.routes.add("198.19.0.0/16", via=b.address, metric=5)


def test_route_via_a_gateway_outside_our_prefix() -> None:
    net = SimNet(1)
    tap = WireTap(net)
    # a router whose address is in another prefix than ours, on the same wire
    router = net.wire.attach()
    from pystack.stack import PyStack

    r = PyStack(link=router, ip="198.18.7.1/24", clock=net.clock, mld=False,
                router_solicitations=0, dad_transmits=0)  # fmt: skip
    net.a.routes.add("198.20.0.0/16", via="198.18.7.1")
    _ping(net, "198.20.5.5")
    assert set(_frames_to(tap, "198.20.5.5")) == {r.mac}


def test_ipv6_route_through_a_gateway_and_the_default_route() -> None:
    net = SimNet(3, ipv6=True)
    tap = WireTap(net)
    a, b, c = net.stacks
    a.routes.add("2001:db8:5::/48", via=b.address6)
    a.routes.add("default6", via=c.address6)
    assert str(a.routes.lookup("2001:db8:7::1").network) == "::/0"
    _ping(net, "2001:db8:5::1")
    _ping(net, "2001:db8:7::1")
    assert set(_frames_to(tap, "2001:db8:5::1")) == {b.mac}
    assert set(_frames_to(tap, "2001:db8:7::1")) == {c.mac}


def test_deleting_a_route_leaves_no_route() -> None:
    net = SimNet(2, ipv6=True)
    a, b = net.stacks
    a.routes.add("198.19.0.0/16", via=b.address)
    a.routes.add("2001:db8:5::/48", via=b.address6)
    n = len(a.routes)
    a.routes.delete("198.19.0.0/16")
    a.routes.delete("2001:db8:5::/48", via=b.address6)
    assert len(a.routes) == n - 2
    assert a.routes.lookup("198.19.0.1") is None
    with pytest.raises(LookupError):
        a.routes.delete("198.19.0.0/16")
    with pytest.raises(LookupError):  # the stack's own routes follow its addresses
        a.routes.delete("198.18.0.0/24")
    _ping(net, "198.19.0.1")
    _ping(net, "2001:db8:5::1")
    assert a.stats.dropped("IP", "no_route") == 1
    assert a.stats.dropped("IPv6", "no_route") == 1


def test_no_route_is_counted_and_reported() -> None:
    net = SimNet(1)
    errors: list[object] = []
    d = net.a.ping_deferred("198.19.0.1", timeout=0.5)
    d.addErrback(errors.append)
    net.advance(1)
    assert net.a.stats.dropped("IP", "no_route") == 1
    assert errors


def test_gateway_is_the_default_route_as_before() -> None:
    net = SimNet(2, gateway="198.18.0.2")
    tap = WireTap(net)
    _ping(net, "198.19.9.9")
    assert set(_frames_to(tap, "198.19.9.9")) == {net.b.mac}
    # a more specific route than the default one takes over
    net.a.routes.add("198.19.9.0/24", via="198.18.0.1")
    assert net.a.routes.lookup("198.19.9.9").via == "198.18.0.1"


def test_router_advertisement_gives_the_ipv6_default_route() -> None:
    from pystack.wire import icmpv6 as icmp6
    from pystack.wire import ndp as nd
    from pystack.wire.ipv6 import Ipv6Packet

    net = SimNet(1, ipv6=True)
    tap = WireTap(net)
    ra = nd.RouterAdvertisement(router_lifetime=1800,
                                options=(nd.SourceLinkAddress("02:00:00:00:00:99"),))  # fmt: skip
    msg = nd.to_icmpv6(ra)
    data = icmp6.emit(icmp6.Icmpv6Message(msg.type, 0, msg.rest, msg.payload), "fe80::99",
                      "ff02::1")  # fmt: skip
    tap.inject(Ipv6Packet("fe80::99", "ff02::1", 58, data, hop_limit=255),
               dst_mac="33:33:00:00:00:01")  # fmt: skip
    default = net.a.routes.lookup("2001:db8:99::1")
    assert default is not None and default.via == "fe80::99" and default.proto == "ra"
    # a static default route (metric 256) is preferred to the advertised one (1024)
    net.a.routes.add("default6", via="fe80::7")
    assert net.a.routes.lookup("2001:db8:99::1").via == "fe80::7"
