"""IPv6 datagrams (RFC 8200 §3) and their extension headers (RFC 8200 §4).

:func:`parse` reads the fixed header and walks the extension-header chain up to the
upper-layer header: :attr:`Ipv6Packet.headers` holds the extension headers in wire order,
:attr:`Ipv6Packet.proto` the upper-layer protocol and ``payload`` its bytes. The chain
stops after a Fragment header: what follows is fragment data, read again once reassembled
(:func:`parse_chain`). The Next Header fields are implied by that order, so a repr cannot
name a header that is not there. Errors inside the chain raise :class:`HeaderError`, a
:class:`Malformed` that carries the ICMPv6 Parameter Problem code and pointer (RFC 4443
§3.4) the IP layer answers with. Jumbograms (RFC 2675) are not supported.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pystack.wire import Malformed
from pystack.wire._fast import fast_init, twin_of

__all__ = [
    "HEADER_LEN",
    "MIN_MTU",
    "NH_DSTOPTS",
    "NH_FRAGMENT",
    "NH_HOPOPTS",
    "NH_ICMPV6",
    "NH_NONE",
    "NH_ROUTING",
    "NH_TCP",
    "NH_UDP",
    "OPT_PAD1",
    "OPT_PADN",
    "PAD1",
    "PP_BAD_FIELD",
    "PP_UNKNOWN_NEXT_HEADER",
    "PP_UNKNOWN_OPTION",
    "DestinationOptions",
    "ExtensionHeader",
    "FragmentHeader",
    "HeaderError",
    "HopByHopOptions",
    "Ipv6Option",
    "Ipv6Packet",
    "Option",
    "OptionAction",
    "Pad1",
    "PadN",
    "RoutingHeader",
    "check_fragment",
    "emit",
    "header_offsets",
    "ip6_to_bytes",
    "ip6_to_str",
    "option_offsets",
    "pad_options",
    "parse",
    "parse_chain",
    "parse_quoted",
    "pseudo_sum6",
]

HEADER_LEN = 40
MIN_MTU = 1280  # RFC 8200 §5
NH_HOPOPTS = 0
NH_TCP = 6
NH_UDP = 17
NH_ROUTING = 43
NH_FRAGMENT = 44
NH_ICMPV6 = 58
NH_NONE = 59
NH_DSTOPTS = 60
OPT_PAD1 = 0
OPT_PADN = 1
# ICMPv6 Parameter Problem codes (RFC 4443 §3.4).
PP_BAD_FIELD = 0
PP_UNKNOWN_NEXT_HEADER = 1
PP_UNKNOWN_OPTION = 2
MAX_PAYLOAD = 0xFFFF

_HDR = struct.Struct("!IHBB16s16s")
_unpack_from = struct.Struct("!IHBB").unpack_from
_pack = _HDR.pack
_FRAG = struct.Struct("!BxHI")
_AF_INET6 = socket.AF_INET6
_ntop = socket.inet_ntop
_pton = socket.inet_pton
_from_bytes = int.from_bytes
_CACHE_MAX = 4096
_ip6_str: dict[bytes, str] = {}
_ip6_bytes: dict[str, bytes] = {}
_pairs6: dict[bytes, tuple[str, str]] = {}
_pseudo6: dict[tuple[str, str], int] = {}


class HeaderError(Malformed):
    """A malformed extension-header chain.

    ``pointer`` is the offset from the start of the IPv6 header of the field in error and
    ``code`` the ICMPv6 Parameter Problem code to report it with (RFC 8200 §4, RFC 4443
    §3.4), when the IP layer decides to report it.
    """

    def __init__(self, reason: str, pointer: int, code: int = PP_BAD_FIELD) -> None:
        super().__init__(reason, f"at byte {pointer}")
        self.pointer = pointer
        self.code = code


# --- addresses ----------------------------------------------------------------------


def ip6_to_str(raw: bytes) -> str:
    """Sixteen packed bytes as RFC 5952 text (``"2001:db8::1"``), memoised."""
    text = _ip6_str.get(raw)
    if text is None:
        if len(_ip6_str) >= _CACHE_MAX:
            _ip6_str.clear()  # bounded: random source addresses cannot grow it
        text = _ip6_str[raw] = _ntop(_AF_INET6, raw)
    return text


def _pair_to_str(raw: bytes) -> tuple[str, str]:
    """32 packed bytes (source then destination, as in the header) as two texts."""
    pair = _pairs6.get(raw)
    if pair is None:
        if len(_pairs6) >= _CACHE_MAX:
            _pairs6.clear()
        pair = _pairs6[raw] = (ip6_to_str(raw[:16]), ip6_to_str(raw[16:]))
    return pair


def ip6_to_bytes(ip: str) -> bytes:
    """Pack an IPv6 address given as text; a clear ``ValueError`` otherwise."""
    raw = _ip6_bytes.get(ip)
    if raw is None:
        try:
            raw = _pton(_AF_INET6, ip)
        except (OSError, TypeError):
            raise ValueError(f"not an IPv6 address: {ip!r}") from None
        if len(_ip6_bytes) >= _CACHE_MAX:
            _ip6_bytes.clear()
        _ip6_bytes[ip] = raw
    return raw


def pseudo_sum6(src: str, dst: str, next_header: int, length: int) -> int:
    """The partial sum of the upper-layer pseudo-header (RFC 8200 §8.1).

    Source and destination address, the 32-bit upper-layer length and the next header
    value; pass it as ``initial`` to :func:`pystack.wire.checksum.internet_checksum`.
    ``dst`` is the final destination (the last address of a Routing header).
    """
    pair = _pseudo6.get((src, dst))
    if pair is None:
        # A 128-bit address is congruent to the sum of its 16-bit words mod 0xFFFF.
        pair = _from_bytes(ip6_to_bytes(src), "big") + _from_bytes(ip6_to_bytes(dst), "big")
        if len(_pseudo6) >= _CACHE_MAX:
            _pseudo6.clear()
        _pseudo6[(src, dst)] = pair
    return pair + length + next_header


# --- options (Hop-by-Hop and Destination Options headers, RFC 8200 §4.2) -------------


class OptionAction(IntEnum):
    """What a node does with an option type it does not recognize (RFC 8200 §4.2).

    The two high-order bits of the option type say it, so that a node that knows nothing
    else of the option still knows this.
    """

    SKIP = 0  # skip over the option and go on processing the header
    DISCARD = 1  # discard the packet silently
    DISCARD_ICMP = 2  # discard, send Parameter Problem code 2 to the source
    DISCARD_ICMP_UNICAST = 3  # the same, unless the destination was multicast


@dataclass(frozen=True, slots=True)
class Pad1:
    """One byte of padding: the only option without length and data (RFC 8200 §4.2)."""

    type = OPT_PAD1

    @property
    def action(self) -> OptionAction:
        """Always SKIP: a padding option is understood by every node."""
        return OptionAction.SKIP

    def to_bytes(self) -> bytes:
        return b"\x00"


@dataclass(frozen=True, slots=True)
class PadN:
    """``size`` bytes of padding (2 or more, type and length included).

    Its data is zero when sent; received contents are not kept (RFC 8200 §4.2).
    """

    size: int
    type = OPT_PADN

    @property
    def action(self) -> OptionAction:
        """Always SKIP: a padding option is understood by every node."""
        return OptionAction.SKIP

    def to_bytes(self) -> bytes:
        if not 2 <= self.size <= 257:
            raise ValueError(f"PadN covers 2..257 bytes, not {self.size}")
        return bytes((OPT_PADN, self.size - 2)) + bytes(self.size - 2)


@dataclass(frozen=True, slots=True)
class Ipv6Option:
    """Any other option: its ``type`` byte and its ``data`` (at most 255 bytes)."""

    type: int
    data: bytes = b""

    @property
    def action(self) -> OptionAction:
        """The action for this type when unrecognized: its two high-order bits (§4.2)."""
        return OptionAction(self.type >> 6)

    @property
    def may_change(self) -> bool:
        """The third-highest bit: the data may change en route (excluded from AH, §4.2)."""
        return bool(self.type & 0x20)

    def to_bytes(self) -> bytes:
        if self.type in (OPT_PAD1, OPT_PADN) or not 0 <= self.type <= 255:
            raise ValueError(f"option type {self.type}: use Pad1/PadN, or a byte above 1")
        if len(self.data) > 255:
            raise ValueError(f"option data of {len(self.data)} bytes exceeds 255")
        return bytes((self.type, len(self.data))) + self.data


Option = Pad1 | PadN | Ipv6Option
PAD1 = Pad1()


def pad_options(options: tuple[Option, ...] | list[Option]) -> tuple[Option, ...]:
    """``options`` followed by the Pad1 or PadN that makes their header a multiple of 8."""
    used = 2 + sum(len(o.to_bytes()) for o in options)
    gap = -used % 8
    if gap == 0:
        return tuple(options)
    return (*options, PAD1 if gap == 1 else PadN(gap))


def _parse_options(raw: bytes, base: int) -> tuple[Option, ...]:
    """The TLVs of an options header's body; ``base`` is its offset in the datagram."""
    out: list[Option] = []
    i, end = 0, len(raw)
    while i < end:
        kind = raw[i]
        if kind == OPT_PAD1:
            out.append(PAD1)
            i += 1
            continue
        if i + 2 > end or i + 2 + raw[i + 1] > end:
            raise HeaderError("bad_option_length", base + i + 1)
        size = raw[i + 1]
        if kind == OPT_PADN:
            out.append(PadN(size + 2))
        else:
            out.append(Ipv6Option(kind, raw[i + 2 : i + 2 + size]))
        i += 2 + size
    return tuple(out)


