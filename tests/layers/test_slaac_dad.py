"""Address autoconfiguration (RFC 4862) on the simulated wire: Duplicate Address Detection
(§5.4) for configured, link-local and autoconfigured addresses, both outcomes; addresses
formed from autonomous prefixes (§5.5.3) with their lifetimes and the two-hour rule."""

from __future__ import annotations

from typing import Any

from pystack.sim import SimNet, WireTap
from pystack.stack import PyStack
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ipv6
from pystack.wire import ndp as nd
from pystack.wire.ipv6 import Ipv6Packet

ROUTER, ROUTER_MAC = "fe80::99", "02:00:00:00:00:99"
MINE = "2001:db8::1"
SOLICITED = "ff02::1:ff00:1"
HOUR = 3600


def _nd(msg: Any, src: str, dst: str) -> Ipv6Packet:
    return Ipv6Packet(src, dst, ipv6.NH_ICMPV6, nd.emit(msg, src, dst), hop_limit=255)


def _ra(valid: int, preferred: int, prefix: str = "2001:db8:1::", length: int = 64,
        flags: int = 0xC0) -> Ipv6Packet:  # fmt: skip
    pio = nd.PrefixInformation(length, flags, valid, preferred, prefix)
    ra = nd.RouterAdvertisement(router_lifetime=1800,
                                options=(nd.SourceLinkAddress(ROUTER_MAC), pio))  # fmt: skip
    return _nd(ra, ROUTER, "ff02::1")


def _dad_ns(tap: WireTap) -> list[tuple[Ipv6Packet, nd.NeighborSolicitation]]:
    out = []
    for pkt in tap.ip6():
        if pkt.proto == 58 and pkt.payload[0] == nd.TYPE_NEIGHBOR_SOLICITATION:
            msg = nd.parse(pkt.payload, pkt.src, pkt.dst)
            assert isinstance(msg, nd.NeighborSolicitation)
            if pkt.src == "::":
                out.append((pkt, msg))
    return out


def _dad_net() -> tuple[SimNet, WireTap]:
    net = SimNet(1, ipv6=True, dad_transmits=1)
    return net, WireTap(net)


def _slaac_address(net: SimNet) -> str:
    mac = bytes.fromhex(net.a.mac.replace(":", ""))
    iid = bytes((mac[0] ^ 2,)) + mac[1:3] + b"\xff\xfe" + mac[3:]
    return str(ipv6.ip6_to_str(bytes.fromhex("20010db8000100000000000000000000")[:8] + iid))


# -- Duplicate Address Detection (§5.4) -------------------------------------------------------


def test_configured_address_is_tentative_until_dad_passes() -> None:
    net, tap = _dad_net()
    ip6 = net.a.ipv6
    assert ip6.autoconf.is_tentative(MINE) and not ip6.is_ours(MINE)
    net.advance(3)
    probes = {m.target: (p, m) for p, m in _dad_ns(tap)}
    pkt, ns = probes[MINE]
    # §5.4.2: from ::, to the solicited-node group, no Source Link-Layer Address option.
    assert (pkt.dst, pkt.hop_limit, ns.options) == (SOLICITED, 255, ())
    assert ip6.link_local in probes  # the link-local address is detected as well
    assert ip6.is_ours(MINE) and not ip6.autoconf.tentative
    assert net.a.stats.get("IPv6", "dad_passed") == 2


def test_tentative_address_receives_no_unicast() -> None:
    net, tap = _dad_net()
    echo = icmp6.emit(icmp6.echo_request(1, 1, b""), "2001:db8::99", MINE)
    tap.inject(Ipv6Packet("2001:db8::99", MINE, 58, echo, hop_limit=64))
    assert net.a.stats.dropped("IPv6", "not_our_address") == 1  # RFC 4862 §5.4


def test_solicitation_for_a_tentative_address_is_not_answered() -> None:
    net, tap = _dad_net()
    ns = nd.NeighborSolicitation(MINE, (nd.SourceLinkAddress(ROUTER_MAC),))
    tap.inject(_nd(ns, "2001:db8::99", SOLICITED), dst_mac="33:33:ff:00:00:01")
    net.advance(0.01)
    assert not [p for p in tap.ip6() if p.payload[0] == nd.TYPE_NEIGHBOR_ADVERTISEMENT]
    assert net.a.ipv6.autoconf.is_tentative(MINE)  # §5.4.3: silently discarded


def test_advertisement_for_a_tentative_address_makes_it_a_duplicate() -> None:
    net, tap = _dad_net()
    na = nd.NeighborAdvertisement(MINE, override=True, options=(nd.TargetLinkAddress(ROUTER_MAC),))
    tap.inject(_nd(na, MINE, "ff02::1"), dst_mac="33:33:00:00:00:01")
    net.advance(5)
    ip6 = net.a.ipv6
    assert not ip6.is_ours(MINE) and [str(a.ip) for a in ip6.autoconf.duplicates] == [MINE]
    assert net.a.stats.get("IPv6", "dad_duplicates") == 1  # RFC 4862 §5.4.4, §5.4.5
    assert ip6.address == ip6.link_local  # never used


def test_another_node_detecting_the_same_address_makes_it_a_duplicate() -> None:
    net, tap = _dad_net()
    tap.inject(_nd(nd.NeighborSolicitation(MINE), "::", SOLICITED), dst_mac="33:33:ff:00:00:01")
    net.advance(5)
    assert not net.a.ipv6.is_ours(MINE)  # RFC 4862 §5.4.3
    assert net.a.stats.get("IPv6", "dad_duplicates") == 1


