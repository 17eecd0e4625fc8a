"""The IPv6 layer on the simulated wire: addresses, validation drops by reason, extension
headers (RFC 8200 §4), reassembly through the reassembly machine (RFC 5722, RFC 6946),
fragmentation on send, and next hops resolved by Neighbor Discovery."""

from __future__ import annotations

import pytest

from pystack.layers.ipv6 import eui64_link_local, multicast_mac
from pystack.sim import SimNet, WireTap
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ipv6
from pystack.wire.ipv6 import (
    DestinationOptions,
    FragmentHeader,
    HopByHopOptions,
    Ipv6Option,
    Ipv6Packet,
    RoutingHeader,
    pad_options,
)

A, B, PEER = "2001:db8::1", "2001:db8::2", "2001:db8::99"


def _net() -> tuple[SimNet, WireTap]:
    net = SimNet(2, ipv6=True)
    return net, WireTap(net)


def _echo(ident: int = 7, data: bytes = b"ping", src: str = PEER, dst: str = A) -> bytes:
    return icmp6.emit(icmp6.echo_request(ident, 1, data), src, dst)


def _icmp_out(tap: WireTap, type_: int) -> list[tuple[Ipv6Packet, icmp6.Icmpv6Message]]:
    out = []
    for pkt in tap.ip6():
        if pkt.proto == ipv6.NH_ICMPV6 and not pkt.is_fragment:
            msg = icmp6.parse(pkt.payload, pkt.src, pkt.dst)
            if msg.type == type_:
                out.append((pkt, msg))
    return out


def _learn_peer(net: SimNet, tap: WireTap) -> None:
    """Teach stack a the peer's MAC, as an NS from it would (no solicitation needed)."""
    net.a.ipv6.neighbors.rcv_ns(PEER, tap.mac)


def test_eui64_link_local_and_multicast_mac() -> None:
    assert eui64_link_local("52:54:00:12:34:56") == "fe80::5054:ff:fe12:3456"
    assert multicast_mac("ff02::1:ff00:2") == "33:33:ff:00:00:02"


def test_stack_has_link_local_global_and_joins_groups() -> None:
    net, _ = _net()
    ip6 = net.a.ipv6
    assert net.a.address6 == A
    assert ip6.link_local == eui64_link_local(net.a.mac)
    assert {"ff02::1", "ff02::1:ff00:1"} <= ip6.groups
    assert multicast_mac("ff02::1:ff00:1") in net.a.ethernet.multicast_macs
    assert ip6.source_for("fe80::1") == ip6.link_local
    assert ip6.source_for(B) == A


def test_ip6_argument_is_checked() -> None:
    with pytest.raises(ValueError, match="IPv6"):
        SimNet(1, ip6="ff02::1/64")
    with pytest.raises(ValueError, match="IPv6"):
        SimNet(1, ip6="2001:db8::1")


@pytest.mark.parametrize(
    ("src", "dst", "reason"),
    [
        ("ff02::1", A, "bad_source"),
        ("::1", A, "bad_source"),
        (PEER, "2001:db8::77", "not_our_address"),
        (PEER, "ff02::2", "not_our_address"),
    ],
)
def test_bad_addresses_are_dropped_by_reason(src: str, dst: str, reason: str) -> None:
    net, tap = _net()
    tap.inject(Ipv6Packet(src, dst, ipv6.NH_ICMPV6, _echo(src=src, dst=dst)))
    net.advance(0.1)
    assert net.a.stats.dropped("IPv6", reason) == 1
    assert not _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(bytes(10), "truncated"), (b"\x40" + bytes(39), "bad_version")],
)
def test_malformed_datagrams_are_dropped_by_reason(data: bytes, reason: str) -> None:
    net, tap = _net()
    tap.inject(data, ethertype=0x86DD)
    assert net.a.stats.dropped("IPv6", reason) == 1


def test_echo_to_our_address_is_answered_through_neighbor_discovery() -> None:
    net, tap = _net()
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_ICMPV6, _echo()))
    net.advance(0.01)
    (ns_pkt, _ns) = _icmp_out(tap, 135)[0]
    # RFC 4861 §7.2.2: to the solicited-node group, hop limit 255.
    assert ns_pkt.dst == "ff02::1:ff00:99" and ns_pkt.hop_limit == 255
    assert tap.frames[-1].dst == "33:33:ff:00:00:99"
    na = icmp6.Icmpv6Message(136, 0, 0x60000000, ipv6.ip6_to_bytes(PEER) + bytes((2, 1))
                             + bytes.fromhex(tap.mac.replace(":", "")))  # fmt: skip
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_ICMPV6, icmp6.emit(na, PEER, A), hop_limit=255))
    net.advance(0.01)
    ((reply_pkt, reply),) = _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)
    assert (reply_pkt.src, reply_pkt.dst, reply.payload, reply.ident) == (A, PEER, b"ping", 7)
    assert tap.frames[-1].dst == tap.mac
    assert net.a.ipv6.neighbors.state_of(PEER) == "REACHABLE"


