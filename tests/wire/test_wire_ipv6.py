"""IPv6 codec: fixed header, the extension-header chain, options and their actions."""

from __future__ import annotations

import pytest

from pystack.wire import Malformed, ipv6
from pystack.wire.checksum import internet_checksum
from pystack.wire.ipv6 import (
    DestinationOptions,
    FragmentHeader,
    HeaderError,
    HopByHopOptions,
    Ipv6Option,
    Ipv6Packet,
    OptionAction,
    PadN,
    RoutingHeader,
)

SRC, DST = "2001:db8::1", "2001:db8:0:1::2"
PKT = Ipv6Packet(SRC, DST, ipv6.NH_UDP, b"hello", hop_limit=17, traffic_class=0xB8, flow_label=7)
ROUTER_ALERT = Ipv6Option(5, b"\x00\x00")


def test_fixed_header_layout_and_round_trip() -> None:
    raw = ipv6.emit(PKT)
    assert len(raw) == 45
    # Version 6, traffic class 0xb8, flow label 7; payload length 5; next header 17.
    assert raw[:8] == bytes.fromhex("6b800007 0005 11 11".replace(" ", ""))
    assert ipv6.parse(raw) == PKT


def test_link_padding_is_cut_by_payload_length() -> None:
    assert ipv6.parse(ipv6.emit(PKT) + bytes(20)).payload == b"hello"


def test_addresses_are_rfc5952_text() -> None:
    raw = ipv6.emit(Ipv6Packet("2001:0DB8:0000::0001", "::ffff:198.18.0.1", 59, b""))
    parsed = ipv6.parse(raw)
    assert (parsed.src, parsed.dst) == ("2001:db8::1", "::ffff:198.18.0.1")


def test_chain_is_walked_to_the_upper_layer() -> None:
    hbh = HopByHopOptions(ipv6.pad_options([ROUTER_ALERT]))
    dst_opts = DestinationOptions(ipv6.pad_options([Ipv6Option(0x1E, b"x" * 9)]))
    pkt = Ipv6Packet(SRC, DST, ipv6.NH_TCP, b"segment", headers=(hbh, dst_opts))
    raw = ipv6.emit(pkt)
    assert raw[6] == ipv6.NH_HOPOPTS and raw[40] == ipv6.NH_DSTOPTS
    parsed = ipv6.parse(raw)
    assert parsed.proto == ipv6.NH_TCP and parsed.payload == b"segment"
    assert parsed.headers == (hbh, dst_opts) and parsed.next_header == ipv6.NH_HOPOPTS


@pytest.mark.parametrize(
    ("option_type", "action"),
    [
        (0x1E, OptionAction.SKIP),
        (0x5E, OptionAction.DISCARD),
        (0x9E, OptionAction.DISCARD_ICMP),
        (0xDE, OptionAction.DISCARD_ICMP_UNICAST),
    ],
)
def test_unknown_option_action_is_the_two_high_bits(option_type: int, action: OptionAction) -> None:
    # RFC 8200 §4.2: 00 skip, 01 discard, 10 discard + ICMP, 11 discard + ICMP unless multicast.
    opts = ipv6.pad_options([Ipv6Option(option_type, b"ab")])
    pkt = Ipv6Packet(SRC, DST, 59, b"", headers=(DestinationOptions(opts),))
    parsed_opt = ipv6.parse(ipv6.emit(pkt)).headers[0].options[0]  # type: ignore[union-attr]
    assert parsed_opt.action is action
    assert not Ipv6Option(option_type).may_change
    assert Ipv6Option(option_type | 0x20).may_change


def test_pad1_and_padn_fill_whole_units() -> None:
    assert ipv6.pad_options([]) == (PadN(6),)
    assert ipv6.pad_options([Ipv6Option(7, b"abcd")]) == (Ipv6Option(7, b"abcd"),)
    assert ipv6.pad_options([Ipv6Option(7, b"abc")]) == (Ipv6Option(7, b"abc"), ipv6.PAD1)
    header = HopByHopOptions((ipv6.PAD1,) * 6)
    raw = ipv6.emit(Ipv6Packet(SRC, DST, 59, b"", headers=(header,)))
    assert raw[40:48] == bytes((59, 0, 0, 0, 0, 0, 0, 0))
    assert ipv6.parse(raw).headers == (header,)


