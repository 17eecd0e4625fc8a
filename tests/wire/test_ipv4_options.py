"""IPv4 option codec properties, agreement with scapy, and the echo reply's Record Route."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, IPOption_RR, IPOption_Timestamp

from pystack.sim import SimNet, WireTap
from pystack.testing import examples
from pystack.testing import strategies as pst
from pystack.wire import Malformed, ipv4
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4_options as opts
from pystack.wire.ipv4 import Ipv4Packet

THOROUGH = settings(max_examples=examples(ci=1000, dev=100), deadline=None)
A, B = "198.18.0.1", "198.18.0.2"
addresses = pst.ipv4_addresses()
ms = st.integers(0, 2**32 - 1)


@st.composite
def record_routes(draw: Any) -> opts.RecordRoute:
    slots = draw(st.integers(0, 9))
    route = draw(st.lists(addresses, max_size=slots))
    return opts.RecordRoute(tuple(route), slots - len(route))


@st.composite
def source_routes(draw: Any) -> opts.SourceRoute:
    hops = draw(st.lists(addresses, max_size=9))
    done = draw(st.integers(0, len(hops)))
    return opts.SourceRoute(draw(st.booleans()), tuple(hops[:done]), tuple(hops[done:]))


@st.composite
def timestamps(draw: Any) -> opts.Timestamp:
    flag = draw(st.sampled_from([opts.TS_ONLY, opts.TS_ADDRESSES, opts.TS_PRESPECIFIED]))
    slots = draw(st.integers(0, 9 if flag == opts.TS_ONLY else 4))
    used = draw(st.integers(0, slots))
    addr = st.none() if flag == opts.TS_ONLY else addresses
    stamps = tuple(draw(st.lists(st.tuples(addr, ms), min_size=used, max_size=used)))
    overflow = draw(st.integers(0, 15))
    if flag == opts.TS_PRESPECIFIED:
        pending = tuple(draw(st.lists(addresses, min_size=slots - used, max_size=slots - used)))
        return opts.Timestamp(flag, stamps, pending, 0, overflow)
    return opts.Timestamp(flag, stamps, (), slots - used, overflow)


unknown = st.builds(
    opts.UnknownOption,
    st.integers(2, 255).filter(lambda k: k not in (7, 68, 131, 137)),
    st.binary(max_size=8),
)
any_option = st.one_of(record_routes(), source_routes(), timestamps(), unknown, st.just(opts.Nop()))


def size(options: list[opts.Ipv4Option]) -> int:
    return sum(len(o.to_bytes()) for o in options)


@THOROUGH
@given(st.lists(any_option, max_size=6))
def test_emit_then_parse_gives_the_options_back(options: list[opts.Ipv4Option]) -> None:
    assume(size(options) <= opts.MAX_OPTIONS_LEN)
    raw = opts.emit_options(options)
    assert len(raw) % 4 == 0 and len(raw) <= opts.MAX_OPTIONS_LEN
    assert opts.parse_options(raw) == tuple(options)


@THOROUGH
@given(st.binary(max_size=48))
def test_arbitrary_bytes_parse_or_raise_malformed_and_reparse_the_same(raw: bytes) -> None:
    try:
        options = opts.parse_options(raw)
    except Malformed:
        return
    if size(list(options)) <= opts.MAX_OPTIONS_LEN:
        assert opts.parse_options(opts.emit_options(options)) == options


@THOROUGH
@given(record_routes())
def test_record_route_agrees_with_scapy(rr: opts.RecordRoute) -> None:
    theirs = IPOption_RR(rr.to_bytes())
    assert theirs.pointer == 4 + 4 * len(rr.route)
    assert theirs.routers == [*rr.route, *["0.0.0.0"] * rr.free]
    built = IPOption_RR(routers=theirs.routers, pointer=theirs.pointer)
    assert opts.parse_options(bytes(built) + b"\0") == (rr,)


@THOROUGH
@given(timestamps())
def test_timestamp_header_agrees_with_scapy(ts: opts.Timestamp) -> None:
    theirs = IPOption_Timestamp(ts.to_bytes() + bytes(8))  # scapy reads one entry always
    assert (theirs.option, theirs.flg, theirs.oflw) == (4, ts.flag, ts.overflow)
    assert theirs.pointer == 5 + ts.slot_size * len(ts.stamps)
    if ts.flag == opts.TS_ADDRESSES and ts.stamps:  # scapy models the first entry only
        assert (theirs.internet_address, theirs.timestamp) == ts.stamps[0]


@THOROUGH
@given(addresses, ms)
def test_one_scapy_timestamp_entry_parses(addr: str, stamp: int) -> None:
    theirs = IPOption_Timestamp(flg=1, internet_address=addr, timestamp=stamp, pointer=13)
    assert opts.parse_options(bytes(theirs)) == (opts.Timestamp(1, ((addr, stamp),)),)


@THOROUGH
@given(record_routes(), addresses)
@pytest.mark.requirement("RFC1122:3.2.1.8-record-route")
def test_record_route_add_appends_at_the_pointer_when_there_is_room(
    rr: opts.RecordRoute, addr: str
) -> None:
    after = rr.add(addr)
    assert after.route == ((*rr.route, addr) if rr.free else rr.route)
    assert len(after.to_bytes()) == len(rr.to_bytes())


@functools.cache
def shared_net() -> tuple[SimNet, WireTap]:
    net = SimNet(2)
    net.a.arp.resolve(B, b"", 0x0800)
    net.advance(0.01)
    return net, WireTap(net)


@settings(max_examples=examples(ci=300, dev=50), deadline=None)
@given(record_routes(), st.lists(st.sampled_from([opts.Nop()]), max_size=1))
def test_echo_reply_records_our_address_at_the_pointer(
    rr: opts.RecordRoute, nops: list[opts.Ipv4Option]
) -> None:
    net, tap = shared_net()
    tap.frames.clear()
    request = icmp_wire.emit(icmp_wire.echo_request(1, 1, b"x"))
    tap.inject(Ipv4Packet(B, A, 1, request, options=opts.emit_options([*nops, rr])))
    net.advance(0.01)
    (reply,) = [p for p in tap.ip() if p.src == A]
    header = IP(ipv4.emit(reply))
    (theirs,) = [o for o in header.options if o.option == 7]
    if rr.free:
        assert theirs.routers[len(rr.route)] == A
        assert theirs.pointer == 4 + 4 * (len(rr.route) + 1)
    else:
        assert theirs.pointer == 4 + 4 * len(rr.route)
    assert tuple(theirs.routers[: len(rr.route)]) == rr.route


@THOROUGH
@given(st.lists(any_option, max_size=6))
def test_later_fragments_keep_only_the_copied_options(options: list[opts.Ipv4Option]) -> None:
    assume(size(options) <= opts.MAX_OPTIONS_LEN)
    copied = opts.parse_options(opts.copied_options(opts.emit_options(options)))
    assert copied == tuple(o for o in options if o.kind & 0x80)  # source routes, 0x80+ kinds