@pytest.mark.parametrize(
    ("opt_type", "dst", "answered", "pp"),
    [
        (0x1E, A, True, False),  # 00: skip over it
        (0x5E, A, False, False),  # 01: discard silently
        (0x9E, A, False, True),  # 10: discard, Parameter Problem code 2
        (0xDE, A, False, True),  # 11: discard, Parameter Problem if not multicast
        (0xDE, "ff02::1", False, False),  # 11 to a multicast destination: no error
        (0x9E, "ff02::1", False, True),  # 10 even to multicast (RFC 4443 §2.4(e.3))
    ],
)
def test_unknown_options_follow_the_high_bits(
    opt_type: int, dst: str, answered: bool, pp: bool
) -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    header = DestinationOptions(pad_options([Ipv6Option(opt_type, b"\x00\x00")]))
    tap.inject(Ipv6Packet(PEER, dst, ipv6.NH_ICMPV6, _echo(dst=dst), headers=(header,)),
               dst_mac=multicast_mac(dst) if dst.startswith("ff") else None)  # fmt: skip
    net.advance(0.01)
    assert bool(_icmp_out(tap, icmp6.TYPE_ECHO_REPLY)) == answered
    problems = _icmp_out(tap, icmp6.TYPE_PARAMETER_PROBLEM)
    assert bool(problems) == pp
    if pp:
        _, msg = problems[0]
        assert msg.code == ipv6.PP_UNKNOWN_OPTION and msg.pointer == 42  # 40 + 2
    if not answered:
        assert net.a.stats.dropped("IPv6", "unknown_option") == 1


def test_hop_by_hop_router_alert_is_understood() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    hbh = HopByHopOptions(pad_options([Ipv6Option(5, b"\x00\x00")]))
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_ICMPV6, _echo(), headers=(hbh,)))
    net.advance(0.01)
    assert _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)


@pytest.mark.parametrize(
    ("rtype", "left", "answered"), [(0, 1, False), (0, 0, True), (2, 1, False)]
)
def test_routing_headers_with_segments_left_are_refused(
    rtype: int, left: int, answered: bool
) -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    routing = RoutingHeader(rtype, left, bytes(4) + ipv6.ip6_to_bytes(B))
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_ICMPV6, _echo(), headers=(routing,)))
    net.advance(0.01)
    assert bool(_icmp_out(tap, icmp6.TYPE_ECHO_REPLY)) == answered
    if not answered:
        ((_, msg),) = _icmp_out(tap, icmp6.TYPE_PARAMETER_PROBLEM)
        # RFC 8200 §4.4: code 0 pointing at the Routing Type field.
        assert (msg.code, msg.pointer) == (0, 42)
        assert net.a.stats.dropped("IPv6", "routing_header") == 1


def test_unknown_next_header_gets_parameter_problem_code_1() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    tap.inject(Ipv6Packet(PEER, A, 253, b"experimental"))
    net.advance(0.01)
    ((_, msg),) = _icmp_out(tap, icmp6.TYPE_PARAMETER_PROBLEM)
    assert (msg.code, msg.pointer) == (ipv6.PP_UNKNOWN_NEXT_HEADER, 6)
    assert net.a.stats.dropped("IPv6", "unknown_protocol") == 1


def test_no_next_header_is_ignored_silently() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    tap.inject(Ipv6Packet(PEER, A, ipv6.NH_NONE, b""))
    net.advance(0.01)
    assert net.a.stats.dropped("IPv6", "no_next_header") == 1
    assert not _icmp_out(tap, icmp6.TYPE_PARAMETER_PROBLEM)


def _fragments(
    payload: bytes, cuts: list[tuple[int, int, bool]], ident: int = 5
) -> list[Ipv6Packet]:
    return [
        Ipv6Packet(PEER, A, ipv6.NH_ICMPV6, payload[s:e], headers=(FragmentHeader(s, m, ident),))
        for s, e, m in cuts
    ]


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1], [1, 2, 0]])
def test_fragments_reassemble_in_any_order(order: list[int]) -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    message = _echo(data=bytes(range(256)) * 4)
    pieces = _fragments(message, [(0, 400, True), (400, 800, True), (800, len(message), False)])
    for i in order:
        tap.inject(pieces[i])
    net.advance(0.01)
    ((_, reply),) = _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)
    assert reply.payload == bytes(range(256)) * 4
    assert net.a.stats.get("IPv6", "datagrams_reassembled") == 1


def test_overlapping_fragments_discard_the_datagram() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    message = _echo(data=bytes(1000))
    for piece in _fragments(message, [(0, 512, True), (504, len(message), False)]):
        tap.inject(piece)
    net.advance(0.01)
    assert not _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)
    assert net.a.stats.dropped("IPv6", "reassembly_overlap") == 1


