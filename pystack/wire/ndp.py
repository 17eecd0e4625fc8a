"""Neighbor Discovery messages and options (RFC 4861 §4).

The five messages are ICMPv6 types 133-137. :func:`from_icmpv6` reads one out of an
:class:`~pystack.wire.icmpv6.Icmpv6Message` and :func:`to_icmpv6` builds one;
:func:`parse` and :func:`emit` do the same from and to the ICMPv6 bytes, checksum
included. Options (RFC 4861 §4.6) are reprs in wire order; an option this module does not
model, or a link-layer address that is not 6 bytes (Ethernet), is kept as
:class:`UnknownNdOption`. The checks of RFC 4861 §6.1, §7.1 and §8.1 that need only the
message (code 0, lengths, no zero-length option, no multicast target) raise
:class:`Malformed`; those that need the IP header (hop limit 255, source address, the
Solicited flag of a multicast advertisement) are the IP layer's. :func:`emit` checks none of
them, so that tests can send what a receiver must drop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pystack.wire import Malformed
from pystack.wire._addr import mac_to_bytes, mac_to_str
from pystack.wire.icmpv6 import Icmpv6Message
from pystack.wire.icmpv6 import emit as emit_icmpv6
from pystack.wire.icmpv6 import parse as parse_icmpv6
from pystack.wire.ipv6 import ip6_to_bytes, ip6_to_str

__all__ = [
    "OPT_MTU",
    "OPT_PREFIX_INFORMATION",
    "OPT_REDIRECTED_HEADER",
    "OPT_SOURCE_LINK_ADDRESS",
    "OPT_TARGET_LINK_ADDRESS",
    "TYPE_NEIGHBOR_ADVERTISEMENT",
    "TYPE_NEIGHBOR_SOLICITATION",
    "TYPE_REDIRECT",
    "TYPE_ROUTER_ADVERTISEMENT",
    "TYPE_ROUTER_SOLICITATION",
    "Mtu",
    "NdMessage",
    "NdOption",
    "NeighborAdvertisement",
    "NeighborSolicitation",
    "PrefixInformation",
    "Redirect",
    "RedirectedHeader",
    "RouterAdvertisement",
    "RouterSolicitation",
    "SourceLinkAddress",
    "TargetLinkAddress",
    "UnknownNdOption",
    "emit",
    "emit_options",
    "from_icmpv6",
    "parse",
    "parse_options",
    "to_icmpv6",
]

TYPE_ROUTER_SOLICITATION = 133
TYPE_ROUTER_ADVERTISEMENT = 134
TYPE_NEIGHBOR_SOLICITATION = 135
TYPE_NEIGHBOR_ADVERTISEMENT = 136
TYPE_REDIRECT = 137
OPT_SOURCE_LINK_ADDRESS = 1
OPT_TARGET_LINK_ADDRESS = 2
OPT_PREFIX_INFORMATION = 3
OPT_REDIRECTED_HEADER = 4
OPT_MTU = 5

_PREFIX = struct.Struct("!BBII4x16s")
_MTU = struct.Struct("!2xI")


# --- options (RFC 4861 §4.6) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceLinkAddress:
    """Source Link-Layer Address (type 1, §4.6.1): an Ethernet MAC as a colon string."""

    mac: str
    kind = OPT_SOURCE_LINK_ADDRESS

    def body(self) -> bytes:
        return mac_to_bytes(self.mac)


@dataclass(frozen=True, slots=True)
class TargetLinkAddress:
    """Target Link-Layer Address (type 2, §4.6.1): an Ethernet MAC as a colon string."""

    mac: str
    kind = OPT_TARGET_LINK_ADDRESS

    def body(self) -> bytes:
        return mac_to_bytes(self.mac)


@dataclass(frozen=True, slots=True)
class PrefixInformation:
    """Prefix Information (type 3, §4.6.2); lifetimes in seconds, 0xFFFFFFFF is infinity.

    ``flags`` is the whole flags byte: L (on-link) 0x80, A (autonomous) 0x40.
    """

    prefix_length: int
    flags: int
    valid_lifetime: int
    preferred_lifetime: int
    prefix: str
    kind = OPT_PREFIX_INFORMATION

    @property
    def on_link(self) -> bool:
        """The L flag: the prefix can be used for on-link determination."""
        return bool(self.flags & 0x80)

    @property
    def autonomous(self) -> bool:
        """The A flag: the prefix can be used for address autoconfiguration (RFC 4862)."""
        return bool(self.flags & 0x40)

    def body(self) -> bytes:
        try:
            return _PREFIX.pack(
                self.prefix_length, self.flags, self.valid_lifetime,
                self.preferred_lifetime, ip6_to_bytes(self.prefix),
            )  # fmt: skip
        except struct.error as exc:
            raise ValueError(f"bad PrefixInformation field: {exc}") from None


@dataclass(frozen=True, slots=True)
class RedirectedHeader:
    """Redirected Header (type 4, §4.6.3): the start of the redirected packet.

    ``data`` is a multiple of 8 bytes (the option has no length of its own for it).
    """

    data: bytes
    kind = OPT_REDIRECTED_HEADER

    def body(self) -> bytes:
        if len(self.data) % 8:
            raise ValueError(f"redirected header of {len(self.data)} bytes: need 8n bytes")
        return bytes(6) + self.data


@dataclass(frozen=True, slots=True)
class Mtu:
    """MTU (type 5, §4.6.4): the link MTU a router advertises."""

    mtu: int
    kind = OPT_MTU

    def body(self) -> bytes:
        try:
            return _MTU.pack(self.mtu)
        except struct.error as exc:
            raise ValueError(f"bad MTU option: {exc}") from None


@dataclass(frozen=True, slots=True)
class UnknownNdOption:
    """Any other option (RFC 4861 §4.6: ignored, kept here): ``data`` after the length."""

    kind: int
    data: bytes

    def body(self) -> bytes:
        if (len(self.data) + 2) % 8 or not 0 <= self.kind <= 255:
            raise ValueError(f"option {self.kind} of {len(self.data)} bytes: need 8n - 2")
        return self.data


NdOption = (
    SourceLinkAddress | TargetLinkAddress | PrefixInformation | RedirectedHeader | Mtu
    | UnknownNdOption
)  # fmt: skip


def _option_from(kind: int, body: bytes) -> NdOption:
    size = len(body)
    if kind == OPT_SOURCE_LINK_ADDRESS and size == 6:
        return SourceLinkAddress(mac_to_str(body))
    if kind == OPT_TARGET_LINK_ADDRESS and size == 6:
        return TargetLinkAddress(mac_to_str(body))
    if kind == OPT_PREFIX_INFORMATION and size == 30:
        plen, flags, valid, preferred, prefix = _PREFIX.unpack(body)
        return PrefixInformation(plen, flags, valid, preferred, ip6_to_str(prefix))
    if kind == OPT_REDIRECTED_HEADER:
        return RedirectedHeader(body[6:])
    if kind == OPT_MTU and size == 6:
        return Mtu(_MTU.unpack(body)[0])
    return UnknownNdOption(kind, body)


def parse_options(raw: bytes) -> tuple[NdOption, ...]:
    """The options in ``raw`` (the bytes after a message's fixed part).

    Raises :class:`Malformed` "bad_option_length" for a zero length (RFC 4861 §4.6: such a
    packet MUST be discarded) or an option running past the end.
    """
    out: list[NdOption] = []
    i, end = 0, len(raw)
    while i < end:
        if i + 2 > end:
            raise Malformed("bad_option_length", f"{end - i} bytes left at {i}")
        size = raw[i + 1] << 3
        if size == 0 or i + size > end:
            raise Malformed("bad_option_length", f"option {raw[i]} of {size} bytes at {i}")
        out.append(_option_from(raw[i], raw[i + 2 : i + size]))
        i += size
    return tuple(out)


def emit_options(options: tuple[NdOption, ...]) -> bytes:
    """The options' encoding (each a multiple of 8 bytes, RFC 4861 §4.6)."""
    parts = []
    for opt in options:
        body = opt.body()
        units = (len(body) + 2) >> 3
        if units > 255:
            raise ValueError(f"option {opt.kind} of {len(body) + 2} bytes exceeds 2040")
        parts.append(bytes((opt.kind, units)) + body)
    return b"".join(parts)


# --- messages (RFC 4861 §4.1-§4.5) -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouterSolicitation:
    """Router Solicitation (type 133, §4.1)."""

    options: tuple[NdOption, ...] = ()
    type = TYPE_ROUTER_SOLICITATION


@dataclass(frozen=True, slots=True)
class RouterAdvertisement:
    """Router Advertisement (type 134, §4.2); times in seconds (lifetime) and ms.

    ``flags`` is the whole flags byte: M (managed) 0x80, O (other config) 0x40.
    """

    cur_hop_limit: int = 0
    flags: int = 0
    router_lifetime: int = 0
    reachable_time: int = 0
    retrans_timer: int = 0
    options: tuple[NdOption, ...] = ()
    type = TYPE_ROUTER_ADVERTISEMENT

    @property
    def managed(self) -> bool:
        """The M flag: addresses are available through DHCPv6."""
        return bool(self.flags & 0x80)

    @property
    def other(self) -> bool:
        """The O flag: other configuration is available through DHCPv6."""
        return bool(self.flags & 0x40)


@dataclass(frozen=True, slots=True)
class NeighborSolicitation:
    """Neighbor Solicitation (type 135, §4.3)."""

    target: str
    options: tuple[NdOption, ...] = ()
    type = TYPE_NEIGHBOR_SOLICITATION


@dataclass(frozen=True, slots=True)
class NeighborAdvertisement:
    """Neighbor Advertisement (type 136, §4.4) with its R, S and O flags."""

    target: str
    router: bool = False
    solicited: bool = False
    override: bool = False
    options: tuple[NdOption, ...] = ()
    type = TYPE_NEIGHBOR_ADVERTISEMENT


@dataclass(frozen=True, slots=True)
class Redirect:
    """Redirect (type 137, §4.5): ``target`` is the better first hop for ``destination``."""

    target: str
    destination: str
    options: tuple[NdOption, ...] = ()
    type = TYPE_REDIRECT


NdMessage = (
    RouterSolicitation | RouterAdvertisement | NeighborSolicitation | NeighborAdvertisement
    | Redirect
)  # fmt: skip
_NA_R, _NA_S, _NA_O = 1 << 31, 1 << 30, 1 << 29
# The bytes each message has after the ICMPv6 header, before its options.
_FIXED = {133: 0, 134: 8, 135: 16, 136: 16, 137: 32}


def from_icmpv6(msg: Icmpv6Message) -> NdMessage:
    """The Neighbor Discovery message ``msg`` carries.

    Raises :class:`Malformed`: "not_nd" (another type), "bad_code" (RFC 4861 §6.1.1,
    §7.1.1: the code MUST be 0), "truncated", "bad_option_length", "multicast_target"
    (§7.1.1, §7.1.2), "multicast_destination" and "bad_redirect_target" (§8.1).
    """
    fixed = _FIXED.get(msg.type)
    if fixed is None:
        raise Malformed("not_nd", f"ICMPv6 type {msg.type}")
    if msg.code != 0:
        raise Malformed("bad_code", f"code {msg.code}")
    body = msg.payload
    if len(body) < fixed:
        raise Malformed("truncated", f"{len(body)} bytes after the header, need {fixed}")
    options = parse_options(body[fixed:])
    rest = msg.rest
    if msg.type == TYPE_ROUTER_SOLICITATION:
        return RouterSolicitation(options)
    if msg.type == TYPE_ROUTER_ADVERTISEMENT:
        reachable, retrans = struct.unpack_from("!II", body)
        return RouterAdvertisement(
            rest >> 24, (rest >> 16) & 0xFF, rest & 0xFFFF, reachable, retrans, options
        )
    if msg.type == TYPE_REDIRECT:
        return _redirect(body, options)
    if body[0] == 0xFF:  # §7.1.1, §7.1.2: the Target Address is not a multicast address
        raise Malformed("multicast_target", ip6_to_str(body[:16]))
    target = ip6_to_str(body[:16])
    if msg.type == TYPE_NEIGHBOR_SOLICITATION:
        return NeighborSolicitation(target, options)
    return NeighborAdvertisement(
        target, bool(rest & _NA_R), bool(rest & _NA_S), bool(rest & _NA_O), options
    )


def _redirect(body: bytes, options: tuple[NdOption, ...]) -> Redirect:
    # RFC 4861 §8.1: the Destination Address is not multicast, and the Target Address is
    # link-local (a better router) or the destination itself (it is on-link).
    if body[16] == 0xFF:
        raise Malformed("multicast_destination", ip6_to_str(body[16:32]))
    if not _is_link_local(body[:16]) and body[:16] != body[16:32]:
        raise Malformed("bad_redirect_target", ip6_to_str(body[:16]))
    return Redirect(ip6_to_str(body[:16]), ip6_to_str(body[16:32]), options)


def _is_link_local(raw: bytes) -> bool:
    return raw[0] == 0xFE and raw[1] & 0xC0 == 0x80  # fe80::/10 (RFC 4291 §2.5.6)


def to_icmpv6(msg: NdMessage) -> Icmpv6Message:
    """The ICMPv6 message (code 0, reserved fields zero) that carries ``msg``."""
    options = emit_options(msg.options)
    rest = 0
    if isinstance(msg, RouterSolicitation):
        fixed = b""
    elif isinstance(msg, RouterAdvertisement):
        if not (
            0 <= msg.cur_hop_limit <= 255 and 0 <= msg.flags <= 255
            and 0 <= msg.router_lifetime <= 0xFFFF
        ):  # fmt: skip
            raise ValueError(f"bad RouterAdvertisement: {msg}")
        rest = (msg.cur_hop_limit << 24) | (msg.flags << 16) | msg.router_lifetime
        try:
            fixed = struct.pack("!II", msg.reachable_time, msg.retrans_timer)
        except struct.error as exc:
            raise ValueError(f"bad RouterAdvertisement field: {exc}") from None
    elif isinstance(msg, NeighborSolicitation):
        fixed = ip6_to_bytes(msg.target)
    elif isinstance(msg, NeighborAdvertisement):
        rest = _NA_R * msg.router | _NA_S * msg.solicited | _NA_O * msg.override
        fixed = ip6_to_bytes(msg.target)
    else:
        fixed = ip6_to_bytes(msg.target) + ip6_to_bytes(msg.destination)
    return Icmpv6Message(msg.type, 0, rest, fixed + options)


def parse(data: bytes, src: str, dst: str) -> NdMessage:
    """Parse the ICMPv6 bytes of a Neighbor Discovery message, checksum verified."""
    return from_icmpv6(parse_icmpv6(data, src, dst))


def emit(msg: NdMessage, src: str, dst: str) -> bytes:
    """Serialize as ICMPv6, checksum computed over the pseudo-header of ``src``/``dst``."""
    return emit_icmpv6(to_icmpv6(msg), src, dst)
