"""Router discovery (RFC 4861 §6.3) on the simulated wire: solicitations at start, Router
Advertisement validation (§6.1.2) and processing (§6.3.4): default routers and their
lifetimes, on-link prefixes, MTU, hop limit and the Neighbor Cache's timers, and off-link
destinations sent through a default router."""

from __future__ import annotations

from typing import Any

from pystack.sim import SimNet, WireTap
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ipv6
from pystack.wire import ndp as nd
from pystack.wire.ipv6 import Ipv6Packet

ROUTER = "fe80::99"
ROUTER_MAC = "02:00:00:00:00:99"
FAR = "2001:db8:99::5"


def _ra(*options: Any, src: str = ROUTER, hop_limit: int = 255, code: int = 0,
        raw: bytes = b"", **fields: Any) -> Ipv6Packet:  # fmt: skip
    """A Router Advertisement from ``src`` to all-nodes; ``raw`` bytes after its options."""
    fields.setdefault("router_lifetime", 1800)
    ra = nd.RouterAdvertisement(options=(nd.SourceLinkAddress(ROUTER_MAC), *options), **fields)
    msg = nd.to_icmpv6(ra)
    data = icmp6.emit(icmp6.Icmpv6Message(msg.type, code, msg.rest, msg.payload + raw), src,
                      "ff02::1")  # fmt: skip
    return Ipv6Packet(src, "ff02::1", ipv6.NH_ICMPV6, data, hop_limit=hop_limit)


def _net(**options: Any) -> tuple[SimNet, WireTap]:
    net = SimNet(1, ipv6=True, **options)
    return net, WireTap(net)


def test_three_router_solicitations_at_start_four_seconds_apart() -> None:
    net, tap = _net(router_solicitations=3)
    net.advance(20)
    sent = tap.nd(nd.RouterSolicitation)
    assert len(sent) == 3  # RFC 4861 §10: MAX_RTR_SOLICITATIONS
    for pkt, rs in sent:
        # §6.3.7: to all-routers, hop limit 255, from the link-local address with our MAC.
        assert (pkt.src, pkt.dst, pkt.hop_limit) == (net.a.ipv6.link_local, "ff02::2", 255)
        assert rs.options == (nd.SourceLinkAddress(net.a.mac),)
    assert net.a.stats.get("IPv6", "router_solicitations_sent") == 3


def test_solicitations_stop_after_an_advertisement() -> None:
    net, tap = _net(router_solicitations=3)
    net.advance(1.5)
    assert len(tap.nd(nd.RouterSolicitation)) == 1
    tap.inject(_ra(), dst_mac="33:33:00:00:00:01")
    net.advance(20)
    assert len(tap.nd(nd.RouterSolicitation)) == 1


def test_solicitation_from_unspecified_carries_no_link_layer_address() -> None:
    # With DAD on, the link-local address is still tentative when the first RS may leave.
    net = SimNet(1, router_solicitations=0, dad_transmits=1)
    tap = WireTap(net)
    net.a.icmpv6.send_router_solicitation("::")
    net.advance(0.01)
    ((pkt, rs),) = tap.nd(nd.RouterSolicitation)
    assert pkt.src == "::" and rs.options == ()  # RFC 4861 §4.1


def test_advertisement_makes_a_default_router_with_its_lifetime() -> None:
    net, tap = _net()
    tap.inject(_ra(router_lifetime=600), dst_mac="33:33:00:00:00:01")
    net.advance(0.01)
    routers = net.a.ipv6.routers
    assert list(routers.default_routers) == [ROUTER]
    assert net.a.ipv6.neighbors.state_of(ROUTER) == "STALE"  # learned from its SLLA
    net.advance(599)
    assert ROUTER in routers.default_routers
    net.advance(2)
    assert routers.default_routers == {}  # RFC 4861 §6.3.4: its lifetime ran out
    assert net.a.stats.get("IPv6", "default_routers_removed") == 1


def test_router_lifetime_zero_removes_the_router() -> None:
    net, tap = _net()
    tap.inject(_ra(), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(router_lifetime=0), dst_mac="33:33:00:00:00:01")
    net.advance(0.01)
    assert net.a.ipv6.routers.default_routers == {}


def test_off_link_destination_goes_to_the_default_router() -> None:
    net, tap = _net()
    net.a.icmpv6.ping(FAR, timeout=0.5).addErrback(lambda f: None)
    net.advance(0.01)
    assert net.a.stats.dropped("IPv6", "no_route") == 1  # no router yet
    tap.inject(_ra(), dst_mac="33:33:00:00:00:01")
    net.a.icmpv6.ping(FAR, timeout=0.5).addErrback(lambda f: None)
    net.advance(0.01)
    echo = [f for f in tap.frames if f.ethertype == 0x86DD and ipv6.parse(f.payload).dst == FAR]
    assert len(echo) == 1
    assert echo[0].dst == ROUTER_MAC  # RFC 4861 §5.2: the router's link-layer address