def test_padn_contents_are_ignored_on_receipt() -> None:
    raw = ipv6.emit(Ipv6Packet(SRC, DST, 59, b"", headers=(DestinationOptions((PadN(6),)),)))
    dirty = raw[:44] + b"junk" + raw[48:]
    assert ipv6.parse(dirty).headers == (DestinationOptions((PadN(6),)),)


def test_routing_type_0_is_flagged_deprecated() -> None:
    hops = ipv6.ip6_to_bytes("2001:db8::9") + ipv6.ip6_to_bytes("2001:db8::a")
    rh0 = RoutingHeader(0, 2, bytes(4) + hops)
    parsed = ipv6.parse(ipv6.emit(Ipv6Packet(SRC, DST, 58, b"x", headers=(rh0,))))
    header = parsed.headers[0]
    assert isinstance(header, RoutingHeader)
    assert header.deprecated  # RFC 5095 §3
    assert header.addresses == ("2001:db8::9", "2001:db8::a")
    assert not RoutingHeader(2, 1, bytes(20)).deprecated


def test_fragment_header_ends_the_walk() -> None:
    frag = FragmentHeader(1448, True, 0xDEADBEEF)
    # The bytes after a Fragment header are fragment data even when they look like a header.
    pkt = Ipv6Packet(SRC, DST, ipv6.NH_DSTOPTS, b"\x3b\x00" + bytes(6), headers=(frag,))
    raw = ipv6.emit(pkt)
    assert raw[40:48] == bytes.fromhex("3c 00 05a9 deadbeef".replace(" ", ""))
    parsed = ipv6.parse(raw)
    assert parsed == pkt and parsed.fragment == frag and parsed.is_fragment
    atomic = Ipv6Packet(SRC, DST, 17, b"", headers=(FragmentHeader(0, False, 1),))
    assert not ipv6.parse(ipv6.emit(atomic)).is_fragment  # RFC 6946


def test_fragment_reserved_bits_are_ignored() -> None:
    raw = bytearray(
        ipv6.emit(Ipv6Packet(SRC, DST, 17, b"", headers=(FragmentHeader(8, False, 1),)))
    )
    raw[41] = 0xFF  # reserved byte
    raw[43] |= 0x06  # the two reserved bits
    assert ipv6.parse(bytes(raw)).fragment == FragmentHeader(8, False, 1)


def _with_chain(nh: int, chain: bytes) -> bytes:
    header = ipv6.emit(Ipv6Packet(SRC, DST, nh, b""))
    return header[:4] + len(chain).to_bytes(2, "big") + header[6:] + chain


@pytest.mark.parametrize(
    ("nh", "chain", "reason", "pointer", "code"),
    [
        # A Hop-by-Hop header after another header (RFC 8200 §4.1).
        (60, bytes((0, 0, 1, 4, 0, 0, 0, 0)) + bytes(8), "misplaced_hop_by_hop", 40, 1),
        # An option whose length runs past its header.
        (0, bytes((59, 0, 7, 9, 0, 0, 0, 0)), "bad_option_length", 43, 0),
        # An option type with no room for its length byte.
        (60, bytes((59, 0, 1, 3, 0, 0, 0, 0x33)), "bad_option_length", 48, 0),
        # A header whose length runs past the payload.
        (43, bytes((59, 1, 0, 0, 0, 0, 0, 0)), "truncated", 41, 0),
        # Fewer than 8 bytes left for an extension header.
        (44, bytes(4), "truncated", 40, 0),
    ],
)
def test_chain_errors_carry_parameter_problem_pointer(
    nh: int, chain: bytes, reason: str, pointer: int, code: int
) -> None:
    with pytest.raises(HeaderError) as exc:
        ipv6.parse(_with_chain(nh, chain))
    assert (exc.value.reason, exc.value.pointer, exc.value.code) == (reason, pointer, code)
    assert isinstance(exc.value, Malformed)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b[:39], "truncated"),
        (lambda b: b"\x40" + b[1:], "bad_version"),
        (lambda b: b[:4] + b"\x00\x06" + b[6:], "truncated"),
    ],
)
def test_malformed_fixed_header(mutate, reason: str) -> None:
    with pytest.raises(Malformed) as exc:
        ipv6.parse(mutate(ipv6.emit(PKT)))
    assert exc.value.reason == reason