def test_atomic_fragment_is_processed_at_once() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    (atomic,) = _fragments(_echo(), [(0, len(_echo()), False)])
    tap.inject(atomic)
    net.advance(0.01)
    assert _icmp_out(tap, icmp6.TYPE_ECHO_REPLY)
    assert net.a.stats.get("IPv6", "atomic_fragments") == 1
    assert net.a.stats.get("IPv6", "datagrams_reassembled") == 0


def test_fragment_not_a_multiple_of_8_gets_parameter_problem() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    message = _echo(data=bytes(100))
    tap.inject(_fragments(message, [(0, 61, True)])[0])
    net.advance(0.01)
    ((_, msg),) = _icmp_out(tap, icmp6.TYPE_PARAMETER_PROBLEM)
    assert (msg.code, msg.pointer) == (0, 4)  # RFC 8200 §4.5: the Payload Length field
    assert net.a.stats.dropped("IPv6", "bad_fragment") == 1


def test_reassembly_timeout_sends_time_exceeded_when_fragment_0_came() -> None:
    net, tap = _net()
    _learn_peer(net, tap)
    tap.inject(_fragments(_echo(data=bytes(100)), [(0, 64, True)])[0])
    net.advance(61)  # RFC 8200 §4.5: 60 seconds
    ((_, msg),) = _icmp_out(tap, icmp6.TYPE_TIME_EXCEEDED)
    assert msg.code == icmp6.CODE_FRAGMENT_TIME_EXCEEDED
    assert net.a.stats.dropped("IPv6", "reassembly_timeout") == 1


def test_large_datagrams_are_fragmented_on_send_and_reassembled_by_the_peer() -> None:
    net, tap = _net()
    rtts: list[float] = []
    net.a.ping_deferred(B, data=bytes(3000)).addCallback(rtts.append)
    net.advance(0.5)
    assert rtts
    frags = [p for p in tap.ip6() if p.is_fragment]
    assert len(frags) >= 6  # request and reply, 3 pieces each
    assert all(len(ipv6.emit(p)) <= 1500 for p in frags)
    assert len({p.fragment.ident for p in frags if p.src == A}) == 1  # type: ignore[union-attr]
    assert net.b.stats.get("IPv6", "datagrams_reassembled") == 1


def test_unreachable_neighbor_fails_the_ping_with_address_unreachable() -> None:
    net, _ = _net()
    failures: list[object] = []
    net.a.ping_deferred("2001:db8::77", timeout=10).addErrback(failures.append)
    net.advance(5)
    assert failures and "unreachable" in str(failures[0].value)  # type: ignore[attr-defined]
    assert net.a.ipv6.neighbors.state_of("2001:db8::77") is None
    assert net.a.stats.dropped("NDP", "address_unreachable") == 1


def test_off_link_destination_has_no_route() -> None:
    net, _ = _net()
    failures: list[object] = []
    net.a.ping_deferred("2001:db8:1::5", timeout=1).addErrback(failures.append)
    net.advance(2)
    assert failures
    assert net.a.stats.dropped("IPv6", "no_route") == 1


def test_ping_between_two_stacks_by_link_local_address() -> None:
    net, _ = _net()
    rtts: list[float] = []
    net.a.ping_deferred(str(net.b.ipv6.link_local)).addCallback(rtts.append)
    net.advance(0.5)
    assert rtts
    assert net.a.ipv6.neighbors.state_of(str(net.b.ipv6.link_local)) == "REACHABLE"


def test_without_an_address_the_layer_takes_nothing() -> None:
    from pystack.layers.ethernet import EthernetProtocol
    from pystack.layers.icmpv6 import ICMPv6Protocol
    from pystack.layers.ipv6 import IPv6Protocol

    net, _ = _net()
    wire_port = net.wire.attach()
    ether = EthernetProtocol(wire_port, clock=net.clock, mac="02:00:00:00:00:42")
    ip6 = IPv6Protocol(link_local=False)
    ether.register_layer(ip6)
    ip6.register_layer(ICMPv6Protocol())
    assert ip6.addresses == [] and ip6.address is None
    request = icmp6.emit(icmp6.echo_request(1, 1, b"x"), PEER, "ff02::1")
    ip6.packet_received(ipv6.emit(Ipv6Packet(PEER, "ff02::1", 58, request)))
    assert ether.stats.dropped("IPv6", "no_address") == 1


def test_observer_sees_the_neighbor_cache_transitions() -> None:
    from pystack.ladder.model import machine_label

    seen: list[tuple[str, str, str, str]] = []

    def observe(obj: object, old: str, trigger: str, new: str) -> None:
        seen.append((machine_label(obj), old, trigger, new))

    net = SimNet(2, ipv6=True, observer=observe)
    net.a.ping_deferred(B)
    net.advance(0.5)
    assert ("ndp 2001:db8::2", "NONE", "send_packet", "INCOMPLETE") in seen
    assert ("ndp 2001:db8::2", "INCOMPLETE", "rcv_na", "REACHABLE") in seen
    assert ("ndp 2001:db8::1", "NONE", "rcv_unsolicited", "STALE") in seen
