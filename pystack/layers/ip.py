"""IPv4: input validation (RFC 1122 §3.2.1), routing (on-link or gateway), fragmentation,
reassembly (:mod:`pystack.layers.ip_reassembly`), and the hand-off of ICMP errors to the
protocol they concern (RFC 1122 §3.2.2)."""

from __future__ import annotations

import dataclasses
import enum
import functools
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from pystack.layers.ip_meta import IpMeta, meta_of
from pystack.layers.ip_reassembly import DatagramKey, OverlapPolicy, Reassembler, ReassemblyDrop
from pystack.layers.layer import Layer, as_bytes
from pystack.links.loopback import loop_back
from pystack.wire import Malformed, ipv4
from pystack.wire import icmp as icmp_wire
from pystack.wire import tcp as tcp_wire
from pystack.wire.ethernet import BROADCAST, ETHERTYPE_IPV4
from pystack.wire.ipv4 import FLAG_DF, FLAG_MF, Ipv4Packet
from pystack.wire.ipv4_options import copied_options

LIMITED_BROADCAST = "255.255.255.255"
# The frame header on the loopback link: no addresses to speak of, the IPv4 EtherType.


class IpDrop(enum.Enum):
    """Why the IP layer dropped a datagram (named after the wire codec's reasons)."""

    TRUNCATED = "truncated"
    BAD_VERSION = "bad_version"
    BAD_HEADER_LENGTH = "bad_header_length"
    BAD_TOTAL_LENGTH = "bad_total_length"
    BAD_CHECKSUM = "bad_checksum"
    NOT_OUR_ADDRESS = "not_our_address"
    BAD_SOURCE = "bad_source"
    UNKNOWN_PROTOCOL = "unknown_protocol"
    NO_ROUTE = "no_route"
    TOO_BIG_DF = "too_big_df"
    MALFORMED = "malformed"


@functools.lru_cache(maxsize=4096)
def ip_int(ip: str) -> int:
    """A dotted IPv4 address as an integer (cached: the same few addresses recur)."""
    return int.from_bytes(socket.inet_aton(ip), "big")


def _multicast_mac(ip: str) -> str:
    """RFC 1112 §6.4: 01:00:5e plus the low 23 bits of the group address."""
    low = int(ipaddress.IPv4Address(ip)) & 0x7FFFFF
    return "01:00:5e:" + ":".join(f"{(low >> s) & 0xFF:02x}" for s in (16, 8, 0))


