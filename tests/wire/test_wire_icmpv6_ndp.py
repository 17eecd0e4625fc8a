"""ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861 §4) codecs."""

from __future__ import annotations

import pytest

from pystack.wire import Malformed, icmpv6, ipv6, ndp
from pystack.wire.icmpv6 import Icmpv6Message
from pystack.wire.ipv6 import HeaderError, Ipv6Packet

SRC, DST = "fe80::1", "fe80::2"
MAC = "02:00:00:00:00:01"


def test_echo_round_trip() -> None:
    request = icmpv6.echo_request(0x1234, 7, b"ping")
    raw = icmpv6.emit(request, SRC, DST)
    parsed = icmpv6.parse(raw, SRC, DST)
    assert parsed == request and (parsed.ident, parsed.seq) == (0x1234, 7)
    reply = icmpv6.echo_reply(parsed)
    assert reply.type == icmpv6.TYPE_ECHO_REPLY and reply.rest == request.rest
    assert not reply.is_error


def test_checksum_covers_the_pseudo_header() -> None:
    # RFC 4443 §2.3: the same message from another address has another checksum.
    raw = icmpv6.emit(icmpv6.echo_request(1, 1), SRC, DST)
    assert icmpv6.checksum_ok(raw, SRC, DST)
    assert not icmpv6.checksum_ok(raw, SRC, "fe80::3")
    with pytest.raises(Malformed) as exc:
        icmpv6.parse(raw, "fe80::3", DST)
    assert exc.value.reason == "bad_checksum"


def test_errors_are_types_below_128_and_quote_the_datagram() -> None:
    original = ipv6.emit(Ipv6Packet(DST, SRC, ipv6.NH_UDP, bytes(2000)))
    quoted = icmpv6.quote(original)
    unreachable = icmpv6.dest_unreachable(icmpv6.CODE_PORT_UNREACHABLE, quoted)
    raw = icmpv6.emit(unreachable, SRC, DST)
    # RFC 4443 §2.4(c): the error, with its own IPv6 header, fits in the minimum MTU.
    assert 40 + len(raw) == ipv6.MIN_MTU
    parsed = icmpv6.parse(raw, SRC, DST)
    assert parsed.is_error and parsed.code == 4
    assert (parsed.quoted.src, parsed.quoted.proto) == (DST, ipv6.NH_UDP)


def test_packet_too_big_time_exceeded_parameter_problem_fields() -> None:
    too_big = icmpv6.parse(icmpv6.emit(icmpv6.packet_too_big(1280, b""), SRC, DST), SRC, DST)
    assert (too_big.type, too_big.mtu) == (2, 1280)
    exceeded = icmpv6.time_exceeded(icmpv6.CODE_FRAGMENT_TIME_EXCEEDED, b"")
    assert icmpv6.parse(icmpv6.emit(exceeded, SRC, DST), SRC, DST).code == 1
    problem = icmpv6.parameter_problem(ipv6.PP_UNKNOWN_OPTION, 42, b"")
    parsed = icmpv6.parse(icmpv6.emit(problem, SRC, DST), SRC, DST)
    assert (parsed.type, parsed.code, parsed.pointer) == (4, 2, 42)


def test_header_error_gives_the_parameter_problem_to_send() -> None:
    # An option type 0x80 (discard + ICMP) is fine to parse; a bad length is not.
    bad = ipv6.emit(Ipv6Packet(DST, SRC, 0, b"\x3b\x00\x80\x09" + bytes(4)))
    with pytest.raises(HeaderError) as exc:
        ipv6.parse(bad)
    msg = icmpv6.parameter_problem(exc.value.code, exc.value.pointer, icmpv6.quote(bad))
    assert (msg.code, msg.pointer) == (ipv6.PP_BAD_FIELD, 43)


def test_short_message_is_truncated() -> None:
    with pytest.raises(Malformed) as exc:
        icmpv6.parse(b"\x80\x00\x00\x00", SRC, DST)
    assert exc.value.reason == "truncated"


def test_neighbor_solicitation_layout() -> None:
    ns = ndp.NeighborSolicitation("fe80::2", (ndp.SourceLinkAddress(MAC),))
    raw = ndp.emit(ns, SRC, "ff02::1:ff00:2")
    assert raw[0] == 135 and raw[1] == 0 and raw[4:8] == bytes(4)
    assert raw[8:24] == ipv6.ip6_to_bytes("fe80::2")
    assert raw[24:32] == bytes.fromhex("0101020000000001")  # type 1, 1 unit, the MAC
    assert ndp.parse(raw, SRC, "ff02::1:ff00:2") == ns


