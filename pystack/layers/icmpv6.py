"""ICMPv6 (RFC 4443) and the Neighbor Discovery messages a host must answer (RFC 4861).

Echo requests are answered and echo replies matched to :meth:`ICMPv6Protocol.ping`.
Errors received go to the protocol of the quoted datagram through the IPv6 layer, as
``icmp_error_received(kind, code, quoted)`` with IPv4's kinds and codes where one exists
(port unreachable is code 3, as in ICMPv4), so transports handle both families alike.
Errors are sent on request of the other layers except where RFC 4443 §2.4(e) forbids it,
and rate limited (§2.4(f)) by the ICMP layer's token buckets.

Neighbor Discovery: a solicitation for one of our addresses is answered with an
advertisement (§7.2.4), and both messages teach the Neighbor Cache (§7.2.3, §7.2.5); a
message is taken only with Hop Limit 255 (§7.1: it cannot come from off-link). Router
Advertisements that pass §6.1.2 go to the IPv6 layer's router discovery; solicitations
and advertisements for a tentative address are duplicate address detection's (RFC 4862
§5.4.3, §5.4.4). Redirects are counted and ignored.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from typing import Any, cast

from twisted.internet.defer import Deferred

from pystack.layers.echo import EchoRequests
from pystack.layers.icmp import IcmpRateLimit, IcmpRateLimiter
from pystack.layers.ip_meta import IpMeta
from pystack.layers.layer import Layer
from pystack.layers.ndp import solicited_node_multicast
from pystack.wire import Malformed, ipv6, mld
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ndp as nd
from pystack.wire.icmpv6 import Icmpv6Message
from pystack.wire.ipv6 import Ipv6Packet

ND_HOP_LIMIT = 255
ALL_ROUTERS = "ff02::2"
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")
ERROR_KINDS = {
    icmp6.TYPE_DEST_UNREACHABLE: "unreachable",
    icmp6.TYPE_PACKET_TOO_BIG: "packet_too_big",
    icmp6.TYPE_TIME_EXCEEDED: "time_exceeded",
    icmp6.TYPE_PARAMETER_PROBLEM: "parameter_problem",
}
# Destination Unreachable codes as the transports know them from ICMPv4 (RFC 792):
# no route -> net, administratively prohibited -> communication prohibited (RFC 1812),
# beyond scope -> net, address -> host, port -> port.
_V4_UNREACH_CODES = {0: 0, 1: 13, 2: 0, 3: 1, 4: 3, 5: 13, 6: 13}
# RFC 4443 §2.4(f): Linux's net.ipv6.icmp ratelimit (1 s per destination) over the errors
# except Packet Too Big, which PMTU discovery needs.
ICMPV6_RATE_LIMIT = IcmpRateLimit(ratemask=frozenset({1, 3, 4}))


class Icmp6Drop(enum.Enum):
    """Why the ICMPv6 layer dropped a message (counted under "ICMPv6")."""

    TRUNCATED = "truncated"
    BAD_CHECKSUM = "bad_checksum"
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    UNMATCHED_REPLY = "unmatched_reply"
    BAD_QUOTE = "bad_quote"
    ND_HOP_LIMIT = "nd_hop_limit"
    ND_INVALID = "nd_invalid"
    ND_NOT_OUR_TARGET = "nd_not_our_target"
    ND_UNSUPPORTED = "nd_unsupported"
    RA_BAD_SOURCE = "ra_bad_source"
    RA_IGNORED = "ra_ignored"
    MLD_INVALID = "mld_invalid"
    PTB_BELOW_MINIMUM = "ptb_below_minimum"


class ICMPv6Protocol(Layer):
    """The ICMPv6 layer, above `IPv6Protocol`."""

    name = "ICMPv6"
    fast = True

    def __init__(
        self, *, echo_server: bool = True, rate_limit: IcmpRateLimit | None = None
    ) -> None:
        super().__init__()
        self.echo_server = echo_server
        self.rate_limit = rate_limit or ICMPV6_RATE_LIMIT
        self._limiter: IcmpRateLimiter | None = None
        self.echoes = EchoRequests(self)
        self.handlers = {
            icmp6.TYPE_ECHO_REQUEST: self._on_rcv_echo_request,
            icmp6.TYPE_ECHO_REPLY: self._on_rcv_echo_reply,
            nd.TYPE_NEIGHBOR_SOLICITATION: self._on_rcv_nd,
            nd.TYPE_NEIGHBOR_ADVERTISEMENT: self._on_rcv_nd,
            nd.TYPE_ROUTER_SOLICITATION: self._on_rcv_nd,
            nd.TYPE_ROUTER_ADVERTISEMENT: self._on_rcv_nd,
            nd.TYPE_REDIRECT: self._on_rcv_nd,
            mld.TYPE_QUERY: self._on_rcv_mld_query,
            **{t: self._on_rcv_error for t in ERROR_KINDS},
        }

    @property
    def ip6(self) -> Any:
        return self.lowerLayers["default"]

    @property
    def limiter(self) -> IcmpRateLimiter:
        if self._limiter is None or self._limiter.config is not self.rate_limit:
            self._limiter = IcmpRateLimiter(self.rate_limit, self.clock)
        return self._limiter

    # -- receiving ------------------------------------------------------------------------

    def datagram_received(self, data: bytes, meta: IpMeta) -> None:
        """An ICMPv6 message from IPv6: checksum (RFC 4443 §2.3), then by type; an unknown
        informational type is silently discarded (§2.4(b))."""
        try:
            msg = icmp6.parse(data, meta.src, meta.dst)
        except Malformed as exc:
            reason = Icmp6Drop.__members__.get(exc.reason.upper(), Icmp6Drop.MALFORMED)
            self.stats.drop(self.name, reason)
            return
        handler = self.handlers.get(msg.type)
        if handler is None:
            # RFC 4443 §2.4(a): an unknown error type goes up to the upper layer; with no
            # kind for it here, it is counted like an unknown informational type.
            self.stats.drop(self.name, Icmp6Drop.UNKNOWN_TYPE)
            return
        self.stats.incr(self.name, "messages_received")
        handler(msg, meta)

    def _on_rcv_echo_request(self, msg: Icmpv6Message, meta: IpMeta) -> None:
        if not self.echo_server:
            return
        # RFC 4443 §4.2: the reply goes to the request's source, from the address it was
        # sent to (a unicast one of ours for a multicast request), with its data.
        src = meta.dst if not meta.dst.startswith("ff") else self.ip6.source_for(meta.src)
        if not self.limiter.allow(icmp6.TYPE_ECHO_REPLY, 0, meta.src):
            self.stats.incr(self.name, "echo_replies_rate_limited")
            return
        self.stats.incr(self.name, "echo_replies_sent")
        self._send(icmp6.echo_reply(msg), dst=meta.src, src=src)

    def _on_rcv_echo_reply(self, msg: Icmpv6Message, meta: IpMeta) -> None:
        if not self.echoes.answered(msg.ident, msg.seq):
            self.stats.drop(self.name, Icmp6Drop.UNMATCHED_REPLY)

    def _on_rcv_error(self, msg: Icmpv6Message, meta: IpMeta) -> None:
        try:
            quoted = msg.quoted
        except Malformed:
            self.stats.drop(self.name, Icmp6Drop.BAD_QUOTE)
            return
        if not self.ip6.is_ours(quoted.src):
            self.stats.drop(self.name, Icmp6Drop.BAD_QUOTE)  # not about anything we sent
            return
        if msg.type == icmp6.TYPE_PACKET_TOO_BIG and not self._take_packet_too_big(msg, quoted):
            return
        self.stats.incr(self.name, "errors_received")
        kind, code = ERROR_KINDS[msg.type], msg.code
        if msg.type == icmp6.TYPE_DEST_UNREACHABLE:
            code = _V4_UNREACH_CODES.get(code, 0)
        elif msg.type == icmp6.TYPE_PARAMETER_PROBLEM and code == ipv6.PP_UNKNOWN_NEXT_HEADER:
            kind, code = "unreachable", 2  # as ICMPv4's protocol unreachable
        # RFC 4443 §3: the error goes to the upper-layer process that sent the datagram.
        self.ip6.deliver_icmp_error(kind, code, quoted)

    def _take_packet_too_big(self, msg: Icmpv6Message, quoted: Ipv6Packet) -> bool:
        """RFC 8201 §4: a Packet Too Big below the IPv6 minimum link MTU MUST be discarded;
        else the quoted destination's path MTU goes down (never up, §4). The quote was
        checked to be of a datagram from one of our addresses (§5.2: the transport checks
        its own fields)."""
        if msg.mtu < ipv6.MIN_MTU:
            self.stats.drop(self.name, Icmp6Drop.PTB_BELOW_MINIMUM)
            return False
        self.ip6.packet_too_big(quoted.dst, msg.mtu)
        return True

    def icmp_error_received(self, kind: str, code: int, quoted: Any) -> None:
        """An error about one of our echo requests: fail that ping at once."""
        if len(quoted.payload) < 8:
            return
        type_, _, _, ident, seq = struct.unpack_from("!BBHHH", quoted.payload)
        if type_ == 128:  # about one of our echo requests
            self.echoes.failed(ident, seq, quoted.dst, kind, code)

    # -- Neighbor Discovery (RFC 4861) --------------------------------------------------

    def _on_rcv_nd(self, msg: Icmpv6Message, meta: IpMeta) -> None:
        # RFC 4861 §7.1.1, §7.1.2 (and §6.1, §8.1): Hop Limit 255, or off-link.
        if meta.ttl != ND_HOP_LIMIT:
            self.stats.drop(self.name, Icmp6Drop.ND_HOP_LIMIT)
            return
        try:
            message = nd.from_icmpv6(msg)
        except Malformed:
            self.stats.drop(self.name, Icmp6Drop.ND_INVALID)
            return
        if isinstance(message, nd.NeighborSolicitation):
            self._on_rcv_ns(message, meta)
        elif isinstance(message, nd.NeighborAdvertisement):
            self._on_rcv_na(message, meta)
        elif isinstance(message, nd.RouterAdvertisement):
            self._on_rcv_ra(message, meta)
        else:
            self.stats.drop(self.name, Icmp6Drop.ND_UNSUPPORTED)

    def _on_rcv_ns(self, ns: nd.NeighborSolicitation, meta: IpMeta) -> None:
        slla = _option(ns.options, nd.SourceLinkAddress)
        if meta.src == "::" and (
            slla is not None or not meta.dst.startswith("ff02::1:ff")
        ):  # RFC 4861 §7.1.1: from ::, to a solicited-node group and without SLLA
            self.stats.drop(self.name, Icmp6Drop.ND_INVALID)
            return
        if self.ip6.autoconf.is_tentative(ns.target):
            self._on_rcv_ns_for_tentative(ns, meta)
            return
        if not self.ip6.is_ours(ns.target):
            self.stats.drop(self.name, Icmp6Drop.ND_NOT_OUR_TARGET)  # §7.2.3: silently
            return
        self.stats.incr(self.name, "solicitations_received")
        cache = self.ip6.neighbors
        cache.rcv_ns(meta.src, slla)
        # RFC 4861 §7.2.4: Solicited set when answering a unicast source, Override set (we
        # are not an anycast address), Target Link-Layer Address included; to all-nodes
        # when the source was unspecified.
        solicited = meta.src != "::"
        dst = meta.src if solicited else "ff02::1"
        na = nd.NeighborAdvertisement(ns.target, False, solicited, True,
                                      (nd.TargetLinkAddress(self._mac()),))  # fmt: skip
        self.stats.incr(self.name, "advertisements_sent")
        self._send_nd(na, src=ns.target, dst=dst, lladdr=slla)

    def _on_rcv_na(self, na: nd.NeighborAdvertisement, meta: IpMeta) -> None:
        if meta.dst.startswith("ff") and na.solicited:
            self.stats.drop(self.name, Icmp6Drop.ND_INVALID)  # RFC 4861 §7.1.2
            return
        if self.ip6.autoconf.is_tentative(na.target):
            # RFC 4862 §5.4.4: an NA for a tentative address: it is a duplicate.
            self.ip6.autoconf.duplicate(na.target, f"advertised by {meta.src}")
            return
        if self.ip6.is_ours(na.target):
            # RFC 4862 §5.4.4: after DAD, another node claiming our address is only
            # counted (§5.4.5 leaves the reaction to the administrator).
            self.stats.incr(self.name, "advertisements_for_our_address")
            return
        self.stats.incr(self.name, "advertisements_received")
        tlla = _option(na.options, nd.TargetLinkAddress)
        self.ip6.neighbors.rcv_na(na.target, tlla, solicited=na.solicited,
                                  override=na.override, is_router=na.router)  # fmt: skip

    def _on_rcv_ns_for_tentative(self, ns: nd.NeighborSolicitation, meta: IpMeta) -> None:
        """RFC 4862 §5.4.3: an NS from :: for a tentative address is another node's DAD
        for it (a duplicate); from a unicast source it is silently discarded (we must not
        answer for an address we do not hold yet)."""
        if meta.src == "::":
            self.ip6.autoconf.duplicate(ns.target, "another node is detecting it")
        else:
            self.stats.drop(self.name, Icmp6Drop.ND_NOT_OUR_TARGET)

    def _on_rcv_ra(self, ra: nd.RouterAdvertisement, meta: IpMeta) -> None:
        """RFC 4861 §6.1.2: an RA MUST come from a link-local address (hop limit 255, code
        0 and option lengths were checked above); a host takes it unless ``accept_ra``."""
        if not _is_link_local(meta.src):
            self.stats.drop(self.name, Icmp6Drop.RA_BAD_SOURCE)
            return
        if not self.ip6.routers.accept_ra:
            self.stats.drop(self.name, Icmp6Drop.RA_IGNORED)
            return
        self.ip6.routers.rcv_ra(ra, meta.src)

    def _on_rcv_mld_query(self, msg: Icmpv6Message, meta: IpMeta) -> None:
        """RFC 3810 §5.1.14: a Query from a link-local source with Hop Limit 1 is
        answered (by the IPv6 layer's MLD host, §6.2); others are dropped."""
        if meta.ttl != 1 or not _is_link_local(meta.src):
            self.stats.drop(self.name, Icmp6Drop.MLD_INVALID)
            return
        try:
            query = mld.parse_query(msg)
        except Malformed:
            self.stats.drop(self.name, Icmp6Drop.MLD_INVALID)
            return
        self.ip6.mld.rcv_query(query)

    def send_router_solicitation(self, src: str) -> None:
        """A Router Solicitation to all-routers (RFC 4861 §6.3.7), with our Source
        Link-Layer Address unless the source is :: (§4.1: it MUST NOT be included then)."""
        options = () if src == "::" else (nd.SourceLinkAddress(self._mac()),)
        self._send_nd(nd.RouterSolicitation(options), src=src, dst=ALL_ROUTERS, lladdr=None)

    def send_dad_solicitation(self, target: str) -> None:
        """RFC 4862 §5.4.2: an NS from :: to the target's solicited-node group, without a
        Source Link-Layer Address option."""
        ns = nd.NeighborSolicitation(target)
        self._send_nd(ns, src="::", dst=solicited_node_multicast(target), lladdr=None)

    def send_solicitation(self, target: str, dst: str, lladdr: str | None) -> None:
        """A Neighbor Solicitation for ``target`` to ``dst`` (RFC 4861 §7.2.2), with our
        Source Link-Layer Address; unicast to ``lladdr`` when it is given (a probe)."""
        ns = nd.NeighborSolicitation(target, (nd.SourceLinkAddress(self._mac()),))
        self.stats.incr(self.name, "solicitations_sent")
        self._send_nd(ns, src=self.ip6.source_for(target), dst=dst, lladdr=lladdr)

    def _send_nd(self, msg: Any, *, src: str, dst: str, lladdr: str | None) -> None:
        """Send a Neighbor Discovery message with Hop Limit 255 (RFC 4861 §7.1); straight
        to ``lladdr`` when known, else through the IPv6 layer's next-hop resolution."""
        data = nd.emit(msg, src, dst)
        pkt = Ipv6Packet(src, dst, ipv6.NH_ICMPV6, data, hop_limit=ND_HOP_LIMIT)
        if lladdr is not None and not dst.startswith("ff"):
            self.ip6.transmit(lladdr, ipv6.emit(pkt))
            return
        self.ip6.send_datagram(pkt)

    def _mac(self) -> str:
        return self._context().mac or ""

    # -- sending errors -------------------------------------------------------------------

    def may_send_error(
        self, type_: int, offending: Ipv6Packet | bytes, link: Any, to_multicast: bool
    ) -> bool:
        """RFC 4443 §2.4(e): never about an ICMPv6 error or a redirect, nor about a
        datagram to a multicast address or in a link-layer multicast or broadcast frame
        (except Packet Too Big and Parameter Problem code 2 with ``to_multicast``), nor
        to a source that is not a unicast address."""
        raw = offending if isinstance(offending, bytes) else ipv6.emit(offending)
        src, dst = ipv6.ip6_to_str(raw[8:24]), ipv6.ip6_to_str(raw[24:40])
        if _is_icmp_error(offending):
            return False
        allowed = type_ == icmp6.TYPE_PACKET_TOO_BIG or to_multicast
        if not allowed and (dst.startswith("ff") or _link_multicast(link)):
            return False
        return not (src == "::" or src.startswith("ff"))

    def send_error(
        self, type_: int, code: int, offending: Ipv6Packet | bytes, *, link: Any = None,
        rest: int = 0, to_multicast: bool = False,
    ) -> bool:  # fmt: skip
        """Send an error about ``offending`` unless RFC 4443 §2.4(e) forbids it or the
        rate limit (§2.4(f)) holds it back; True if sent."""
        raw = offending if isinstance(offending, bytes) else ipv6.emit(offending)
        if not self.may_send_error(type_, offending, link, to_multicast):
            self.stats.incr(self.name, "errors_suppressed")
            return False
        src = ipv6.ip6_to_str(raw[8:24])
        if not self.limiter.allow(type_, code, src):
            self.stats.incr(self.name, "errors_rate_limited")
            return False
        dst = ipv6.ip6_to_str(raw[24:40])
        ours = dst if self.ip6.is_ours(dst) else self.ip6.source_for(src)
        self.stats.incr(self.name, "errors_sent")
        # RFC 4443 §2.4(c): as much of the datagram as fits in the minimum MTU.
        self._send(Icmpv6Message(type_, code, rest, icmp6.quote(raw)), dst=src, src=ours)
        return True

    # -- echo client ----------------------------------------------------------------------

    def ping(self, dst: str, timeout: float = 1.0, data: bytes = b"") -> Deferred[float]:
        """Send one Echo Request; the Deferred fires with the RTT in seconds, or fails with
        :class:`TimeoutError` (or OSError on an ICMPv6 error)."""
        key, deferred = self.echoes.new(dst, timeout)
        self.stats.incr(self.name, "echo_requests_sent")
        self._send(icmp6.echo_request(key[0], key[1], data), dst=dst)
        return deferred

    def _send(self, msg: Icmpv6Message, *, dst: str, src: str | None = None) -> None:
        src = src or self.ip6.source_for(dst)
        self.ip6.send_payload(icmp6.emit(msg, src, dst), dst=dst, src=src, proto=ipv6.NH_ICMPV6)


def _option(options: tuple[Any, ...], cls: type) -> str | None:
    """The MAC of the first ``cls`` link-layer address option, or None."""
    for option in options:
        if type(option) is cls:
            return str(cast(Any, option).mac)
    return None


def _is_link_local(address: str) -> bool:
    return ipaddress.IPv6Address(address) in _LINK_LOCAL


def _is_icmp_error(offending: Ipv6Packet | bytes) -> bool:
    """Whether the datagram carries an ICMPv6 error or a Redirect (RFC 4443 §2.4(e))."""
    if isinstance(offending, bytes):
        raw = offending
        try:
            offending = ipv6.parse_quoted(raw)
        except Malformed:
            return len(raw) > 40 and raw[6] == ipv6.NH_ICMPV6
    frag = offending.fragment
    if offending.proto != ipv6.NH_ICMPV6 or (frag is not None and frag.offset):
        return False  # a later fragment does not show its type: eligible, as in Linux
    payload = offending.payload
    return not payload or payload[0] < 128 or payload[0] == nd.TYPE_REDIRECT


def _link_multicast(link: Any) -> bool:
    """True for a frame sent to a link-layer multicast or broadcast address."""
    if link is None:
        return False
    link = getattr(link, "repr", None) or link
    dst = link.get("dst") if isinstance(link, dict) else getattr(link, "dst", None)
    return isinstance(dst, str) and int(dst[:2], 16) & 1 == 1


__all__ = ["ICMPV6_RATE_LIMIT", "ICMPv6Protocol", "Icmp6Drop"]
