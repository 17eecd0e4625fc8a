"""ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861) on the simulated wire: solicitations
answered, advertisements learned, the hop-limit-255 rule, the cases where no error may be
sent, rate limiting, and UDP's port unreachable."""

from __future__ import annotations

from pystack.layers.icmp import IcmpRateLimit
from pystack.sim import SimNet, WireTap
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ipv6
from pystack.wire import ndp as nd
from pystack.wire import udp as udp_wire
from pystack.wire.ipv6 import Ipv6Packet

A, PEER = "2001:db8::1", "2001:db8::99"


def _net() -> tuple[SimNet, WireTap]:
    net = SimNet(2, ipv6=True)
    return net, WireTap(net)


def _icmp_out(tap: WireTap, type_: int) -> list[icmp6.Icmpv6Message]:
    msgs = [icmp6.parse(p.payload, p.src, p.dst) for p in tap.ip6() if p.proto == 58]
    return [m for m in msgs if m.type == type_]


def _ns(target: str, src: str = PEER, dst: str = "ff02::1:ff00:1", hop_limit: int = 255,
        mac: str | None = "02:00:00:00:00:99") -> Ipv6Packet:  # fmt: skip
    options = (nd.SourceLinkAddress(mac),) if mac else ()
    data = nd.emit(nd.NeighborSolicitation(target, options), src, dst)
    return Ipv6Packet(src, dst, ipv6.NH_ICMPV6, data, hop_limit=hop_limit)


def test_solicitation_for_our_address_is_answered_and_teaches_the_cache() -> None:
    net, tap = _net()
    tap.inject(_ns(A), dst_mac="33:33:ff:00:00:01")
    net.advance(0.01)
    ((pkt, na),) = tap.nd(nd.NeighborAdvertisement)
    assert isinstance(na, nd.NeighborAdvertisement)
    # RFC 4861 §7.2.4: to the soliciting node, Solicited and Override set, our MAC in a
    # Target Link-Layer Address option, hop limit 255.
    assert (pkt.src, pkt.dst, pkt.hop_limit) == (A, PEER, 255)
    assert na.target == A and na.solicited and na.override and not na.router
    assert na.options == (nd.TargetLinkAddress(net.a.mac),)
    assert tap.frames[-1].dst == tap.mac
    assert net.a.ipv6.neighbors.state_of(PEER) == "STALE"  # RFC 4861 §7.2.3


def test_solicitation_from_unspecified_is_answered_to_all_nodes() -> None:
    net, tap = _net()
    tap.inject(_ns(A, src="::", mac=None), dst_mac="33:33:ff:00:00:01")
    net.advance(0.01)
    ((pkt, na),) = tap.nd(nd.NeighborAdvertisement)
    assert pkt.dst == "ff02::1" and not na.solicited  # type: ignore[attr-defined]
    assert net.a.ipv6.neighbors.state_of("::") is None


def test_solicitation_with_hop_limit_below_255_is_dropped() -> None:
    net, tap = _net()
    tap.inject(_ns(A, hop_limit=254), dst_mac="33:33:ff:00:00:01")
    net.advance(0.01)
    assert not tap.nd(nd.NeighborAdvertisement)
    assert net.a.stats.dropped("ICMPv6", "nd_hop_limit") == 1  # RFC 4861 §7.1.1


def test_solicitation_for_another_target_is_ignored() -> None:
    net, tap = _net()
    tap.inject(_ns("2001:db8::5", dst="ff02::1:ff00:5"), dst_mac="33:33:ff:00:00:05")
    net.advance(0.01)
    assert net.a.stats.dropped("Ether", "not_for_us") == 1  # a group we did not join
    tap.inject(_ns("2001:db8::5"), dst_mac="33:33:ff:00:00:01")
    net.advance(0.01)
    assert not tap.nd(nd.NeighborAdvertisement)
    assert net.a.stats.dropped("ICMPv6", "nd_not_our_target") == 1


def test_dad_solicitation_with_source_link_address_is_invalid() -> None:
    net, tap = _net()
    tap.inject(_ns(A, src="::"), dst_mac="33:33:ff:00:00:01")
    net.advance(0.01)
    assert net.a.stats.dropped("ICMPv6", "nd_invalid") == 1


def test_solicited_advertisement_to_multicast_is_invalid() -> None:
    net, tap = _net()
    data = nd.emit(nd.NeighborAdvertisement(PEER, solicited=True), PEER, "ff02::1")
    tap.inject(Ipv6Packet(PEER, "ff02::1", 58, data, hop_limit=255), dst_mac="33:33:00:00:00:01")
    assert net.a.stats.dropped("ICMPv6", "nd_invalid") == 1  # RFC 4861 §7.1.2