# --- extension headers ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HopByHopOptions:
    """Hop-by-Hop Options header (RFC 8200 §4.3): examined by every node on the path."""

    options: tuple[Option, ...] = ()
    kind = NH_HOPOPTS

    def body(self) -> bytes:
        return _options_body(self.options)


@dataclass(frozen=True, slots=True)
class DestinationOptions:
    """Destination Options header (RFC 8200 §4.6): examined by the destination(s) only."""

    options: tuple[Option, ...] = ()
    kind = NH_DSTOPTS

    def body(self) -> bytes:
        return _options_body(self.options)


def _options_body(options: tuple[Option, ...]) -> bytes:
    body = b"".join(o.to_bytes() for o in options)
    if (len(body) + 2) % 8 or len(body) + 2 > 2048:
        raise ValueError(f"options of {len(body)} bytes do not fill 8-byte units: pad_options")
    return body


@dataclass(frozen=True, slots=True)
class RoutingHeader:
    """Routing header (RFC 8200 §4.4); ``data`` is the type-specific part after byte 4.

    Type 0 is deprecated (RFC 5095 §3): a node treats it as an unrecognized type, which
    :attr:`deprecated` flags.
    """

    routing_type: int
    segments_left: int
    data: bytes = bytes(4)
    kind = NH_ROUTING

    @property
    def deprecated(self) -> bool:
        """True for the type 0 header that RFC 5095 §3 deprecates."""
        return self.routing_type == 0

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses of a type 0 or 2 header (after its 4 reserved bytes)."""
        raw = self.data[4:]
        return tuple(ip6_to_str(raw[i : i + 16]) for i in range(0, len(raw) - 15, 16))

    def body(self) -> bytes:
        if (len(self.data) + 4) % 8 or len(self.data) + 4 > 2048:
            raise ValueError(f"routing data of {len(self.data)} bytes: need 8n + 4 bytes")
        return bytes((self.routing_type, self.segments_left)) + self.data


@dataclass(frozen=True, slots=True)
class FragmentHeader:
    """Fragment header (RFC 8200 §4.5); ``offset`` in bytes (a multiple of 8)."""

    offset: int
    more: bool
    ident: int
    kind = NH_FRAGMENT

    def body(self) -> bytes:
        if self.offset & 7 or not 0 <= self.offset <= 0xFFF8:
            raise ValueError(f"fragment offset must be a multiple of 8 in 0..65528: {self.offset}")
        if not 0 <= self.ident <= 0xFFFFFFFF:
            raise ValueError(f"fragment identification out of range: {self.ident}")
        return struct.pack("!xHI", self.offset | self.more, self.ident)


ExtensionHeader = HopByHopOptions | DestinationOptions | RoutingHeader | FragmentHeader
_CHAIN = frozenset({NH_HOPOPTS, NH_ROUTING, NH_FRAGMENT, NH_DSTOPTS})


# --- the datagram ---------------------------------------------------------------------


@fast_init
@dataclass(frozen=True, slots=True)
class Ipv6Packet:
    """An IPv6 datagram.

    ``proto`` is the upper-layer protocol (the Next Header of the last extension header),
    ``payload`` its bytes, ``headers`` the extension headers in wire order.
    """

    src: str
    dst: str
    proto: int
    payload: bytes
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0
    headers: tuple[ExtensionHeader, ...] = ()

    @property
    def next_header(self) -> int:
        """The fixed header's Next Header field."""
        return self.headers[0].kind if self.headers else self.proto

    @property
    def fragment(self) -> FragmentHeader | None:
        """The Fragment header, if any."""
        last = self.headers[-1] if self.headers else None
        return last if isinstance(last, FragmentHeader) else None

    @property
    def is_fragment(self) -> bool:
        """True for a fragment of a larger datagram (RFC 8200 §4.5; an atomic fragment, with
        offset 0 and M clear, is not: RFC 6946 §4)."""
        frag = self.fragment
        return frag is not None and (frag.more or frag.offset != 0)