def test_router_that_says_it_is_none_leaves_the_list() -> None:
    net, tap = _net()
    tap.inject(_ra(), dst_mac="33:33:00:00:00:01")
    na = nd.NeighborAdvertisement(ROUTER, router=False, override=True,
                                  options=(nd.TargetLinkAddress(ROUTER_MAC),))  # fmt: skip
    data = nd.emit(na, ROUTER, "ff02::1")
    tap.inject(Ipv6Packet(ROUTER, "ff02::1", 58, data, hop_limit=255), dst_mac="33:33:00:00:00:01")
    net.advance(0.01)
    assert net.a.ipv6.routers.default_routers == {}  # RFC 4861 §7.2.5


def test_advertisement_parameters_are_taken() -> None:
    net, tap = _net()
    tap.inject(_ra(nd.Mtu(1400), cur_hop_limit=42, reachable_time=10_000, retrans_timer=500),
               dst_mac="33:33:00:00:00:01")  # fmt: skip
    net.advance(0.01)
    ip6 = net.a.ipv6
    assert ip6.hop_limit == 42 and ip6.link_mtu == 1400
    assert ip6.neighbors.base_reachable_time == 10.0 and ip6.neighbors.retrans_timer == 0.5
    net.a.icmpv6.ping("2001:db8::5", timeout=0.5, data=bytes(1400)).addErrback(lambda f: None)
    net.advance(0.01)
    assert net.a.stats.get("IPv6", "fragments_created") == 2  # cut to the advertised MTU


def test_zero_fields_change_nothing_and_a_bad_mtu_is_ignored() -> None:
    net, tap = _net()
    tap.inject(_ra(nd.Mtu(1000), cur_hop_limit=0), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(nd.Mtu(9000)), dst_mac="33:33:00:00:00:01")
    net.advance(0.01)
    assert net.a.ipv6.hop_limit == 64 and net.a.ipv6.link_mtu is None
    assert net.a.stats.get("IPv6", "ra_mtu_ignored") == 2  # RFC 4861 §6.3.4


def test_invalid_advertisements_are_dropped_with_a_reason() -> None:
    net, tap = _net()
    stats = net.a.stats
    tap.inject(_ra(src="2001:db8::99"), dst_mac="33:33:00:00:00:01")
    assert stats.dropped("ICMPv6", "ra_bad_source") == 1  # RFC 4861 §6.1.2
    tap.inject(_ra(hop_limit=64), dst_mac="33:33:00:00:00:01")
    assert stats.dropped("ICMPv6", "nd_hop_limit") == 1
    tap.inject(_ra(code=1), dst_mac="33:33:00:00:00:01")
    assert stats.dropped("ICMPv6", "nd_invalid") == 1
    tap.inject(_ra(raw=bytes([99, 0, 0, 0, 0, 0, 0, 0])), dst_mac="33:33:00:00:00:01")  # length 0
    assert stats.dropped("ICMPv6", "nd_invalid") == 2
    net.advance(0.01)
    assert net.a.ipv6.routers.default_routers == {}


def test_accept_ra_false_ignores_advertisements() -> None:
    net, tap = _net(accept_ra=False)
    tap.inject(_ra(), dst_mac="33:33:00:00:00:01")
    assert net.a.stats.dropped("ICMPv6", "ra_ignored") == 1
    assert net.a.ipv6.routers.default_routers == {}


def test_on_link_prefix_and_its_lifetime() -> None:
    net, tap = _net()
    pio = nd.PrefixInformation(64, 0x80, 300, 300, "2001:db8:7::")
    tap.inject(_ra(pio, router_lifetime=0), dst_mac="33:33:00:00:00:01")
    net.advance(0.01)
    assert net.a.ipv6.on_link("2001:db8:7::5")
    net.a.icmpv6.ping("2001:db8:7::5", timeout=0.5).addErrback(lambda f: None)
    net.advance(0.01)
    ns = tap.nd(nd.NeighborSolicitation)
    assert [m.target for _, m in ns] == ["2001:db8:7::5"]  # resolved on the link itself
    net.advance(300)
    assert not net.a.ipv6.on_link("2001:db8:7::5")  # RFC 4861 §6.3.4: timed out


def test_prefix_with_valid_lifetime_zero_is_removed_and_link_local_ignored() -> None:
    net, tap = _net()
    tap.inject(_ra(nd.PrefixInformation(64, 0x80, 300, 300, "2001:db8:7::")),
               dst_mac="33:33:00:00:00:01")  # fmt: skip
    tap.inject(_ra(nd.PrefixInformation(64, 0x80, 0, 0, "2001:db8:7::"),
                   nd.PrefixInformation(64, 0x80, 300, 300, "fe80::")),
               dst_mac="33:33:00:00:00:01")  # fmt: skip
    net.advance(0.01)
    assert net.a.ipv6.routers.prefixes == {}