def test_second_stack_finds_the_first_holds_its_address() -> None:
    net = SimNet(1, ipv6=True)  # stack a holds 2001:db8::1 (no DAD: assigned at once)
    late = PyStack(link=net.wire.attach(), ip="198.18.0.2/24", clock=net.clock,
                   ip6=f"{MINE}/64", dad_transmits=1, router_solicitations=0)  # fmt: skip
    net.advance(5)
    assert not late.ipv6.is_ours(MINE) and late.stats.get("IPv6", "dad_duplicates") == 1
    assert late.ipv6.is_ours(late.ipv6.link_local or "")  # its own link-local passed
    assert net.a.ipv6.is_ours(MINE)


def test_dad_transmits_two_sends_two_probes_a_retrans_timer_apart() -> None:
    net = SimNet(1, ipv6=True, dad_transmits=2, ndp_retrans_timer=0.5)
    tap = WireTap(net)
    net.advance(0.99)
    assert net.a.ipv6.autoconf.is_tentative(MINE)
    net.advance(2)
    assert [m.target for _, m in _dad_ns(tap)].count(MINE) == 2
    assert net.a.ipv6.is_ours(MINE)


# -- stateless autoconfiguration (§5.5.3) ------------------------------------------------------


def test_autonomous_prefix_forms_an_eui64_address_after_dad() -> None:
    net, tap = _dad_net()
    tap.inject(_ra(HOUR, HOUR), dst_mac="33:33:00:00:00:01")
    address = _slaac_address(net)
    assert net.a.ipv6.autoconf.is_tentative(address)
    net.advance(3)
    assert net.a.ipv6.is_ours(address)
    assert address in [m.target for _, m in _dad_ns(tap)]
    assert net.a.address6 == MINE  # the configured one came first


def test_slaac_address_is_used_as_source_off_link() -> None:
    net = SimNet(1)  # no configured global address
    tap = WireTap(net)
    tap.inject(_ra(HOUR, HOUR), dst_mac="33:33:00:00:00:01")
    net.a.icmpv6.ping("2001:db8:99::5", timeout=0.5).addErrback(lambda f: None)
    net.advance(0.01)
    echo = [p for p in tap.ip6() if p.dst == "2001:db8:99::5"]
    assert [p.src for p in echo] == [_slaac_address(net)]


def test_prefix_without_a_flag_or_not_64_or_bad_lifetimes_forms_nothing() -> None:
    net, tap = _dad_net()
    tap.inject(_ra(HOUR, HOUR, flags=0x80), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(HOUR, HOUR, prefix="2001:db8:2::", length=48), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(60, 120, prefix="2001:db8:3::"), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(HOUR, HOUR, prefix="fe80::"), dst_mac="33:33:00:00:00:01")
    assert net.a.ipv6.autoconf.autoconfigured == {}
    assert net.a.stats.get("IPv6", "slaac_prefix_ignored") == 2  # §5.5.3 (c), (d)


def test_preferred_lifetime_deprecates_and_valid_lifetime_removes() -> None:
    net = SimNet(1)
    tap = WireTap(net)
    tap.inject(_ra(600, 300), dst_mac="33:33:00:00:00:01")
    address = _slaac_address(net)
    net.advance(301)
    ip6 = net.a.ipv6
    assert ip6.is_ours(address) and ip6.source_for("2001:db8:99::5") == ip6.link_local
    assert net.a.stats.get("IPv6", "addresses_deprecated") == 1  # RFC 4862 §5.5.4
    net.advance(300)
    assert not ip6.is_ours(address) and ip6.autoconf.autoconfigured == {}


def test_refresh_renews_the_preferred_lifetime() -> None:
    net = SimNet(1)
    tap = WireTap(net)
    tap.inject(_ra(600, 300), dst_mac="33:33:00:00:00:01")
    net.advance(301)
    tap.inject(_ra(600, 300), dst_mac="33:33:00:00:00:01")
    address = _slaac_address(net)
    assert net.a.ipv6.source_for("2001:db8:99::5") == address
    net.advance(599)
    assert net.a.ipv6.is_ours(address)


def _valid_left(net: SimNet) -> float:
    (slaac,) = net.a.ipv6.autoconf.autoconfigured.values()
    assert slaac.valid_until is not None
    return slaac.valid_until - net.now()


def test_two_hour_rule() -> None:
    net = SimNet(1)
    tap = WireTap(net)
    tap.inject(_ra(10 * HOUR, HOUR), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(60, 60), dst_mac="33:33:00:00:00:01")
    assert _valid_left(net) == 2 * HOUR  # §5.5.3 (e) 3: cut to two hours, not 60 s
    tap.inject(_ra(60, 60), dst_mac="33:33:00:00:00:01")
    assert _valid_left(net) == 2 * HOUR  # §5.5.3 (e) 2: two hours left, ignored
    tap.inject(_ra(3 * HOUR, 60), dst_mac="33:33:00:00:00:01")
    assert _valid_left(net) == 3 * HOUR  # §5.5.3 (e) 1: above two hours, taken
    tap.inject(_ra(0xFFFFFFFF, 60), dst_mac="33:33:00:00:00:01")
    (slaac,) = net.a.ipv6.autoconf.autoconfigured.values()
    assert slaac.valid_until is None  # infinity


def test_duplicate_slaac_address_is_not_used_nor_formed_again() -> None:
    net, tap = _dad_net()
    tap.inject(_ra(HOUR, HOUR), dst_mac="33:33:00:00:00:01")
    address = _slaac_address(net)
    na = nd.NeighborAdvertisement(address, override=True)
    tap.inject(_nd(na, address, "ff02::1"), dst_mac="33:33:00:00:00:01")
    tap.inject(_ra(HOUR, HOUR), dst_mac="33:33:00:00:00:01")
    net.advance(5)
    assert not net.a.ipv6.has_address(address)
    assert net.a.stats.get("IPv6", "slaac_addresses_formed") == 1
