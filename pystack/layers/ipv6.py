"""IPv6 (RFC 8200): validation, extension headers, reassembly, fragmentation, next hops.

The layer sits on Ethernet beside IPv4 (EtherType 0x86DD, RFC 2464) and hands the
transports the same frozen `IpMeta` as IPv4 does (``ttl`` is the Hop Limit, ``tos`` the
Traffic Class). Its addresses are a link-local one derived from the MAC (modified EUI-64,
RFC 4291 §2.5.6 and Appendix A) and those given to the stack (``ip6="2001:db8::2/64"``);
it joins the all-nodes group and each address's solicited-node group (RFC 4291 §2.8).
Next hops are resolved by a :class:`~pystack.layers.ndp.NeighborCache`, for which this
layer is the :class:`~pystack.layers.ndp.NeighborHost`. Destinations outside our prefixes
go to a default router learned from Router Advertisements
(:mod:`pystack.layers.autoconf`); without one they are dropped as ``no_route``. Every new
address is tentative until Duplicate Address Detection passes (RFC 4862 §5.4), and
prefixes an RA marks autonomous give addresses of their own (SLAAC, RFC 4862 §5.5).

Fragments go through the same declared reassembly machine as IPv4's
(:mod:`pystack.layers.ip_reassembly`), always with a policy that discards a datagram with
overlapping fragments (RFC 5722 §4). Extension headers are processed in order (RFC 8200
§4): an option this layer does not know is handled by the two high bits of its type
(§4.2), a Routing header with Segments Left is refused (type 0 by RFC 5095 §3: this host
does not forward), a Fragment header with offset 0 and M clear is an atomic fragment,
processed at once (RFC 6946 §4).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pystack.layers.autoconf import (
    DUP_ADDR_DETECT_TRANSMITS,
    MAX_RTR_SOLICITATIONS,
    AddressConfig,
    RouterDiscovery,
)
from pystack.layers.ip_meta import IpMeta, meta_of
from pystack.layers.ip_reassembly import OverlapPolicy, Reassembler
from pystack.layers.layer import Layer, as_bytes
from pystack.layers.mld import MldHost
from pystack.layers.ndp import NeighborCache, solicited_node_multicast
from pystack.layers.pmtu import PMTU_TIMEOUT, PathMtuCache
from pystack.links.loopback import loop_back
from pystack.wire import Malformed, ipv6
from pystack.wire import icmpv6 as icmp6
from pystack.wire import tcp as tcp_wire
from pystack.wire.ethernet import ETHERTYPE_IPV6
from pystack.wire.ipv6 import (
    HEADER_LEN,
    DestinationOptions,
    FragmentHeader,
    HeaderError,
    HopByHopOptions,
    Ipv6Option,
    Ipv6Packet,
    OptionAction,
    RoutingHeader,
)

ALL_NODES = "ff02::1"
# The frame header on the loopback link: no addresses to speak of, the IPv6 EtherType.
LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")
_LINK_LOCAL_64 = ipaddress.IPv6Network("fe80::/64")
# Hop-by-Hop options this host understands besides padding: Router Alert (RFC 2711),
# which MLD queries carry; a host has nothing to do with it.
KNOWN_OPTIONS = frozenset({5})


class Ip6Drop(enum.Enum):
    """Why the IPv6 layer dropped a datagram (counted under "IPv6")."""

    TRUNCATED = "truncated"
    BAD_VERSION = "bad_version"
    MALFORMED = "malformed"
    BAD_HEADER = "bad_header"
    NOT_OUR_ADDRESS = "not_our_address"
    BAD_SOURCE = "bad_source"
    UNKNOWN_OPTION = "unknown_option"
    ROUTING_HEADER = "routing_header"
    BAD_FRAGMENT = "bad_fragment"
    UNKNOWN_PROTOCOL = "unknown_protocol"
    NO_NEXT_HEADER = "no_next_header"
    NO_ROUTE = "no_route"
    NO_ADDRESS = "no_address"


@dataclass(frozen=True, slots=True)
class Ipv6Fragment:
    """A fragment as the reassembly machine sees it (the fields of an IPv4 fragment).

    ``proto`` is 0 for every fragment: RFC 8200 §4.5 keys a datagram by its addresses and
    Identification only, and takes the Next Header of fragment 0 alone.
    """

    src: str
    dst: str
    ident: int
    frag_offset: int
    more_fragments: bool
    payload: bytes
    packet: Ipv6Packet
    """The fragment as received (its headers up to the Fragment header)."""
    link: Any = None
    proto: int = 0
    options: bytes = b""


def eui64_link_local(mac: str) -> str:
    """The link-local address of an Ethernet MAC (RFC 4291 Appendix A, RFC 2464 §5)."""
    octets = bytes.fromhex(mac.replace(":", ""))
    iid = bytes((octets[0] ^ 0x02,)) + octets[1:3] + b"\xff\xfe" + octets[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))


def multicast_mac(address: str) -> str:
    """33:33 and the low 32 bits of an IPv6 multicast address (RFC 2464 §7)."""
    low = ipaddress.IPv6Address(address).packed[-4:]
    return "33:33:" + low.hex(":")


def is_multicast(address: str) -> bool:
    return address[:2].lower() == "ff"


class IPv6Protocol(Layer):
    """The IPv6 layer; ``addresses`` are its interface addresses (``IPv6Interface``)."""

    name = "IPv6"
    fast = True
    PROTOCOLS = {ipv6.NH_ICMPV6: "ICMPv6", ipv6.NH_TCP: "TCP", ipv6.NH_UDP: "UDP"}

    def __init__(
        self,
        *,
        hop_limit: int = 64,
        reassembly_timeout: float = 60.0,
        overlap_policy: OverlapPolicy | str = OverlapPolicy.RFC5722,
        reassembly_memory: int = 1 << 20,
        link_local: bool = True,
        dad_transmits: int = DUP_ADDR_DETECT_TRANSMITS,
        router_solicitations: int = MAX_RTR_SOLICITATIONS,
        accept_ra: bool = True,
        slaac: bool = True,
        mld: bool = True,
        pmtu_timeout: float = PMTU_TIMEOUT,
        **neighbor_options: Any,
    ) -> None:
        super().__init__()
        self.auto_link_local = link_local
        """Derive the link-local address from the MAC (False: a stack sharing the host's
        MAC, whose EUI-64 address is the kernel's own)."""
        if not 1 <= hop_limit <= 255:
            raise ValueError("hop_limit must be in 1..255")
        self.hop_limit = hop_limit
        # RFC 8200 §4.5: 60 seconds to reassemble.
        self.reassembly_timeout = reassembly_timeout
        policy = OverlapPolicy(overlap_policy)
        # RFC 5722 §4: overlapping fragments discard the datagram, whatever IPv4 does.
        self.overlap_policy = policy if policy.discards_overlaps else OverlapPolicy.RFC5722
        self.reassembly_memory = reassembly_memory
        self.addresses: list[ipaddress.IPv6Interface] = []
        self._ours: set[str] = set()  # the addresses as text, for the per-datagram check
        self._deprecated: set[str] = set()
        self._awaiting_link: list[ipaddress.IPv6Interface] = []
        self.link_mtu: int | None = None
        """The MTU a Router Advertisement gave (RFC 4861 §6.3.4); None: the link's."""
        self.pmtu = PathMtuCache(pmtu_timeout)
        """Path MTUs learnt from Packet Too Big messages (RFC 8201)."""
        self.autoconf = AddressConfig(self, dad_transmits=dad_transmits, slaac=slaac)
        self.mld = MldHost(self, enabled=mld)
        self.routers = RouterDiscovery(self, solicitations=router_solicitations,
                                       accept_ra=accept_ra)  # fmt: skip
        self.groups: set[str] = set()
        self._neighbor_options = neighbor_options
        self._neighbors: NeighborCache | None = None
        self._reassembler: Reassembler | None = None
        self.on_datagram_out: Callable[[Ipv6Packet], Ipv6Packet] | None = None
        """Hook: sees every datagram this layer originates before it is fragmented and
        returns the one to send. None: sent as built."""

    # -- addresses ------------------------------------------------------------------------

    def adopt_context(self, ctx: Any) -> None:
        super().adopt_context(ctx)
        for group in [ALL_NODES, *self.groups]:  # groups joined before the layer had a link
            self.join(group)
        if self.auto_link_local and ctx.mac and not self._has_link_local():
            self.add_address(f"{eui64_link_local(ctx.mac)}/64")
        waiting, self._awaiting_link = self._awaiting_link, []
        for iface in waiting:
            self.autoconf.start_dad(iface)
        self.routers.start()

    def _has_link_local(self) -> bool:
        known = [*self.addresses, *self.autoconf.tentative.values(), *self._awaiting_link]
        return any(a.ip in LINK_LOCAL for a in known)

    def add_address(self, cidr: str) -> None:
        """Add an address (``"2001:db8::2/64"``; a bare address is a /128). It is
        tentative until Duplicate Address Detection passes (RFC 4862 §5.4: every unicast
        address, however configured), then assigned; ``dad_transmits=0`` assigns at once."""
        iface = ipaddress.IPv6Interface(cidr)
        if iface.ip.is_multicast or iface.ip.is_unspecified or iface.ip.is_loopback:
            raise ValueError(f"{cidr!r} is not a unicast IPv6 address")
        if self.has_address(str(iface.ip)):
            return
        if self.ctx is None:
            self._awaiting_link.append(iface)  # DAD needs a link: it starts on one
            return
        self.autoconf.start_dad(iface)

    def has_address(self, address: str) -> bool:
        """Assigned or tentative."""
        return address in self._ours or self.autoconf.is_tentative(address)

    def assign_address(self, iface: ipaddress.IPv6Interface) -> None:
        """Use ``iface`` from now on (DAD passed or disabled) and take its solicited-node
        group (RFC 4861 §7.2.1)."""
        if iface not in self.addresses:
            self.addresses.append(iface)
            self._ours.add(str(iface.ip))
        self.join_solicited_node(str(iface.ip))

    def remove_address(self, address: str) -> None:
        """Stop using ``address`` (its valid lifetime ended, RFC 4862 §5.5.4)."""
        self.addresses = [a for a in self.addresses if str(a.ip) != address]
        self._ours.discard(address)
        self._deprecated.discard(address)

    def set_deprecated(self, address: str, deprecated: bool) -> None:
        """A deprecated address is not chosen for new communication (RFC 4862 §5.5.4)."""
        if deprecated:
            self._deprecated.add(address)
        else:
            self._deprecated.discard(address)

    def addresses_deprecated(self) -> frozenset[str]:
        """The addresses past their preferred lifetime (RFC 4862 §5.5.4)."""
        return frozenset(self._deprecated)

    def join_solicited_node(self, address: str) -> None:
        self.join(solicited_node_multicast(address))

    @property
    def mac(self) -> str | None:
        return self.ctx.mac if self.ctx is not None else None

    @property
    def max_link_mtu(self) -> int:
        return int(self._context().mtu)

    def join(self, group: str) -> None:
        """Take datagrams to the multicast ``group`` (and its frames, RFC 2464 §7)."""
        group = str(ipaddress.IPv6Address(group))
        self.mld.joined(group)  # RFC 3810 §6.1: a report when listening starts
        self.groups.add(group)
        ether = self._context().layers.get("Ether") if self.ctx is not None else None
        if ether is not None and hasattr(ether, "multicast_macs"):
            ether.multicast_macs.add(multicast_mac(group))

    @property
    def address(self) -> str | None:
        """The first global address, else the link-local one."""
        for iface in self.addresses:
            if iface.ip not in LINK_LOCAL:
                return str(iface.ip)
        return str(self.addresses[0].ip) if self.addresses else None

    @property
    def link_local(self) -> str | None:
        for iface in self.addresses:
            if iface.ip in LINK_LOCAL:
                return str(iface.ip)
        return None

    def is_ours(self, address: str) -> bool:
        return address in self._ours

    def is_local(self, address: str) -> bool:
        """One of our addresses or ::1: delivered inside the host, never sent on the link
        (RFC 4291 §2.5.3)."""
        if address in self._ours or address == "::1":
            return True
        routes = self._context().routes
        return routes is not None and bool(routes.is_local(address))

    def _other_link(self, dst: str) -> Any:
        """The IPv6 layer of the stack's other link the route to ``dst`` goes through."""
        if is_multicast(dst) or self.ctx is None or self.ctx.routes is None:
            return None
        return self.ctx.routes.layer_for(dst, "ipv6", self.ctx)

    def _loop_back(self, datagram: bytes) -> None:
        """A datagram for ourselves (see `pystack.links.loopback.loop_back`)."""
        loop_back(self, ETHERTYPE_IPV6, datagram)

    def on_link(self, address: str) -> bool:
        """In one of our prefixes or the Prefix List (link-local fe80::/64 included,
        RFC 4861 §5.2)."""
        ip = ipaddress.IPv6Address(address)
        return (
            ip in _LINK_LOCAL_64
            or any(ip in a.network for a in self.addresses)
            or self.routers.on_link(ip)
        )

    def source_for(self, dst: str) -> str:
        """The source address for ``dst`` (RFC 6724 §5 in short: same scope first, then
        the longest matching prefix). Raises ValueError without any address."""
        if dst == "::1":
            return dst  # RFC 6724 §5 rule 1 (prefer the same address): ::1 talks to ::1
        other = self._other_link(dst)
        if other is not None:  # RFC 6724 §5 rule 5: an address of the outgoing interface
            return str(other.source_for(dst))
        if not self.addresses:
            if self.autoconf.tentative:
                raise ValueError("this stack's IPv6 addresses are still tentative "
                                 "(duplicate address detection takes about a second)")  # fmt: skip
            raise ValueError("this stack has no IPv6 address: give the stack ip6='...'")
        ip = ipaddress.IPv6Address(dst)
        link_scope = ip in LINK_LOCAL or (ip.is_multicast and ip.packed[1] & 0x0F <= 2)
        # RFC 6724 §5 rule 3: avoid deprecated addresses (RFC 4862 §5.5.4).
        usable = [a for a in self.addresses if str(a.ip) not in self._deprecated]
        candidates = usable or self.addresses
        same = [a for a in candidates if (a.ip in LINK_LOCAL) == link_scope]
        pool = same or candidates
        best = max(pool, key=lambda a: _common_prefix(a.ip, ip))
        return str(best.ip)

    @property
    def neighbors(self) -> NeighborCache:
        """The Neighbor Cache (RFC 4861 §7.3), built on first use."""
        if self._neighbors is None:
            ctx = self._context()
            self._neighbors = NeighborCache(
                self, stats=ctx.stats, rng=ctx.rng, observer=ctx.notify, **self._neighbor_options
            )
        return self._neighbors

    @property
    def reassembler(self) -> Reassembler:
        if self._reassembler is None:
            self._reassembler = Reassembler(
                self.clock,
                deliver=self._deliver_reassembled,
                time_exceeded=self._reassembly_time_exceeded,
                count=lambda reason: self.stats.drop(self.name, reason),
                policy=self.overlap_policy,
                timeout=self.reassembly_timeout,
                memory_limit=self.reassembly_memory,
                observer=self._context().notify,
                rebuild=_rebuild,
                overhead=_overhead,
            )
        return self._reassembler

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """A datagram from the link: parse and validate (RFC 8200 §3, §4), process its
        extension headers, reassemble, then `dispatch` with its `IpMeta`."""
        data = packet if type(packet) is bytes else as_bytes(packet)
        link = kwargs.get("Ether")
        try:
            pkt = ipv6.parse(data)
        except HeaderError as exc:
            self._header_error(data, exc, link)
            return
        except Malformed as exc:
            self.stats.drop(
                self.name, Ip6Drop.__members__.get(exc.reason.upper(), Ip6Drop.MALFORMED)
            )
            return
        if kwargs.get("loopback"):  # from our own loopback link: our addresses only
            verdict = None if self.is_local(pkt.dst) else Ip6Drop.NOT_OUR_ADDRESS
        else:
            verdict = self._address_verdict(pkt.src, pkt.dst)
        if verdict is not None:
            self.stats.drop(self.name, verdict)
            return
        self.stats.incr(self.name, "datagrams_received")
        if not self._process_headers(pkt, pkt.headers, ipv6.header_offsets(pkt), link):
            return
        if pkt.is_fragment:
            self._on_rcv_fragment(pkt, link)
            return
        if pkt.fragment is not None:
            self.stats.incr(self.name, "atomic_fragments")  # RFC 6946 §4: no reassembly
        valid = kwargs.get("checksum_valid", False)  # the link's offloads vouch for it
        self._upper(pkt, link, base=HEADER_LEN + sum(_sizes(pkt.headers)), checksum_valid=valid)

    def _address_verdict(self, src: str, dst: str) -> Ip6Drop | None:
        """RFC 4291 §2.7: a multicast source is never valid; ::1 never on a link
        (§2.5.3); a destination not ours nor a group we joined is not for us; without
        an address of its own the stack takes nothing."""
        if not self._ours and not self.autoconf.tentative:
            return Ip6Drop.NO_ADDRESS
        if is_multicast(src) or src == "::1":
            return Ip6Drop.BAD_SOURCE
        if not (self.is_ours(dst) or dst in self.groups):
            return Ip6Drop.NOT_OUR_ADDRESS
        return None

    def _header_error(self, data: bytes, exc: HeaderError, link: Any) -> None:
        """A malformed extension-header chain: dropped, and Parameter Problem sent to its
        source with the code and pointer the codec found (RFC 8200 §4, RFC 4443 §3.4)."""
        self.stats.drop(self.name, Ip6Drop.BAD_HEADER)
        src, dst = ipv6.ip6_to_str(data[8:24]), ipv6.ip6_to_str(data[24:40])
        if self._address_verdict(src, dst) is None:
            self.send_icmp_error(icmp6.TYPE_PARAMETER_PROBLEM, exc.code, data, link=link,
                                 rest=exc.pointer)  # fmt: skip

    def _process_headers(
        self, pkt: Ipv6Packet, headers: tuple[Any, ...], offsets: tuple[int, ...], link: Any
    ) -> bool:
        """Process each extension header in order (RFC 8200 §4); False when dropped."""
        for header, at in zip(headers, offsets, strict=False):
            if type(header) in (HopByHopOptions, DestinationOptions):
                if not self._process_options(pkt, header, at, link):
                    return False
            elif type(header) is RoutingHeader and header.segments_left:
                # RFC 8200 §4.4: an unrecognized type with Segments Left nonzero is
                # discarded with Parameter Problem code 0 at the Routing Type; RFC 5095 §3
                # makes type 0 unrecognized. This host routes no other type either.
                self.stats.drop(self.name, Ip6Drop.ROUTING_HEADER)
                self.send_icmp_error(icmp6.TYPE_PARAMETER_PROBLEM, ipv6.PP_BAD_FIELD,
                                     pkt, link=link, rest=at + 2)  # fmt: skip
                return False
        return True

    def _process_options(self, pkt: Ipv6Packet, header: Any, at: int, link: Any) -> bool:
        """RFC 8200 §4.2: an unrecognized option is handled by its type's high bits."""
        for option, offset in zip(header.options, ipv6.option_offsets(header), strict=False):
            if type(option) is not Ipv6Option or option.type in KNOWN_OPTIONS:
                continue
            action = option.action
            if action is OptionAction.SKIP:
                continue
            self.stats.drop(self.name, Ip6Drop.UNKNOWN_OPTION)
            if action is OptionAction.DISCARD_ICMP or (
                action is OptionAction.DISCARD_ICMP_UNICAST and not is_multicast(pkt.dst)
            ):
                self.send_icmp_error(icmp6.TYPE_PARAMETER_PROBLEM, ipv6.PP_UNKNOWN_OPTION,
                                     pkt, link=link, rest=at + offset,
                                     to_multicast=action is OptionAction.DISCARD_ICMP)  # fmt: skip
            return False
        return True

    def _on_rcv_fragment(self, pkt: Ipv6Packet, link: Any) -> None:
        try:
            ipv6.check_fragment(pkt)
        except HeaderError as exc:  # RFC 8200 §4.5: discard, Parameter Problem code 0
            self.stats.drop(self.name, Ip6Drop.BAD_FRAGMENT)
            self.send_icmp_error(icmp6.TYPE_PARAMETER_PROBLEM, exc.code, pkt, link=link,
                                 rest=exc.pointer)  # fmt: skip
            return
        self.stats.incr(self.name, "fragments_received")
        frag = pkt.fragment
        assert frag is not None
        self.reassembler.add(
            Ipv6Fragment(
                pkt.src, pkt.dst, frag.ident, frag.offset, frag.more, pkt.payload, pkt, link
            )
        )

    def _deliver_reassembled(self, whole: tuple[Ipv6Packet, Any]) -> None:
        pkt, link = whole
        self.stats.incr(self.name, "datagrams_reassembled")
        self._upper(pkt, link, base=HEADER_LEN + sum(_sizes(pkt.headers)))

    def _reassembly_time_exceeded(self, first: Ipv6Fragment) -> None:
        # RFC 8200 §4.5: Time Exceeded code 1, only when fragment 0 arrived.
        self.send_icmp_error(icmp6.TYPE_TIME_EXCEEDED, icmp6.CODE_FRAGMENT_TIME_EXCEEDED,
                             first.packet, link=first.link)  # fmt: skip

    def _upper(self, pkt: Ipv6Packet, link: Any, base: int, checksum_valid: bool = False) -> None:
        """Headers after a Fragment header (read once whole), then the upper layer."""
        if pkt.proto in (ipv6.NH_HOPOPTS, ipv6.NH_DSTOPTS, ipv6.NH_ROUTING, ipv6.NH_FRAGMENT):
            try:
                more, proto, payload = ipv6.parse_chain(pkt.proto, pkt.payload, base)
            except HeaderError as exc:
                self.stats.drop(self.name, Ip6Drop.BAD_HEADER)
                self.send_icmp_error(icmp6.TYPE_PARAMETER_PROBLEM, exc.code, pkt, link=link,
                                     rest=exc.pointer)  # fmt: skip
                return
            if any(type(h) is FragmentHeader for h in more):
                self.stats.drop(self.name, Ip6Drop.BAD_FRAGMENT)  # nested fragmentation
                return
            offsets = tuple(base + s for s in _starts(more))
            if not self._process_headers(pkt, more, offsets, link):
                return
            pkt = replace(pkt, proto=proto, payload=payload, headers=pkt.headers + more)
        self.dispatch(pkt, meta_of(pkt, link, self._context().interface, checksum_valid))

    def dispatch(self, pkt: Ipv6Packet, meta: IpMeta) -> None:
        """Hand a whole datagram to its upper layer, ``datagram_received(payload, meta)``."""
        if pkt.proto == ipv6.NH_NONE:
            self.stats.drop(self.name, Ip6Drop.NO_NEXT_HEADER)  # RFC 8200 §4.7: ignored
            return
        kind = self.PROTOCOLS.get(pkt.proto)
        target = self.upperLayers.get(kind) if kind else None
        if target is None or not hasattr(target, "datagram_received"):
            self.stats.drop(self.name, Ip6Drop.UNKNOWN_PROTOCOL)
            # RFC 8200 §4: unrecognized Next Header, Parameter Problem code 1 pointing
            # at the field that names it.
            starts = ipv6.header_offsets(pkt)
            pointer = starts[-1] if starts else 6
            self.send_icmp_error(icmp6.TYPE_PARAMETER_PROBLEM, ipv6.PP_UNKNOWN_NEXT_HEADER,
                                 pkt, link=meta.link, rest=pointer)  # fmt: skip
            return
        self.stats.incr(self.name, "datagrams_delivered")
        target.datagram_received(pkt.payload, meta)

    def send_icmp_error(
        self, type_: int, code: int, offending: Ipv6Packet | bytes, *, link: Any = None,
        rest: int = 0, to_multicast: bool = False,
    ) -> None:  # fmt: skip
        """Ask the ICMPv6 layer (if any) for an error about ``offending``."""
        icmp = self.upperLayers.get("ICMPv6")
        if icmp is not None and hasattr(icmp, "send_error"):
            icmp.send_error(type_, code, offending, link=link, rest=rest,
                            to_multicast=to_multicast)  # fmt: skip

    def deliver_icmp_error(self, kind: str, code: int, quoted: Ipv6Packet) -> None:
        """Pass an ICMPv6 error up to the protocol of the quoted datagram (RFC 4443 §3)."""
        kind_name = self.PROTOCOLS.get(quoted.proto)
        target = self.upperLayers.get(kind_name) if kind_name else None
        if target is not None and hasattr(target, "icmp_error_received"):
            target.icmp_error_received(kind, code, quoted)

    # -- sending --------------------------------------------------------------------------

    def send_payload(
        self, payload: bytes, *, dst: str, proto: int, src: str | None = None,
        hop_limit: int | None = None, traffic_class: int | None = None,
        ttl: int | None = None, tos: int | None = None, flow_label: int = 0,
        headers: tuple[Any, ...] = (), gso_size: int = 0, **ignored: Any,
    ) -> None:  # fmt: skip
        """Send ``payload`` of Next Header ``proto`` to ``dst``: the call transports make.

        ``ttl`` and ``tos`` (IPv4's names, which transports pass) stand for the Hop Limit
        and Traffic Class; IPv4-only fields (``df``, ``ident``, ``options``) are ignored.
        ``gso_size`` makes it a TCP super-segment (at most `tso_max` bytes, its TCP
        checksum partial) that the link's device cuts into segments of ``gso_size``
        payload bytes.
        """
        if hop_limit is None:
            hop_limit = ttl if ttl is not None else self.hop_limit
        if traffic_class is None:
            traffic_class = tos or 0
        pkt = Ipv6Packet(src or self.source_for(dst), dst, proto, payload,
                         hop_limit=hop_limit, traffic_class=traffic_class,
                         flow_label=flow_label, headers=headers)  # fmt: skip
        if self.on_datagram_out is not None:
            pkt = self.on_datagram_out(pkt)
        if gso_size:
            self._send_super(pkt, gso_size)
        else:
            self.send_datagram(pkt)

    @property
    def tso_max(self) -> int:
        """The largest TCP super-segment datagram `send_payload` takes with ``gso_size``:
        the link's (`StackContext.tso_max`) when this layer hands datagrams to the built-in
        Ethernet layer, else 0 (plain segments only); never more than the Payload Length
        field holds (RFC 8200 §3: 65535 bytes; no jumbograms)."""
        ctx = self._context()
        ether = ctx.layers.get("Ether")
        if ether is None or ether is not self.lowerLayers.get("default"):
            return 0
        return min(int(ctx.tso_max), HEADER_LEN + 0xFFFF)

    def _send_super(self, pkt: Ipv6Packet, gso_size: int) -> None:
        """Hand a TCP super-segment whole to the link, which has it cut: fragmentation
        would defeat the offload. One for ourselves, through another link, with extension
        headers (the device cuts only TCP right behind the fixed header) or without a
        route goes as one plain datagram, its checksum completed."""
        plain = pkt.headers or self.is_local(pkt.dst) or is_multicast(pkt.dst)
        next_hop = None
        if not plain and self._other_link(pkt.dst) is None:
            next_hop = self.next_hop(pkt.dst)
        if next_hop is None:
            payload = tcp_wire.complete_partial(pkt.payload)
            self.send_datagram(replace(pkt, payload=payload))
            return
        self.stats.incr(self.name, "datagrams_sent")
        self.neighbors.send(next_hop, ipv6.emit(pkt), gso_size)

    def send_datagram(self, pkt: Ipv6Packet) -> None:
        """Fragment if needed (RFC 8200 §4.5) and pass each piece towards its next hop."""
        if self.is_local(pkt.dst):
            self._loop_back(ipv6.emit(pkt))
            return
        other = self._other_link(pkt.dst)
        if other is not None:  # the route goes through another of the stack's links
            other.send_datagram(pkt)
            return
        next_hop = pkt.dst if is_multicast(pkt.dst) else self.next_hop(pkt.dst)
        if next_hop is None:
            self.stats.drop(self.name, Ip6Drop.NO_ROUTE)
            quoted = ipv6.parse_quoted(icmp6.quote(ipv6.emit(pkt)))
            self.deliver_icmp_error("unreachable", 0, quoted)
            return
        for piece in self.fragment(pkt):
            self.stats.incr(self.name, "datagrams_sent")
            self._to_link(next_hop, ipv6.emit(piece))

    def next_hop(self, dst: str) -> str | None:
        """The neighbour a datagram to the unicast ``dst`` goes to: by the stack's routing
        table (longest prefix first), else ``dst`` itself on-link and a default router
        otherwise (RFC 4861 §5.2); None: no route."""
        routes = self._context().routes
        if routes is not None:
            hop: str | None = routes.next_hop(dst)
            return hop
        return dst if self.on_link(dst) else self.routers.default_router()

    def path_mtu(self, dst: str) -> int:
        """The MTU towards ``dst``: the link's (or a Router Advertisement's), lowered by
        Packet Too Big messages until they age out (RFC 8201 §4)."""
        link_mtu = int(self.link_mtu or self._context().mtu)
        return self.pmtu.get(dst, link_mtu, self.clock.seconds())

    def packet_too_big(self, dst: str, mtu: int) -> bool:
        """A validated Packet Too Big for ``dst``: lower its path MTU; True if lowered."""
        link_mtu = int(self.link_mtu or self._context().mtu)
        lowered = self.pmtu.lower(dst, mtu, link_mtu, self.clock.seconds())
        if lowered:
            self.stats.incr(self.name, "pmtu_lowered")
        return lowered

    def fragment(self, pkt: Ipv6Packet) -> list[Ipv6Packet]:
        """Cut ``pkt`` to the path MTU with Fragment headers; its extension headers stay in
        every piece (the unfragmentable part, RFC 8200 §4.5; RFC 8201 §4: the PMTU)."""
        chain = sum(_sizes(pkt.headers))
        mtu = self.path_mtu(pkt.dst)
        if HEADER_LEN + chain + len(pkt.payload) <= mtu:
            return [pkt]
        step = (max(mtu, ipv6.MIN_MTU) - HEADER_LEN - chain - 8) // 8 * 8
        # RFC 7739 §5: an unpredictable Identification for each datagram.
        ident = self.rng.getrandbits(32)
        pieces = []
        for off in range(0, len(pkt.payload), step):
            more = off + step < len(pkt.payload)
            frag = FragmentHeader(off, more, ident)
            pieces.append(replace(pkt, payload=pkt.payload[off : off + step],
                                  headers=(*pkt.headers, frag)))  # fmt: skip
        self.stats.incr(self.name, "fragments_created", len(pieces))
        return pieces

    def _to_link(self, dst: str, datagram: bytes) -> None:
        """Multicast straight to its 33:33 MAC; unicast through the Neighbor Cache."""
        if is_multicast(dst):
            self.transmit(multicast_mac(dst), datagram)
            return
        self.neighbors.send(dst, datagram)

    # -- NeighborHost (what the Neighbor Cache calls) -----------------------------------

    def transmit(self, lladdr: str, packet: Any, gso_size: int = 0) -> None:
        """Put one datagram in a frame to ``lladdr``; with ``gso_size``, a TCP
        super-segment for the link's device to cut (see `tso_max`)."""
        ether: Any = self._context().layers.get("Ether")
        if ether is self.lowerLayers.get("default") and ether is not None:
            ether.transmit(lladdr, ETHERTYPE_IPV6, packet, gso_size)
            return
        self.transfer_packet(packet, Ether={"type": ETHERTYPE_IPV6, "dst": lladdr})

    def send_solicitation(self, target: str, dst: str, lladdr: str | None) -> None:
        """A Neighbor Solicitation for ``target`` (RFC 4861 §7.2.2), with our link-layer
        address, from the address of ours that suits the target."""
        ndp = self.upperLayers.get("ICMPv6")
        if ndp is not None and hasattr(ndp, "send_solicitation"):
            ndp.send_solicitation(target, dst, lladdr)

    def address_unreachable(self, packet: Any) -> None:
        """RFC 4861 §7.2.2: resolution failed; tell the sender's transport, and send
        Destination Unreachable code 3 to a source that is not us."""
        try:
            pkt = ipv6.parse(packet)
        except Malformed:
            return
        if self.is_ours(pkt.src):
            if pkt.fragment is None or pkt.fragment.offset == 0:
                quoted = ipv6.parse_quoted(icmp6.quote(packet))
                self.deliver_icmp_error("unreachable", 1, quoted)
            return
        self.send_icmp_error(icmp6.TYPE_DEST_UNREACHABLE, icmp6.CODE_ADDRESS_UNREACHABLE, pkt)

    def router_lost(self, address: str) -> None:
        """RFC 4861 §7.2.5: a router that says it is none leaves the Default Router List."""
        self.routers.remove_router(address)

    # -- what router discovery and DAD send (through ICMPv6) -----------------------------

    def send_router_solicitation(self, src: str) -> None:
        ndp = self.upperLayers.get("ICMPv6")
        if ndp is not None and hasattr(ndp, "send_router_solicitation"):
            ndp.send_router_solicitation(src)

    def send_mld_report(self, report: Any) -> None:
        """RFC 3810 §5.2.13, §5.2.14: to all MLDv2 routers, from the link-local address
        (:: before it is assigned), Hop Limit 1, with a Router Alert option."""
        src = self.link_local or "::"
        router_alert = HopByHopOptions(ipv6.pad_options([Ipv6Option(5, b"\x00\x00")]))
        data = icmp6.emit(report, src, "ff02::16")
        pkt = Ipv6Packet(src, "ff02::16", ipv6.NH_ICMPV6, data, hop_limit=1,
                         headers=(router_alert,))  # fmt: skip
        self.stats.incr(self.name, "datagrams_sent")
        self._to_link(pkt.dst, ipv6.emit(pkt))

    def send_dad_solicitation(self, target: str) -> None:
        ndp = self.upperLayers.get("ICMPv6")
        if ndp is not None and hasattr(ndp, "send_dad_solicitation"):
            ndp.send_dad_solicitation(target)


def _common_prefix(a: ipaddress.IPv6Address, b: ipaddress.IPv6Address) -> int:
    return 128 - (int(a) ^ int(b)).bit_length()


def _sizes(headers: tuple[Any, ...]) -> list[int]:
    return [8 if type(h) is FragmentHeader else 2 + len(h.body()) for h in headers]


def _starts(headers: tuple[Any, ...]) -> list[int]:
    out, at = [], 0
    for size in _sizes(headers):
        out.append(at)
        at += size
    return out


def _rebuild(first: Ipv6Fragment, payload: bytes) -> tuple[Ipv6Packet, Any]:
    """The reassembled datagram: fragment 0's header and extension headers (the
    unfragmentable part) without the Fragment header, and its Next Header (RFC 8200 §4.5)."""
    pkt = first.packet
    return replace(pkt, payload=payload, headers=pkt.headers[:-1]), first.link


def _overhead(frag: Ipv6Fragment) -> int:
    """What counts against the 65535 bytes of payload besides the fragment data: the
    unfragmentable extension headers (RFC 8200 §4.5)."""
    return sum(_sizes(frag.packet.headers[:-1]))


__all__ = [
    "ALL_NODES",
    "IPv6Protocol",
    "Ip6Drop",
    "Ipv6Fragment",
    "eui64_link_local",
    "multicast_mac",
]
