"""IPv6, ICMPv6 and NDP codec properties: round trips, total parsers, agreement with scapy.

The scapy builders here read our reprs' fields into scapy's own layers (scapy's field
names and classes); scapy then computes every length, Next Header and checksum itself.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers import inet6 as s6
from scapy.packet import Packet, Raw

from pystack.testing import examples
from pystack.testing import strategies as pst
from pystack.wire import Malformed, icmpv6, ipv4, ipv6, ndp, tcp, udp
from pystack.wire.checksum import internet_checksum
from pystack.wire.ipv6 import (
    DestinationOptions,
    FragmentHeader,
    HopByHopOptions,
    Ipv6Option,
    Ipv6Packet,
    Pad1,
    PadN,
    RoutingHeader,
)
from pystack.wire.scapy_edge import to_scapy

THOROUGH = settings(max_examples=examples(ci=1000, dev=100))
SRC, DST = "2001:db8::1", "fe80::7"


def _icmpv6_parse(raw: bytes) -> Any:
    return icmpv6.parse(raw, SRC, DST)


def _ndp_parse(raw: bytes) -> Any:
    return ndp.parse(raw, SRC, DST)


CODECS: dict[str, tuple[Any, Any, Any]] = {
    "ipv6": (ipv6.parse, ipv6.emit, pst.ipv6_packets()),
    "icmpv6": (_icmpv6_parse, lambda m: icmpv6.emit(m, SRC, DST), pst.icmpv6_messages()),
    "ndp": (_ndp_parse, lambda m: ndp.emit(m, SRC, DST), pst.nd_messages()),
}
PARSERS = [ipv6.parse, ipv6.parse_quoted, _icmpv6_parse, _ndp_parse, ndp.parse_options]


@pytest.mark.slow
@pytest.mark.parametrize("name", CODECS)
@THOROUGH
@given(data=st.data())
def test_parse_of_emit_is_identity(name: str, data: st.DataObject) -> None:
    parse, emit, strategy = CODECS[name]
    rep = data.draw(strategy)
    assert parse(emit(rep)) == rep


@pytest.mark.parametrize("parse", PARSERS, ids=lambda f: f"{f.__module__}.{f.__name__}")
@THOROUGH
@given(raw=st.binary(max_size=160))
def test_arbitrary_bytes_give_a_repr_or_malformed(parse: Any, raw: bytes) -> None:
    try:
        parse(raw)
    except Malformed as exc:
        assert exc.reason and exc.reason.replace("_", "").isalpha()


def _with_right_checksum(raw: bytes) -> bytes:
    """``raw`` with the ICMPv6 checksum that lets it past the checksum check."""
    zeroed = raw[:2] + b"\x00\x00" + raw[4:]
    total = ipv6.pseudo_sum6(SRC, DST, ipv6.NH_ICMPV6, len(raw))
    return raw[:2] + internet_checksum(zeroed, total).to_bytes(2, "big") + raw[4:]


_ND_REASONS = {
    "truncated", "bad_option_length", "bad_code", "multicast_target", "multicast_destination",
    "bad_redirect_target",
}  # fmt: skip


@THOROUGH
@given(
    type_=st.integers(133, 137),
    code=st.sampled_from([0, 0, 0, 1]),
    body=st.binary(max_size=120),
)
def test_arbitrary_nd_bodies_give_a_repr_or_malformed(type_: int, code: int, body: bytes) -> None:
    # Random bytes rarely carry a right checksum: give them one so the ND parser runs.
    raw = _with_right_checksum(bytes((type_, code, 0, 0)) + body)
    try:
        ndp.parse(raw, SRC, DST)
    except Malformed as exc:
        assert exc.reason in _ND_REASONS


@THOROUGH
@given(nh=st.sampled_from([0, 43, 44, 60]), chain=st.binary(max_size=120))
def test_arbitrary_extension_chains_give_a_repr_or_malformed(nh: int, chain: bytes) -> None:
    # Random bytes rarely pass the fixed header: splice them behind a real one.
    head = ipv6.emit(Ipv6Packet(SRC, DST, nh, b""))
    raw = head[:4] + len(chain).to_bytes(2, "big") + head[6:] + chain
    try:
        pkt = ipv6.parse(raw)
    except ipv6.HeaderError as exc:
        assert 0 <= exc.pointer < len(raw) + 2 and exc.code in (0, 1)
    else:
        # Whatever parses re-emits (PadN contents aside) and parses the same again.
        assert ipv6.parse(ipv6.emit(pkt)) == pkt
        try:
            ipv6.check_fragment(pkt)
        except ipv6.HeaderError as exc:
            assert exc.reason in ("bad_fragment_length", "bad_fragment_offset")


# --- scapy builders from our reprs ------------------------------------------------------


def _scapy_option(opt: Pad1 | PadN | Ipv6Option) -> Packet:
    if isinstance(opt, Pad1):
        return s6.Pad1()
    if isinstance(opt, PadN):
        return s6.PadN(optdata=bytes(opt.size - 2))
    return s6.HBHOptUnknown(otype=opt.type, optdata=opt.data)


def _scapy_header(header: Any, nh: int) -> Packet:
    if isinstance(header, HopByHopOptions | DestinationOptions):
        cls = s6.IPv6ExtHdrHopByHop if header.kind == 0 else s6.IPv6ExtHdrDestOpt
        return cls(nh=nh, autopad=0, options=[_scapy_option(o) for o in header.options])
    if isinstance(header, RoutingHeader):
        data = header.data
        return s6.IPv6ExtHdrRouting(
            nh=nh, type=header.routing_type, segleft=header.segments_left,
            reserved=int.from_bytes(data[:4], "big"),
            addresses=[ipv6.ip6_to_str(data[i : i + 16]) for i in range(4, len(data), 16)],
        )  # fmt: skip
    assert isinstance(header, FragmentHeader)
    return s6.IPv6ExtHdrFragment(nh=nh, offset=header.offset >> 3, m=header.more, id=header.ident)


def _scapy_ipv6(pkt: Ipv6Packet) -> Packet:
    layer: Packet = s6.IPv6(
        src=pkt.src, dst=pkt.dst, tc=pkt.traffic_class, fl=pkt.flow_label,
        hlim=pkt.hop_limit, nh=pkt.next_header,
    )  # fmt: skip
    kinds = [h.kind for h in pkt.headers] + [pkt.proto]
    for i, header in enumerate(pkt.headers):
        layer = layer / _scapy_header(header, kinds[i + 1])
    return layer / Raw(pkt.payload)


# Option types scapy dissects with a fixed data length, and that length.
_SCAPY_FIXED_OPTIONS = {5: 2, 99: 4, 194: 4, 201: 16}


def _scapy_options(options: tuple[ipv6.Option, ...]) -> tuple[ipv6.Option, ...]:
    out = [
        Ipv6Option(o.type, (o.data + bytes(16))[: _SCAPY_FIXED_OPTIONS[o.type]])
        if isinstance(o, Ipv6Option) and o.type in _SCAPY_FIXED_OPTIONS
        else o
        for o in options
    ]
    while out and isinstance(out[-1], Pad1 | PadN):
        out.pop()
    return ipv6.pad_options(out)


def _scapy_friendly(pkt: Ipv6Packet) -> Ipv6Packet:
    """``pkt`` in the layouts scapy models: Routing data cut to whole addresses, options
    that scapy dissects with a fixed length given that length."""
    headers: list[ipv6.ExtensionHeader] = []
    for h in pkt.headers:
        if isinstance(h, RoutingHeader):
            whole = 4 + (len(h.data) - 4) // 16 * 16
            # scapy reads type 4 as a Segment Routing header (RFC 8754), laid out otherwise.
            kind = 5 if h.routing_type == 4 else h.routing_type
            h = RoutingHeader(kind, h.segments_left, h.data[:whole])
        elif isinstance(h, HopByHopOptions | DestinationOptions):
            h = type(h)(_scapy_options(h.options))
        headers.append(h)
    return Ipv6Packet(
        pkt.src, pkt.dst, pkt.proto, pkt.payload, pkt.hop_limit, pkt.traffic_class,
        pkt.flow_label, tuple(headers),
    )  # fmt: skip


@pytest.mark.slow
@THOROUGH
@given(pkt=pst.ipv6_packets().map(_scapy_friendly))
def test_ipv6_emit_equals_scapys_build(pkt: Ipv6Packet) -> None:
    assert ipv6.emit(pkt) == bytes(_scapy_ipv6(pkt))


def _no_next_header(pkt: Ipv6Packet) -> Ipv6Packet:
    """``pkt`` carrying No Next Header, so that scapy keeps the payload as raw bytes
    (its dissection of random upper-layer bytes need not rebuild them)."""
    return dataclasses.replace(_scapy_friendly(pkt), proto=ipv6.NH_NONE)


@pytest.mark.slow
@THOROUGH
@given(pkt=pst.ipv6_packets().map(_no_next_header))
def test_ipv6_parse_agrees_with_scapys_dissection(pkt: Ipv6Packet) -> None:
    raw = bytes(_scapy_ipv6(pkt))
    ours = ipv6.parse(raw)
    theirs = s6.IPv6(raw)
    assert (ours.src, ours.dst, ours.hop_limit) == (theirs.src, theirs.dst, theirs.hlim)
    assert (ours.traffic_class, ours.flow_label) == (theirs.tc, theirs.fl)
    assert ours.next_header == theirs.nh
    layer = theirs.payload
    for header in ours.headers:
        assert (
            bytes(layer)[: 8 if isinstance(header, FragmentHeader) else 2]
            == bytes(_scapy_header(header, layer.nh))[
                : 8 if isinstance(header, FragmentHeader) else 2
            ]
        )
        if isinstance(header, HopByHopOptions | DestinationOptions):
            assert [bytes(o) for o in layer.options] == [o.to_bytes() for o in header.options]
        elif isinstance(header, RoutingHeader):
            assert (header.routing_type, header.segments_left) == (layer.type, layer.segleft)
            if type(layer) is s6.IPv6ExtHdrRouting:  # scapy has classes for other types
                assert header.addresses == tuple(layer.addresses)
        else:
            assert (header.offset >> 3, header.more, header.ident) == (
                layer.offset, bool(layer.m), layer.id
            )  # fmt: skip
        layer = layer.payload
    assert bytes(layer) == ours.payload


# --- ICMPv6 and NDP against scapy ------------------------------------------------------

_ICMPV6_CLASSES: dict[int, Any] = {
    # scapy splits the word into RFC 4884's length byte and 3 unused bytes.
    1: lambda m: s6.ICMPv6DestUnreach(code=m.code, length=m.rest >> 24, unused=m.rest & 0xFFFFFF),
    2: lambda m: s6.ICMPv6PacketTooBig(code=m.code, mtu=m.rest),
    3: lambda m: s6.ICMPv6TimeExceeded(code=m.code, length=m.rest >> 24, unused=m.rest & 0xFFFFFF),
    4: lambda m: s6.ICMPv6ParamProblem(code=m.code, ptr=m.rest),
    128: lambda m: s6.ICMPv6EchoRequest(code=m.code, id=m.ident, seq=m.seq),
    129: lambda m: s6.ICMPv6EchoReply(code=m.code, id=m.ident, seq=m.seq),
}


def _scapy_icmpv6(msg: icmpv6.Icmpv6Message) -> Packet:
    build = _ICMPV6_CLASSES.get(msg.type)
    if build is None:
        rest = msg.rest.to_bytes(4, "big")
        return s6.ICMPv6Unknown(type=msg.type, code=msg.code, msgbody=rest + msg.payload)
    return build(msg) / Raw(msg.payload)


@pytest.mark.slow
@THOROUGH
@given(msg=pst.icmpv6_messages())
def test_icmpv6_emit_and_checksum_equal_scapys(msg: icmpv6.Icmpv6Message) -> None:
    built = bytes(s6.IPv6(src=SRC, dst=DST) / _scapy_icmpv6(msg))
    assert icmpv6.emit(msg, SRC, DST) == built[40:]
    assert icmpv6.parse(built[40:], SRC, DST) == msg
    # scapy's dissection reads the same type and checksum (and code, where its class has
    # one; it keeps types it has no class for as Raw).
    theirs = s6.IPv6(built).payload
    if not isinstance(theirs, Raw):
        assert (theirs.type, theirs.cksum) == (msg.type, int.from_bytes(built[42:44], "big"))
        assert theirs.fields.get("code", msg.code) == msg.code


def _scapy_nd_option(opt: ndp.NdOption) -> Packet:
    if isinstance(opt, ndp.SourceLinkAddress):
        return s6.ICMPv6NDOptSrcLLAddr(lladdr=opt.mac)
    if isinstance(opt, ndp.TargetLinkAddress):
        return s6.ICMPv6NDOptDstLLAddr(lladdr=opt.mac)
    if isinstance(opt, ndp.PrefixInformation):
        return s6.ICMPv6NDOptPrefixInfo(
            prefixlen=opt.prefix_length, L=opt.flags >> 7, A=(opt.flags >> 6) & 1,
            R=(opt.flags >> 5) & 1, res1=opt.flags & 0x1F, validlifetime=opt.valid_lifetime,
            preferredlifetime=opt.preferred_lifetime, prefix=opt.prefix,
        )  # fmt: skip
    if isinstance(opt, ndp.Mtu):
        return s6.ICMPv6NDOptMTU(mtu=opt.mtu)
    if isinstance(opt, ndp.RedirectedHeader):
        return s6.ICMPv6NDOptRedirectedHdr(pkt=opt.data)
    return s6.ICMPv6NDOptUnknown(type=opt.kind, data=opt.data)


def _scapy_nd(msg: ndp.NdMessage) -> Packet:
    if isinstance(msg, ndp.RouterSolicitation):
        layer = s6.ICMPv6ND_RS()
    elif isinstance(msg, ndp.RouterAdvertisement):
        f = msg.flags
        layer = s6.ICMPv6ND_RA(
            chlim=msg.cur_hop_limit, M=f >> 7, O=(f >> 6) & 1, H=(f >> 5) & 1,
            prf=(f >> 3) & 3, P=(f >> 2) & 1, res=f & 3, routerlifetime=msg.router_lifetime,
            reachabletime=msg.reachable_time, retranstimer=msg.retrans_timer,
        )  # fmt: skip
    elif isinstance(msg, ndp.NeighborSolicitation):
        layer = s6.ICMPv6ND_NS(tgt=msg.target)
    elif isinstance(msg, ndp.NeighborAdvertisement):
        layer = s6.ICMPv6ND_NA(tgt=msg.target, R=msg.router, S=msg.solicited, O=msg.override)
    else:
        layer = s6.ICMPv6ND_Redirect(tgt=msg.target, dst=msg.destination)
    for opt in msg.options:
        layer = layer / _scapy_nd_option(opt)
    return layer


@pytest.mark.slow
@THOROUGH
@given(msg=pst.nd_messages())
def test_nd_emit_equals_scapys_build(msg: ndp.NdMessage) -> None:
    built = bytes(s6.IPv6(src=SRC, dst=DST) / _scapy_nd(msg))
    assert ndp.emit(msg, SRC, DST) == built[40:]
    assert ndp.parse(built[40:], SRC, DST) == msg


@pytest.mark.slow
@THOROUGH
@given(msg=pst.nd_messages())
def test_nd_parse_agrees_with_scapys_dissection(msg: ndp.NdMessage) -> None:
    built = bytes(s6.IPv6(src=SRC, dst=DST) / _scapy_nd(msg))
    ours = ndp.parse(built[40:], SRC, DST)
    theirs = s6.IPv6(built).payload
    assert theirs.type == ours.type
    if isinstance(ours, ndp.RouterAdvertisement):
        fields = (theirs.chlim, theirs.routerlifetime, theirs.reachabletime, theirs.retranstimer)
        assert fields == (
            ours.cur_hop_limit, ours.router_lifetime, ours.reachable_time, ours.retrans_timer
        )  # fmt: skip
        assert (ours.managed, ours.other) == (theirs.M, theirs.O)
    elif not isinstance(ours, ndp.RouterSolicitation):
        assert theirs.tgt == ours.target
    if isinstance(ours, ndp.NeighborAdvertisement):
        assert (ours.router, ours.solicited, ours.override) == (theirs.R, theirs.S, theirs.O)
    if isinstance(ours, ndp.Redirect):
        assert theirs.dst == ours.destination
    kinds = []
    option = theirs.payload
    while option and not isinstance(option, Raw):
        kinds.append(option.type)
        option = option.payload
    # scapy has classes for many option types, which read fixed fields whatever the length
    # byte says: compare the options up to the first one of those that we keep raw.
    comparable = []
    for opt in ours.options:
        if isinstance(opt, ndp.UnknownNdOption) and opt.kind in s6.icmp6ndoptscls:
            break
        comparable.append(opt.kind)
    assert kinds[: len(comparable)] == comparable


@THOROUGH
@given(seg=pst.tcp_segments(), dgram=pst.udp_datagrams(), src=pst.ipv6_addresses())
def test_tcp_and_udp_checksums_over_ipv6_equal_scapys(
    seg: tcp.TcpSegment, dgram: udp.UdpDatagram, src: str
) -> None:
    # RFC 8200 §8.1: the upper-layer checksum covers the IPv6 pseudo-header.
    base = s6.IPv6(src=src, dst=DST)
    built = bytes(base / to_scapy(seg))[40:]
    assert tcp.emit(seg, src, DST) == built
    assert tcp.checksum_ok(built, src, DST) and not tcp.checksum_ok(built, src, SRC)
    built = bytes(base / to_scapy(dgram))[40:]
    assert udp.emit(dgram, src, DST) == built
    assert udp.checksum_ok(built, src, DST)


def test_ipv4_emit_still_refuses_ipv6_addresses() -> None:
    with pytest.raises(ValueError):
        ipv4.emit(ipv4.Ipv4Packet(SRC, "198.18.0.1", 6, b""))


@THOROUGH
@given(pkt=pst.ipv6_packets())
def test_offsets_point_at_headers_and_options(pkt: Ipv6Packet) -> None:
    raw = ipv6.emit(pkt)
    nh_at = 6  # the Next Header field that names the header at hand
    for header, at in zip(pkt.headers, ipv6.header_offsets(pkt), strict=True):
        assert raw[nh_at] == header.kind
        nh_at = at
        if isinstance(header, HopByHopOptions | DestinationOptions):
            for opt, opt_at in zip(header.options, ipv6.option_offsets(header), strict=True):
                assert raw[at + opt_at] == opt.type
    assert raw[nh_at] == pkt.proto


@THOROUGH
@given(pkt=pst.ipv6_packets(), index=st.integers(0, 400), value=pst.u8, cut=st.integers(0, 400))
def test_damaged_datagrams_give_a_repr_or_malformed(
    pkt: Ipv6Packet, index: int, value: int, cut: int
) -> None:
    # Valid chains with one byte overwritten, then cut: deep into the chain, unlike random bytes.
    raw = bytearray(ipv6.emit(pkt))
    raw[index % len(raw)] = value
    try:
        parsed = ipv6.parse(bytes(raw[: max(cut, 40)]))
    except Malformed as exc:
        assert exc.reason in (
            "truncated",
            "bad_version",
            "bad_option_length",
            "misplaced_hop_by_hop",
        )
    else:
        assert ipv6.parse(ipv6.emit(parsed)) == parsed