def test_neighbor_advertisement_flags() -> None:
    na = ndp.NeighborAdvertisement("fe80::1", router=True, solicited=False, override=True)
    raw = ndp.emit(na, SRC, DST)
    assert raw[4] == 0xA0  # R and O set, S clear
    assert ndp.parse(raw, SRC, DST) == na


def test_router_advertisement_with_prefix_and_mtu() -> None:
    prefix = ndp.PrefixInformation(64, 0xC0, 2592000, 604800, "2001:db8:1::")
    ra = ndp.RouterAdvertisement(64, 0x80, 1800, 30000, 1000, (prefix, ndp.Mtu(1500)))
    parsed = ndp.parse(ndp.emit(ra, SRC, "ff02::1"), SRC, "ff02::1")
    assert parsed == ra
    assert isinstance(parsed, ndp.RouterAdvertisement) and parsed.managed and not parsed.other
    assert prefix.on_link and prefix.autonomous


def test_redirect_carries_the_redirected_header() -> None:
    start = ipv6.emit(Ipv6Packet(SRC, "2001:db8::5", 17, bytes(8)))
    redirect = ndp.Redirect("fe80::9", "2001:db8::5", (ndp.RedirectedHeader(start),))
    parsed = ndp.parse(ndp.emit(redirect, "fe80::9", SRC), "fe80::9", SRC)
    assert parsed == redirect
    header = parsed.options[0]
    assert isinstance(header, ndp.RedirectedHeader)
    assert ipv6.parse(header.data).dst == "2001:db8::5"


def test_redirect_to_the_destination_itself_is_accepted() -> None:
    # RFC 4861 §8.1: a target equal to the destination says the destination is on-link.
    redirect = ndp.Redirect("2001:db8::5", "2001:db8::5")
    assert ndp.parse(ndp.emit(redirect, "fe80::9", SRC), "fe80::9", SRC) == redirect


def test_unmodelled_options_are_kept() -> None:
    # A 14-byte link-layer address (not Ethernet) and an unknown type stay raw.
    options = (ndp.UnknownNdOption(1, bytes(14)), ndp.UnknownNdOption(31, bytes(6)))
    rs = ndp.RouterSolicitation(options)
    assert ndp.parse(ndp.emit(rs, SRC, "ff02::2"), SRC, "ff02::2") == rs


def _nd(type_: int, body: bytes, code: int = 0) -> bytes:
    return icmpv6.emit(Icmpv6Message(type_, code, 0, body), SRC, DST)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # RFC 4861 §4.6: a zero-length option MUST make the packet be discarded.
        (_nd(133, b"\x01\x00" + bytes(6)), "bad_option_length"),
        (_nd(133, b"\x01\x02" + bytes(6)), "bad_option_length"),
        (_nd(133, b"\x01"), "bad_option_length"),
        # RFC 4861 §6.1.1, §7.1.1: the ICMP code MUST be 0.
        (_nd(135, bytes(16), code=1), "bad_code"),
        (_nd(136, bytes(15)), "truncated"),
        (_nd(137, bytes(16)), "truncated"),
        (_nd(128, b""), "not_nd"),
        # RFC 4861 §7.1.1, §7.1.2: the target is not a multicast address.
        (_nd(135, ipv6.ip6_to_bytes("ff02::1")), "multicast_target"),
        (_nd(136, ipv6.ip6_to_bytes("ff02::1:ff00:1")), "multicast_target"),
        # RFC 4861 §8.1: no multicast destination; the target is link-local or the destination.
        (
            _nd(137, ipv6.ip6_to_bytes("fe80::1") + ipv6.ip6_to_bytes("ff05::2")),
            "multicast_destination",
        ),
        (
            _nd(137, ipv6.ip6_to_bytes("2001:db8::1") + ipv6.ip6_to_bytes("2001:db8::2")),
            "bad_redirect_target",
        ),
    ],
)
def test_malformed_nd(raw: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as exc:
        ndp.parse(raw, SRC, DST)
    assert exc.value.reason == reason


@pytest.mark.parametrize(
    "bad",
    [
        ndp.RouterSolicitation((ndp.SourceLinkAddress("02:00"),)),
        ndp.RouterSolicitation((ndp.RedirectedHeader(bytes(5)),)),
        ndp.RouterSolicitation((ndp.UnknownNdOption(9, bytes(5)),)),
        ndp.RouterSolicitation((ndp.Mtu(-1),)),
        ndp.RouterAdvertisement(router_lifetime=70000),
        ndp.NeighborSolicitation("198.18.0.1"),
    ],
)
def test_emit_misuse_raises_value_error(bad: ndp.NdMessage) -> None:
    with pytest.raises(ValueError):
        ndp.emit(bad, SRC, DST)
