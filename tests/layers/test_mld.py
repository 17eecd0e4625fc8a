"""MLDv2 for a host, minimal (RFC 3810): reports of the solicited-node groups when they are
joined, answers to queries, never a report of all-nodes; the report and query codecs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.layers.ndp import solicited_node_multicast
from pystack.sim import SimNet, WireTap
from pystack.testing import examples
from pystack.wire import Malformed, ipv6, mld
from pystack.wire import icmpv6 as icmp6
from pystack.wire.ipv6 import HopByHopOptions, Ipv6Option, Ipv6Packet


def _reports(tap: WireTap) -> list[tuple[Ipv6Packet, tuple[mld.AddressRecord, ...]]]:
    out = []
    for frame in tap.frames:
        if frame.ethertype != 0x86DD:
            continue
        pkt = ipv6.parse(frame.payload)
        if pkt.proto == ipv6.NH_ICMPV6 and pkt.payload[0] == mld.TYPE_REPORT_V2:
            assert frame.dst == "33:33:00:00:00:16"  # RFC 2464 §7
            out.append((pkt, mld.parse_report(icmp6.parse(pkt.payload, pkt.src, pkt.dst))))
    return out


def _query(src: str = "fe80::99", hop_limit: int = 1, address: str = "::") -> Ipv6Packet:
    msg = icmp6.Icmpv6Message(mld.TYPE_QUERY, 0, 1000 << 16, ipv6.ip6_to_bytes(address) + bytes(4))
    alert = HopByHopOptions(ipv6.pad_options([Ipv6Option(5, b"\x00\x00")]))
    data = icmp6.emit(msg, src, "ff02::1")
    return Ipv6Packet(src, "ff02::1", 58, data, hop_limit=hop_limit, headers=(alert,))


def test_joined_groups_are_reported_twice_and_all_nodes_never() -> None:
    net = SimNet(1, ipv6=True, mld=True)
    tap = WireTap(net)
    net.advance(2)
    ip6 = net.a.ipv6
    groups = {solicited_node_multicast("2001:db8::1"), solicited_node_multicast(ip6.link_local)}
    ((first, records), (_, again)) = _reports(tap)
    assert records == again  # RFC 3810 §6.1: Robustness Variable 2
    assert {r.address for r in records} == groups and "ff02::1" not in groups
    assert all(r.record_type == mld.CHANGE_TO_EXCLUDE and r.sources == () for r in records)
    # §5.2.13, §5.2.14: link-local source, to all MLDv2 routers, Hop Limit 1, Router Alert.
    assert (first.src, first.dst, first.hop_limit) == (ip6.link_local, "ff02::16", 1)
    assert first.headers[0].options[0] == Ipv6Option(5, b"\x00\x00")


def test_group_joined_for_a_tentative_address_is_reported_from_unspecified() -> None:
    net = SimNet(1, ipv6=True, mld=True, dad_transmits=1)
    tap = WireTap(net)
    net.advance(0.01)
    ((pkt, records), *_) = _reports(tap)
    assert pkt.src == "::"  # RFC 3810 §5.2.13: no valid link-local address yet
    assert solicited_node_multicast("2001:db8::1") in {r.address for r in records}


def test_general_query_is_answered_with_every_group() -> None:
    net = SimNet(1, ipv6=True, mld=True)
    tap = WireTap(net)
    net.advance(2)
    tap.frames.clear()
    tap.inject(_query(), dst_mac="33:33:00:00:00:01")
    net.advance(1.01)  # §6.2: within the Maximum Response Delay (1000 ms)
    ((_, records),) = _reports(tap)
    assert all(r.record_type == mld.MODE_IS_EXCLUDE for r in records)
    assert {r.address for r in records} == net.a.ipv6.groups - {"ff02::1"}


def test_invalid_queries_are_dropped() -> None:
    net = SimNet(1, ipv6=True, mld=True)
    tap = WireTap(net)
    tap.inject(_query(hop_limit=64), dst_mac="33:33:00:00:00:01")
    tap.inject(_query(src="2001:db8::99"), dst_mac="33:33:00:00:00:01")
    assert net.a.stats.dropped("ICMPv6", "mld_invalid") == 2  # RFC 3810 §5.1.14


addresses = st.binary(min_size=16, max_size=16).map(ipv6.ip6_to_str)
records = st.builds(mld.AddressRecord, st.integers(1, 6), addresses,
                    st.lists(addresses, max_size=3).map(tuple))  # fmt: skip


@settings(max_examples=examples(ci=300, dev=50), deadline=None)
@given(st.lists(records, max_size=5).map(tuple))
def test_report_round_trip(recs: tuple[mld.AddressRecord, ...]) -> None:
    msg = icmp6.parse(icmp6.emit(mld.report(recs), "fe80::1", "ff02::16"), "fe80::1", "ff02::16")
    assert mld.parse_report(msg) == recs


@settings(max_examples=examples(ci=300, dev=50), deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(max_size=40))
def test_query_and_report_parsers_are_total(rest: int, payload: bytes) -> None:
    for type_ in (mld.TYPE_QUERY, mld.TYPE_REPORT_V2):
        msg = icmp6.Icmpv6Message(type_, 0, rest, payload)
        try:
            mld.parse_query(msg) if type_ == mld.TYPE_QUERY else mld.parse_report(msg)
        except Malformed:
            pass