def test_quoted_datagram_may_be_cut_short() -> None:
    raw = ipv6.emit(Ipv6Packet(SRC, DST, 17, bytes(range(100))))
    quoted = ipv6.parse_quoted(raw[:48])
    assert quoted.payload == bytes(range(8)) and quoted.proto == 17


def test_pseudo_header_sum_matches_the_rfc8200_layout() -> None:
    # RFC 8200 §8.1: source, destination, 32-bit upper-layer length, 3 zero bytes, next header.
    layout = (
        ipv6.ip6_to_bytes(SRC) + ipv6.ip6_to_bytes(DST) + (1000).to_bytes(4, "big") + b"\0\0\0\x06"
    )
    assert internet_checksum(b"", ipv6.pseudo_sum6(SRC, DST, 6, 1000)) == internet_checksum(layout)


@pytest.mark.parametrize(
    "bad",
    [
        {"payload": bytes(70000)},
        {"hop_limit": 256},
        {"flow_label": 1 << 20},
        {"traffic_class": 256},
        {"src": "198.18.0.1"},
        {"headers": (DestinationOptions((Ipv6Option(7, b"abc"),)),)},
        {"headers": (DestinationOptions((PadN(6),)), HopByHopOptions((PadN(6),)))},
        {"headers": (FragmentHeader(0, False, 1), DestinationOptions())},
        {"headers": (FragmentHeader(3, False, 1),)},
        {"headers": (RoutingHeader(0, 0, b"abc"),)},
        {"headers": (DestinationOptions((Ipv6Option(1, b"xxxx"),)),)},
    ],
)
def test_emit_misuse_raises_value_error(bad: dict) -> None:
    fields = {"src": SRC, "dst": DST, "proto": 59, "payload": b""} | bad
    with pytest.raises(ValueError):
        ipv6.emit(Ipv6Packet(**fields))


def test_check_fragment_applies_rfc8200_4_5() -> None:
    def frag(offset: int, more: bool, size: int, before: tuple = ()) -> Ipv6Packet:
        headers = (*before, FragmentHeader(offset, more, 1))
        return ipv6.parse(ipv6.emit(Ipv6Packet(SRC, DST, 17, bytes(size), headers=headers)))

    ipv6.check_fragment(frag(1448, True, 1448))
    ipv6.check_fragment(frag(65528, False, 7))
    ipv6.check_fragment(PKT)  # not a fragment
    # M set and not a multiple of 8 bytes: pointer at the Payload Length field.
    with pytest.raises(HeaderError) as exc:
        ipv6.check_fragment(frag(0, True, 1447))
    assert (exc.value.reason, exc.value.pointer, exc.value.code) == ("bad_fragment_length", 4, 0)
    # Reassembling past 65535 bytes: pointer at the Fragment Offset field.
    with pytest.raises(HeaderError) as exc:
        ipv6.check_fragment(frag(65528, False, 8))
    assert (exc.value.reason, exc.value.pointer) == ("bad_fragment_offset", 42)
    # The unfragmentable part counts: 8 bytes of Destination Options move both.
    dst_opts = DestinationOptions((PadN(6),))
    ipv6.check_fragment(frag(65520, False, 7))
    with pytest.raises(HeaderError) as exc:
        ipv6.check_fragment(frag(65520, False, 8, (dst_opts,)))
    assert exc.value.pointer == 50


def test_offsets_give_parameter_problem_pointers() -> None:
    hbh = HopByHopOptions((ROUTER_ALERT, PadN(2)))
    dst_opts = DestinationOptions((ipv6.PAD1, Ipv6Option(0x9E, b"abc")))
    rh = RoutingHeader(253, 1, bytes(4))
    pkt = Ipv6Packet(SRC, DST, 59, b"", headers=(hbh, dst_opts, rh))
    assert ipv6.header_offsets(pkt) == (40, 48, 56)
    assert ipv6.option_offsets(dst_opts) == (2, 3)
    raw = ipv6.emit(pkt)
    assert raw[48 + 3] == 0x9E  # the unrecognized option a code 2 points at
    assert raw[56 + 2] == 253  # the routing type an unknown-type error points at (§4.4)