def _gso_count(payload: bytes, gso_size: int) -> int:
    """How many segments a device cuts from the TCP super-segment ``payload``."""
    text = len(payload) - (payload[12] >> 4) * 4
    return max(1, -(-text // gso_size))


class Route(NamedTuple):
    """Where datagrams to one destination go on the link: a fixed MAC (broadcast,
    multicast), or the next hop whose MAC ARP resolves."""

    mac: str | None
    next_hop: str | None

    def ether_fields(self) -> dict[str, Any]:
        """The Ethernet header fields a layer below IP is given (the 2013 PyStack's way)."""
        if self.mac is not None:
            return {"type": ETHERTYPE_IPV4, "dst": self.mac}
        return {"type": ETHERTYPE_IPV4, "next_hop": self.next_hop}


class DatagramShaper(Protocol):
    """Reshapes what IP sends: set as `IPProtocol.shaper` (every datagram of the stack) or
    passed as ``send_payload(..., shaper=...)`` (one datagram).

    ``shape_datagram(pkt, mtu)`` gets the whole datagram (routed, not yet fragmented) and
    returns the datagrams to put on the link, in the order to send them: fragments of it,
    perhaps overlapping, perhaps more than one copy of some bytes. A piece bigger than the
    ``mtu`` is fragmented as usual. `pystack.evasion.Evasion` is one.
    """

    def shape_datagram(self, pkt: Ipv4Packet, mtu: int) -> Sequence[Ipv4Packet]: ...


_new_meta: Any = IpMeta._build  # type: ignore[attr-defined]


class IPProtocol(Layer):
    """The IPv4 layer; knobs are the stack's ``ttl``, ``tos``, ``df`` and reassembly options."""

    name = "IP"
    fast = True
    PROTOCOLS = {ipv4.PROTO_ICMP: "ICMP", ipv4.PROTO_TCP: "TCP", ipv4.PROTO_UDP: "UDP"}

    def __init__(
        self,
        *,
        ttl: int = 64,
        tos: int = 0,
        df: bool = False,
        reassembly_timeout: float = 30.0,
        overlap_policy: OverlapPolicy | str = OverlapPolicy.LINUX,
        reassembly_memory: int = 1 << 20,
    ) -> None:
        super().__init__()
        if not 1 <= ttl <= 255 or not 0 <= tos <= 255:
            raise ValueError("ttl must be in 1..255 and tos in 0..255")
        self.ttl, self.tos, self.df = ttl, tos, df
        self.reassembly_timeout = reassembly_timeout
        self.overlap_policy = OverlapPolicy(overlap_policy)
        self.reassembly_memory = reassembly_memory
        self.shaper: DatagramShaper | None = None
        """Reshapes every datagram this layer sends (None: plain RFC 791 fragmentation)."""
        self._reassembler: Reassembler | None = None
        self._ident: int | None = None
        self.on_datagram_out: Callable[[Ipv4Packet], Ipv4Packet] | None = None
        """Hook: sees every datagram this layer originates (not forwarded ones) before it
        is routed and fragmented, and returns the one to send, e.g. with another
        identification, DF or TTL (``dataclasses.replace``). None (the default): sent as
        built. :mod:`pystack.personality` sets it to shape the IP header like an OS."""
        # The link header of each incomplete datagram's fragment 0 (its own, RFC 791
        # §3.2), until the reassembler delivers or forgets the datagram.
        self._first_links: dict[DatagramKey, Any] = {}
        self._addr_key: tuple[str | None, int] | None = None
        self._addressing_cache: tuple[int, int, str] = (0, 0, "")
        # Per-datagram work cached by address (cleared when our addressing changes): the
        # verdict of the destination/source checks per (src, dst) pair, the route per dst.
        self._verdicts: dict[tuple[str, str], IpDrop | None] = {}
        self._routes: dict[str, Route | None] = {}
        self._cache_key: tuple[str | None, int, str | None, int] | None = None

    # -- addresses ------------------------------------------------------------------------

    @property
    def address(self) -> str | None:
        return self._context().ip

    def _addressing(self) -> tuple[int, int, str]:
        """(network as int, mask, directed broadcast) of our address, computed once."""
        ctx = self._context()
        key = (ctx.ip, ctx.prefix)
        if self._addr_key != key:
            self._addr_key = key
            mask = (0xFFFFFFFF << (32 - ctx.prefix)) & 0xFFFFFFFF if ctx.ip else 0
            net = ip_int(ctx.ip) & mask if ctx.ip else 0
            bcast = str(ipaddress.IPv4Address(net | (~mask & 0xFFFFFFFF)))
            # A /31 or /32 has no directed broadcast (RFC 3021).
            self._addressing_cache = (net, mask, bcast if ctx.ip and ctx.prefix < 31 else "")
        return self._addressing_cache

    def is_broadcast(self, ip: str) -> bool:
        """The limited broadcast or our subnet's directed broadcast."""
        return ip == LIMITED_BROADCAST or ip == self._addressing()[2]

    def is_for_us(self, ip: str) -> bool:
        return ip == self._context().ip or self.is_broadcast(ip)

    def bad_source(self, ip: str) -> bool:
        """RFC 1122 §3.2.1.3: a broadcast, multicast or loopback source is never valid."""
        n = ip_int(ip)
        return n >> 28 == 0xE or n >> 24 == 127 or self.is_broadcast(ip)

    def is_local(self, ip: str) -> bool:
        """Our own address or one of 127.0.0.0/8: delivered inside the host, never sent on
        the link (RFC 1122 §3.2.1.3 (g))."""
        ctx = self._context()
        if ip == ctx.ip or ip.startswith("127."):
            return True
        return ctx.routes is not None and bool(ctx.routes.is_local(ip))

    def source_for(self, dst: str) -> str | None:
        """Our address for ``dst``: 127.0.0.1 towards the loopback network, else that of
        the link the route to ``dst`` goes through (RFC 1122 §3.3.4.3: the address of
        the interface the datagram is sent on)."""
        if dst.startswith("127."):
            return "127.0.0.1"
        ctx = self._context()
        other = ctx.routes.layer_for(dst, "ip", ctx) if ctx.routes is not None else None
        return other.address if other is not None else ctx.ip

    def on_link(self, ip: str) -> bool:
        """True when ``ip`` is in our subnet (no gateway needed)."""
        net, mask, _ = self._addressing()
        return self._context().ip is not None and ip_int(ip) & mask == net

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
            )
        return self._reassembler

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """A datagram from the link (its frame in ``kwargs["Ether"]``): validate (RFC 1122
        §3.2.1), reassemble, then `dispatch` with its `IpMeta`."""
        data = packet if type(packet) is bytes else as_bytes(packet)
        ctx = self._context()
        stats = ctx.stats
        try:
            pkt = ipv4.parse(data)
        except Malformed as exc:
            reason = IpDrop.__members__.get(exc.reason.upper(), IpDrop.MALFORMED)
            stats.drop(self.name, reason)
            return
        # RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently discard.
        if not ipv4.header_checksum_ok(data):
            stats.drop(self.name, IpDrop.BAD_CHECKSUM)
            return
        if kwargs.get("loopback"):  # from our own loopback link: our addresses only
            verdict = None if self.is_local(pkt.dst) else IpDrop.NOT_OUR_ADDRESS
        else:
            verdict = self._address_verdict(pkt.src, pkt.dst)
        if verdict is not None:
            stats.drop(self.name, verdict)
            return
        stats.incr(self.name, "datagrams_received")
        link = kwargs.get("Ether")
        if pkt.flags & FLAG_MF or pkt.frag_offset:
            stats.incr(self.name, "fragments_received")
            if not pkt.frag_offset:
                self._remember_first_link(pkt, link)
            self.reassembler.add(pkt)
            return
        valid = kwargs.get("checksum_valid", False)  # the link's offloads vouch for it
        self.dispatch(
            pkt, _new_meta(pkt.src, pkt.dst, pkt.ttl, pkt.tos, ctx.interface, link, pkt, valid)
        )

    def _remember_first_link(self, first: Ipv4Packet, link: Any) -> None:
        """Keep fragment 0's link header for its datagram (as many as the reassembler
        keeps datagrams; the reassembler keeps the latest fragment 0 too)."""
        links = self._first_links
        key = (first.src, first.dst, first.proto, first.ident)
        links.pop(key, None)
        if len(links) >= self.reassembler.max_datagrams:
            del links[next(iter(links))]
        links[key] = link

    def _meta_of_reassembled(self, pkt: Ipv4Packet) -> IpMeta:
        """A reassembled datagram's own metadata: its header's, and its fragment 0's link."""
        link = self._first_links.pop((pkt.src, pkt.dst, pkt.proto, pkt.ident), None)
        return meta_of(pkt, link, self._context().interface)

    def _address_verdict(self, src: str, dst: str) -> IpDrop | None:
        """The drop reason of a datagram from ``src`` to ``dst``, None when acceptable."""
        self._check_cache()
        key = (src, dst)
        try:
            return self._verdicts[key]
        except KeyError:
            pass
        if not self.is_for_us(dst):
            verdict: IpDrop | None = IpDrop.NOT_OUR_ADDRESS  # RFC 1122 §3.2.1.3: discard
        elif self.bad_source(src):
            verdict = IpDrop.BAD_SOURCE
        else:
            verdict = None
        if len(self._verdicts) >= 4096:
            self._verdicts.clear()
        self._verdicts[key] = verdict
        return verdict

    def _check_cache(self) -> None:
        """Forget cached verdicts and routes when our address, prefix or gateway changed."""
        ctx = self._context()
        routes = ctx.routes
        key = (ctx.ip, ctx.prefix, ctx.gateway, routes.version if routes is not None else 0)
        if key != self._cache_key:
            self._cache_key = key
            self._verdicts.clear()
            self._routes.clear()

    def _deliver_reassembled(self, pkt: Ipv4Packet) -> None:
        self.stats.incr(self.name, "datagrams_reassembled")
        self.dispatch(pkt, self._meta_of_reassembled(pkt))

    def dispatch(self, pkt: Ipv4Packet, meta: IpMeta) -> None:
        """Hand a whole datagram to the protocol above, by protocol number.

        A built-in transport gets ``datagram_received(payload, meta)``; any other layer the
        2013 PyStack's ``packet_received(payload, Ether=frame, IP=pkt, meta=meta)`` (a
        2013-style layer: a scapy packet and dicts of fields, see `Layer.deliver_up`).
        """
        kind = self.PROTOCOLS.get(pkt.proto)
        target = self.upperLayers.get(kind) if kind else None
        if target is None:
            self.stats.drop(self.name, IpDrop.UNKNOWN_PROTOCOL)
            # RFC 1122 §3.2.2.1: a host SHOULD generate protocol unreachable.
            self.send_icmp_error(
                icmp_wire.TYPE_DEST_UNREACHABLE, icmp_wire.CODE_PROTOCOL_UNREACHABLE, pkt, meta
            )
            return
        self._context().stats.incr(self.name, "datagrams_delivered")
        receive = getattr(target, "datagram_received", None)
        if receive is not None:
            receive(pkt.payload, meta)
            return
        kwargs: dict[str, Any] = {"IP": pkt, "meta": meta}
        if meta.link is not None:
            kwargs = {"Ether": meta.link, **kwargs}
        if getattr(target, "fast", False):
            target.packet_received(pkt.payload, **kwargs)
        else:
            self.deliver_up(target, pkt.payload, kind or "Raw", **kwargs)

    def send_icmp_error(
        self, type_: int, code: int, offending: Ipv4Packet, meta: IpMeta | None = None
    ) -> None:
        """Ask the ICMP layer (if any) for an error about ``offending``, received with
        ``meta`` (which tells, e.g., whether it came in a link-layer broadcast)."""
        icmp = self.upperLayers.get("ICMP")
        if icmp is not None and hasattr(icmp, "send_error"):
            icmp.send_error(type_, code, offending, meta)

    def _reassembly_time_exceeded(self, first: Ipv4Packet) -> None:
        self.send_icmp_error(
            icmp_wire.TYPE_TIME_EXCEEDED, icmp_wire.CODE_REASSEMBLY_TIME_EXCEEDED, first,
            self._meta_of_reassembled(first),
        )  # fmt: skip

    def deliver_icmp_error(self, kind: str, code: int, quoted: Ipv4Packet) -> None:
        """Pass an ICMP error up to the protocol of the quoted datagram (RFC 1122 §3.2.2)."""
        kind_name = self.PROTOCOLS.get(quoted.proto)
        target = self.upperLayers.get(kind_name) if kind_name else None
        if target is not None and hasattr(target, "icmp_error_received"):
            target.icmp_error_received(kind, code, quoted)

    def next_hop_unreachable(self, packet: bytes) -> None:
        """ARP gave up on a datagram we sent: tell its protocol, as a host unreachable."""
        try:
            pkt = ipv4.parse(packet)
        except Malformed:
            return
        if pkt.frag_offset == 0:
            quoted = ipv4.parse_quoted(icmp_wire.quote(packet))
            self.deliver_icmp_error("unreachable", icmp_wire.CODE_HOST_UNREACHABLE, quoted)

    # -- sending --------------------------------------------------------------------------

    def next_ident(self) -> int:
        if self._ident is None:
            self._ident = self.rng.randrange(1 << 16)
        self._ident = (self._ident + 1) & 0xFFFF
        return self._ident

    def send_payload(
        self, payload: bytes, *, dst: str, proto: int, src: str | None = None,
        ttl: int | None = None, tos: int | None = None, df: bool | None = None,
        ident: int | None = None, options: bytes = b"", shaper: DatagramShaper | None = None,
        gso_size: int = 0,
    ) -> None:  # fmt: skip
        """Send ``payload`` of protocol ``proto`` to ``dst``: the call transports make.

        Unset fields take this layer's ``ttl``, ``tos`` and ``df``, our address and the
        next identification; ``options`` are raw bytes (see :mod:`pystack.wire.ipv4_options`).
        The datagram is routed, fragmented if needed and handed to the link (`send_datagram`);
        ``shaper`` reshapes this datagram instead of the layer's `shaper`. ``gso_size``
        makes it a TCP super-segment (at most `tso_max` bytes, its TCP checksum partial)
        that the link's device cuts into segments of ``gso_size`` payload bytes; each
        segment takes the next identification, as the device numbers them.
        """
        if gso_size and ident is None:
            ident = self.next_ident()
            self._ident = (ident + _gso_count(payload, gso_size) - 1) & 0xFFFF
        if not src:
            src = self.source_for(dst)
            if src is None:
                raise ValueError("this stack has no IP address: give the stack ip='a.b.c.d/n'")
        pkt = Ipv4Packet(
            src, dst, proto, payload,
            ttl=self.ttl if ttl is None else ttl, tos=self.tos if tos is None else tos,
            ident=self.next_ident() if ident is None else ident,
            flags=FLAG_DF if (self.df if df is None else df) else 0, options=options,
        )  # fmt: skip
        if self.on_datagram_out is not None:
            pkt = self.on_datagram_out(pkt)
        if gso_size:
            self._send_super(pkt, gso_size)
        else:
            self.send_datagram(pkt, shaper=shaper)

    @property
    def tso_max(self) -> int:
        """The largest TCP super-segment datagram `send_payload` takes with ``gso_size``:
        the link's (`StackContext.tso_max`) when this layer hands datagrams to the built-in
        Ethernet layer and no `shaper` reshapes them, else 0 (plain segments only)."""
        ctx = self._context()
        ether = ctx.layers.get("Ether")
        if self.shaper is not None or ether is None or ether is not self.lowerLayers["default"]:
            return 0
        return ctx.tso_max

    def _send_super(self, pkt: Ipv4Packet, gso_size: int) -> None:
        """Route a TCP super-segment and hand it whole to the link, which has it cut: IP
        fragmentation would defeat the offload. One addressed to ourselves is delivered as
        one datagram, its checksum completed (the receive side takes super-segments)."""
        route = self._route(pkt.dst)
        ctx = self._context()
        if route is None or self.is_local(pkt.dst):
            payload = tcp_wire.complete_partial(pkt.payload)
            self.send_datagram(dataclasses.replace(pkt, payload=payload))
            return
        ctx.stats.incr(self.name, "datagrams_sent")
        self._to_link(ipv4.emit(pkt), route, gso_size)

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        """The 2013 PyStack's call, for a user's layer above IP: send ``packet`` with
        ``IP={"dst", "proto"[, "src", "ttl", "tos", "df", "ident", "options"]}``."""
        header = kwargs.get("IP") or {}
        if "dst" not in header or "proto" not in header:
            raise ValueError('IP.send_packet needs IP={"dst": ..., "proto": ...}')
        self.send_payload(
            packet if type(packet) is bytes else as_bytes(packet),
            dst=header["dst"], proto=header["proto"], src=header.get("src"),
            ttl=header.get("ttl"), tos=header.get("tos"), df=header.get("df"),
            ident=header.get("ident", header.get("id")), options=header.get("options") or b"",
        )  # fmt: skip

    def send_datagram(self, pkt: Ipv4Packet, *, shaper: DatagramShaper | None = None) -> None:
        """Route, fragment if needed (RFC 791 §3.2), and pass each piece to the link;
        ``shaper`` (else the layer's `shaper`, if set) chooses the pieces instead."""
        if self.is_local(pkt.dst):
            self._loop_back(ipv4.emit(pkt))
            return
        ctx = self._context()
        other = ctx.routes.layer_for(pkt.dst, "ip", ctx) if ctx.routes is not None else None
        if other is not None:  # the route goes through another of the stack's links
            other.send_datagram(pkt, shaper=shaper)
            return
        route = self._route(pkt.dst)
        if route is None:
            self.stats.drop(self.name, IpDrop.NO_ROUTE)
            quoted = ipv4.parse_quoted(icmp_wire.quote(ipv4.emit(pkt)))
            self.deliver_icmp_error("unreachable", icmp_wire.CODE_NET_UNREACHABLE, quoted)
            return
        ctx = self._context()
        shaper = shaper or self.shaper
        if shaper is not None:
            self._send_shaped(shaper.shape_datagram(pkt, ctx.mtu), route)
            return
        if 20 + len(pkt.options) + len(pkt.payload) <= ctx.mtu:
            ctx.stats.incr(self.name, "datagrams_sent")  # the common case: one piece
            self._to_link(ipv4.emit(pkt), route)
            return
        for piece in self.fragment(pkt):
            if piece is None:
                self.stats.drop(self.name, IpDrop.TOO_BIG_DF)
                return
            self.stats.incr(self.name, "datagrams_sent")
            self._to_link(ipv4.emit(piece), route)

    def _loop_back(self, datagram: bytes) -> None:
        """A datagram for ourselves (see `pystack.links.loopback.loop_back`)."""
        loop_back(self, ETHERTYPE_IPV4, datagram)

    def _send_shaped(self, pieces: Sequence[Ipv4Packet], route: Route) -> None:
        """Send a shaper's pieces in its order; one still over the MTU is fragmented."""
        for piece in pieces:
            if piece.is_fragment:
                self.stats.incr(self.name, "fragments_created")
            for part in self.fragment(piece):
                if part is None:
                    self.stats.drop(self.name, IpDrop.TOO_BIG_DF)
                    break
                self.stats.incr(self.name, "datagrams_sent")
                self._to_link(ipv4.emit(part), route)

    def _to_link(self, datagram: bytes, route: Route, gso_size: int = 0) -> None:
        """Hand one datagram to the link along ``route``: to the built-in Ethernet layer
        directly, through ARP when the next hop's MAC is to be resolved (ARP queues it
        meanwhile, RFC 1122 §2.3.2.2); to a user's layer below IP as the 2013 PyStack did,
        with ``Ether={"type", "dst"}`` or ``Ether={"type", "next_hop"}``."""
        ctx = self._context()
        ether = ctx.layers.get("Ether")
        if ether is not None and ether is self.lowerLayers["default"]:
            if route.mac is not None:
                ether.transmit(route.mac, ETHERTYPE_IPV4, datagram, gso_size)
                return
            arp = ctx.layers.get("ARP")
            if arp is not None:
                arp.resolve(route.next_hop, datagram, ETHERTYPE_IPV4, gso_size)
                return
        self.transfer_packet(datagram, Ether=route.ether_fields())

    def transfer_packet(self, packet: Any, **kwargs: Any) -> None:
        """Hand a datagram to the layer below (a seed-style one gets a scapy packet)."""
        lower = self.lowerLayers["default"]
        if getattr(lower, "fast", False):
            lower.send_packet(packet, **kwargs)
        else:
            super().transfer_packet(packet, **kwargs)

    def _route(self, dst: str) -> Route | None:
        """The route to ``dst`` (cached per destination until our addressing changes)."""
        self._check_cache()
        try:
            return self._routes[dst]
        except KeyError:
            pass
        route = self._routes[dst] = self.route(dst)
        if len(self._routes) >= 4096:
            self._routes.clear()
        return route

    def route(self, dst: str) -> Route | None:
        """The routing step: a fixed MAC for a broadcast or multicast ``dst``; else the
        next hop, ``dst`` itself on-link or the gateway (RFC 1122 §3.3.1.1) by the stack's
        routing table (longest prefix first), else by our prefix and ``gateway``; None
        when no route covers ``dst``."""
        if self.is_broadcast(dst):
            return Route(BROADCAST, None)
        if ip_int(dst) >> 28 == 0xE:
            return Route(_multicast_mac(dst), None)
        if dst == self.address:
            return Route(None, dst)
        routes = self._context().routes
        if routes is not None:
            hop = routes.next_hop(dst)
            return Route(None, hop) if hop is not None else None
        if self.on_link(dst):
            return Route(None, dst)
        gateway = self._context().gateway
        return Route(None, gateway) if gateway else None

    def fragment(self, pkt: Ipv4Packet) -> list[Ipv4Packet | None]:
        """Cut ``pkt`` (a datagram or a fragment) to the link MTU; ``[None]`` if it is too
        big and DF is set."""
        hlen = 20 + len(pkt.options)
        mtu = self._context().mtu
        if hlen + len(pkt.payload) <= mtu:
            return [pkt]
        if pkt.flags & FLAG_DF:
            return [None]
        step = (mtu - hlen) // 8 * 8
        later_options = copied_options(pkt.options) if pkt.options else b""
        pieces: list[Ipv4Packet | None] = []
        for off in range(0, len(pkt.payload), step):
            last = off + step >= len(pkt.payload)
            pieces.append(
                Ipv4Packet(
                    pkt.src, pkt.dst, pkt.proto, pkt.payload[off : off + step],
                    ttl=pkt.ttl, tos=pkt.tos, ident=pkt.ident,
                    flags=pkt.flags if last else pkt.flags | FLAG_MF,
                    # A fragment cut again keeps its place (RFC 791 §3.2, refragmenting).
                    frag_offset=pkt.frag_offset + off,
                    # RFC 791 §3.1: only options with the copied flag go past fragment 0.
                    options=pkt.options if off == 0 else later_options,
                )
            )  # fmt: skip
        self.stats.incr(self.name, "fragments_created", len(pieces))
        return pieces


__all__ = [
    "DatagramShaper",
    "IPProtocol",
    "IpDrop",
    "IpMeta",
    "OverlapPolicy",
    "ReassemblyDrop",
    "Route",
]