_Twin: Any = twin_of(Ipv6Packet)
_new = object.__new__


def parse(data: bytes) -> Ipv6Packet:
    """Parse a datagram: fixed header, payload length, then the extension-header chain.

    Bytes past the payload length (link padding) are cut. Raises :class:`Malformed`
    ("truncated", "bad_version") or :class:`HeaderError` for the chain.
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    size = len(data)
    if size < HEADER_LEN:
        raise Malformed("truncated", f"{size} bytes, need {HEADER_LEN}")
    vtf, plen, nh, hop_limit = _unpack_from(data)
    if vtf >> 28 != 6:
        raise Malformed("bad_version", f"version {vtf >> 28}")
    end = HEADER_LEN + plen
    if size < end:
        raise Malformed("truncated", f"{size} bytes, payload length {plen}")
    pkt = _new(_Twin)  # see pystack.wire._fast: frozen once __class__ is set
    if nh in _CHAIN:
        pkt.headers, pkt.proto, pkt.payload = parse_chain(nh, data[HEADER_LEN:end])
    else:
        pkt.headers, pkt.proto, pkt.payload = (), nh, data[HEADER_LEN:end]
    pkt.src, pkt.dst = _pairs6.get(data[8:40]) or _pair_to_str(data[8:40])
    pkt.hop_limit = hop_limit
    pkt.traffic_class = (vtf >> 20) & 0xFF
    pkt.flow_label = vtf & 0xFFFFF
    pkt.__class__ = Ipv6Packet
    return pkt


def parse_chain(
    next_header: int, data: bytes, base: int = HEADER_LEN
) -> tuple[tuple[ExtensionHeader, ...], int, bytes]:
    """Walk the extension headers in ``data`` starting with type ``next_header``.

    Returns ``(headers, upper-layer protocol, upper-layer bytes)``; it stops after a
    Fragment header. ``base`` is the offset of ``data`` in the datagram, for pointers.
    """
    headers: list[ExtensionHeader] = []
    offset, end = 0, len(data)
    nh_field = 6  # where the Next Header value being followed sits, for pointers
    while next_header in _CHAIN:
        if next_header == NH_HOPOPTS and headers:
            # RFC 8200 §4.1: Hop-by-Hop only right after the IPv6 header.
            raise HeaderError("misplaced_hop_by_hop", nh_field, PP_UNKNOWN_NEXT_HEADER)
        if offset + 8 > end:
            raise HeaderError("truncated", base + offset)
        nh_field = base + offset
        if next_header == NH_FRAGMENT:
            nxt, off_m, ident = _FRAG.unpack_from(data, offset)
            headers.append(FragmentHeader(off_m & 0xFFF8, bool(off_m & 1), ident))
            return tuple(headers), nxt, data[offset + 8 :]
        nxt = data[offset]
        size = (data[offset + 1] + 1) << 3
        if offset + size > end:
            raise HeaderError("truncated", base + offset + 1)
        if next_header == NH_ROUTING:
            body = data[offset + 4 : offset + size]
            headers.append(RoutingHeader(data[offset + 2], data[offset + 3], body))
        else:
            options = _parse_options(data[offset + 2 : offset + size], base + offset + 2)
            cls = HopByHopOptions if next_header == NH_HOPOPTS else DestinationOptions
            headers.append(cls(options))
        offset += size
        next_header = nxt
    return tuple(headers), next_header, data[offset:]


def parse_quoted(data: bytes) -> Ipv6Packet:
    """Parse the datagram quoted in an ICMPv6 error: it may be cut short (RFC 4443 §2.4(c)).

    The payload length is not required to fit; the payload is whatever was quoted.
    """
    if len(data) >= HEADER_LEN and _from_bytes(data[4:6], "big") > len(data) - HEADER_LEN:
        data = data[:4] + (len(data) - HEADER_LEN).to_bytes(2, "big") + data[6:]
    return parse(data)


def _header_size(header: ExtensionHeader) -> int:
    return 8 if type(header) is FragmentHeader else 2 + len(header.body())


def header_offsets(pkt: Ipv6Packet) -> tuple[int, ...]:
    """Where each extension header starts, counted from the start of the IPv6 header.

    Parameter Problem pointers (RFC 4443 §3.4) are such offsets: a routing type the node
    does not know is reported at its header's offset + 2 (RFC 8200 §4.4).
    """
    offsets: list[int] = []
    at = HEADER_LEN
    for header in pkt.headers:
        offsets.append(at)
        at += _header_size(header)
    return tuple(offsets)


def option_offsets(header: HopByHopOptions | DestinationOptions) -> tuple[int, ...]:
    """Where each option starts, counted from the start of its header.

    Added to the header's offset it is the pointer of a Parameter Problem code 2 about
    an unrecognized option (RFC 8200 §4.2, RFC 4443 §3.4).
    """
    offsets: list[int] = []
    at = 2
    for option in header.options:
        offsets.append(at)
        at += len(option.to_bytes())
    return tuple(offsets)


def check_fragment(pkt: Ipv6Packet) -> None:
    """Raise :class:`HeaderError` for a fragment that RFC 8200 §4.5 says to discard.

    A fragment with M set must carry a multiple of 8 bytes (pointer: the Payload Length
    field), and no fragment may reassemble past 65535 bytes of payload (pointer: its
    Fragment Offset field). Both are reported with Parameter Problem code 0.
    """
    frag = pkt.fragment
    if frag is None:
        return
    if frag.more and len(pkt.payload) & 7:
        raise HeaderError("bad_fragment_length", 4)
    frag_at = header_offsets(pkt)[-1]
    unfragmentable = frag_at - HEADER_LEN
    if unfragmentable + frag.offset + len(pkt.payload) > MAX_PAYLOAD:
        raise HeaderError("bad_fragment_offset", frag_at + 2)


def _emit_chain(pkt: Ipv6Packet) -> bytes:
    parts: list[bytes] = []
    headers = pkt.headers
    for i, header in enumerate(headers):
        nxt = headers[i + 1].kind if i + 1 < len(headers) else pkt.proto
        if type(header) is FragmentHeader and i + 1 < len(headers):
            raise ValueError("a Fragment header must be the last extension header here")
        if type(header) is HopByHopOptions and i:
            raise ValueError("Hop-by-Hop Options must come first (RFC 8200 §4.1)")
        body = header.body()
        if type(header) is FragmentHeader:
            parts.append(bytes((nxt,)) + body)
        else:
            parts.append(bytes((nxt, (len(body) + 2) // 8 - 1)) + body)
    return b"".join(parts)


def emit(pkt: Ipv6Packet) -> bytes:
    """Serialize with the payload length and every Next Header field filled in."""
    payload = _emit_chain(pkt) + pkt.payload if pkt.headers else pkt.payload
    plen = len(payload)
    if plen > MAX_PAYLOAD:
        raise ValueError(f"payload of {plen} bytes exceeds 65535: fragment it")
    if not 0 <= pkt.traffic_class <= 0xFF or not 0 <= pkt.flow_label <= 0xFFFFF:
        raise ValueError(f"bad traffic class/flow label: {pkt.traffic_class}/{pkt.flow_label}")
    vtf = 0x60000000 | (pkt.traffic_class << 20) | pkt.flow_label
    try:
        header = _pack(
            vtf, plen, pkt.next_header, pkt.hop_limit, ip6_to_bytes(pkt.src), ip6_to_bytes(pkt.dst)
        )
    except struct.error as exc:
        raise ValueError(f"bad Ipv6Packet field: {exc}") from None
    return header + payload