def test_two_stacks_resolve_each_other_with_ns_and_na() -> None:
    net, tap = _net()
    rtts: list[float] = []
    net.a.ping_deferred("2001:db8::2").addCallback(rtts.append)
    net.advance(0.5)
    assert rtts
    (ns_pkt, ns) = tap.nd(nd.NeighborSolicitation)[0]
    assert ns_pkt.dst == "ff02::1:ff00:2" and ns.options == (nd.SourceLinkAddress(net.a.mac),)  # type: ignore[attr-defined]
    assert net.a.ipv6.neighbors.lookup("2001:db8::2") == net.b.mac
    assert net.b.ipv6.neighbors.lookup(A) == net.a.mac


def test_udp_to_a_closed_port_gets_port_unreachable() -> None:
    net, tap = _net()
    net.a.ipv6.neighbors.rcv_ns(PEER, tap.mac)
    data = udp_wire.emit(udp_wire.UdpDatagram(5000, 9, b"hi"), PEER, A)
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_UDP, data))
    net.advance(0.01)
    (err,) = _icmp_out(tap, icmp6.TYPE_DEST_UNREACHABLE)
    assert err.code == icmp6.CODE_PORT_UNREACHABLE
    assert err.quoted.src == PEER and err.quoted.payload[:8] == data[:8]


def test_no_port_unreachable_about_multicast_or_from_unspecified() -> None:
    net, tap = _net()
    net.a.ipv6.neighbors.rcv_ns(PEER, tap.mac)
    data = udp_wire.emit(udp_wire.UdpDatagram(5000, 9, b"hi"), PEER, "ff02::1")
    tap.inject(Ipv6Packet(PEER, "ff02::1", ipv6.NH_UDP, data), dst_mac="33:33:00:00:00:01")
    data = udp_wire.emit(udp_wire.UdpDatagram(5000, 9, b"hi"), "::", A)
    tap.inject(Ipv6Packet("::", A, ipv6.NH_UDP, data))
    net.advance(0.01)
    assert not _icmp_out(tap, icmp6.TYPE_DEST_UNREACHABLE)
    assert net.a.stats.get("ICMPv6", "errors_suppressed") == 2  # RFC 4443 §2.4(e)


def test_zero_udp_checksum_is_dropped_over_ipv6() -> None:
    net, tap = _net()
    data = bytearray(udp_wire.emit(udp_wire.UdpDatagram(5000, 9, b"hi"), PEER, A))
    data[6:8] = b"\0\0"
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_UDP, bytes(data)))
    assert net.a.stats.dropped("UDP", "bad_checksum") == 1  # RFC 8200 §8.1


def test_no_error_about_an_icmpv6_error() -> None:
    net, tap = _net()
    net.a.ipv6.neighbors.rcv_ns(PEER, tap.mac)
    inner = icmp6.emit(icmp6.dest_unreachable(4, bytes(48)), PEER, A)
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_ICMPV6, inner, headers=(
        ipv6.DestinationOptions(ipv6.pad_options([ipv6.Ipv6Option(0x9E, b"")])),
    )))  # fmt: skip
    net.advance(0.01)
    assert not _icmp_out(tap, icmp6.TYPE_PARAMETER_PROBLEM)
    assert net.a.stats.get("ICMPv6", "errors_suppressed") == 1


def test_errors_are_rate_limited_per_destination() -> None:
    net, tap = _net()
    net.a.icmpv6.rate_limit = IcmpRateLimit(ratemask=frozenset({1, 3, 4}), per_dest_burst=2)
    net.a.ipv6.neighbors.rcv_ns(PEER, tap.mac)
    for port in range(10):
        data = udp_wire.emit(udp_wire.UdpDatagram(5000, 100 + port, b"x"), PEER, A)
        tap.inject(Ipv6Packet(PEER, A, ipv6.NH_UDP, data))
    net.advance(0.01)
    assert len(_icmp_out(tap, icmp6.TYPE_DEST_UNREACHABLE)) == 2
    assert net.a.stats.get("ICMPv6", "errors_rate_limited") == 8


def test_echo_reply_keeps_identifier_sequence_and_data() -> None:
    net, tap = _net()
    net.a.ipv6.neighbors.rcv_ns(PEER, tap.mac)
    request = icmp6.emit(icmp6.echo_request(0x1234, 9, b"abc" * 100), PEER, A)
    tap.inject(Ipv6Packet(PEER, A, 58, request))
    net.advance(0.01)
    (reply,) = _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)
    assert (reply.ident, reply.seq, reply.payload) == (0x1234, 9, b"abc" * 100)


def test_icmpv6_with_bad_checksum_is_dropped() -> None:
    net, tap = _net()
    request = bytearray(icmp6.emit(icmp6.echo_request(1, 1, b"x"), PEER, A))
    request[2] ^= 0xFF
    tap.inject(Ipv6Packet(PEER, A, 58, bytes(request)))
    assert net.a.stats.dropped("ICMPv6", "bad_checksum") == 1
