"""Ethernet II: demultiplex by ethertype, keep frames for other stations out, send frames.

The layer owns the link: frames enter through :meth:`EthernetProtocol.packet_received`
(the link's receiver) and leave through :meth:`EthernetProtocol.transmit`, which the IP
layer calls itself (through ARP when a next hop's MAC is to be resolved). A packet a
user's layer sends down with ``Ether={"next_hop": ip}`` is handed to the ARP layer, which
resolves the MAC (or queues the packet) and comes back to :meth:`transmit`.
"""

from __future__ import annotations

import enum
import random
from typing import Any

from pystack.layers.layer import Layer, StackContext, as_bytes
from pystack.links import netdev
from pystack.stats import Stats
from pystack.wire import Malformed
from pystack.wire import ethernet as eth_wire
from pystack.wire.ethernet import BROADCAST, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6

MIN_FRAME = 60  # without FCS: 14 bytes of header and 46 of payload at least (IEEE 802.3)


class EtherDrop(enum.Enum):
    """Why the Ethernet layer dropped a frame."""

    MALFORMED = "malformed"
    NOT_FOR_US = "not_for_us"
    UNKNOWN_ETHERTYPE = "unknown_ethertype"
    NO_RESOLVER = "no_resolver"


def random_mac(rng: random.Random) -> str:
    """A random unicast, locally administered MAC address (IEEE 802: bits 0 and 1 of byte 0)."""
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{o:02x}" for o in octets)


def parse_cidr(ip: str) -> tuple[str, int]:
    """``"198.18.0.1/24"`` -> ``("198.18.0.1", 24)``; a bare address is a /32."""
    import ipaddress

    iface = ipaddress.IPv4Interface(ip)
    return str(iface.ip), iface.network.prefixlen


def _device_name(link: Any) -> str | None:
    """The name of the device under ``link`` (a TAP's ``name``, a packet socket's
    ``interface``), or None for a link without one (a simulated wire)."""
    for attribute in ("name", "interface"):
        value = getattr(link, attribute, None)
        if isinstance(value, str):
            return value
    return None


class EthernetProtocol(Layer):
    """The bottom layer; ``EthernetProtocol(link, ip="198.18.0.1/24", clock=clock)``.

    It creates the stack's shared context (clock, rng, stats, address) that every layer
    registered above it adopts, which is what lets a stack be built by hand as in the seed.
    """

    name = "Ether"
    fast = True
    ETHERTYPES = {ETHERTYPE_IPV4: "IP", ETHERTYPE_ARP: "ARP", ETHERTYPE_IPV6: "IPv6"}

    def __init__(
        self,
        link: Any,
        ip: str | None = None,
        mac: str | None = None,
        gateway: str | None = None,
        clock: Any = None,
        rng: random.Random | None = None,
        *,
        stats: Stats | None = None,
        mtu: int | None = None,
    ) -> None:
        super().__init__()
        if clock is None:
            raise TypeError("EthernetProtocol needs a clock (an IReactorTime, e.g. the reactor)")
        rng = rng if rng is not None else random.Random()
        address, prefix = parse_cidr(ip) if ip else (None, 32)
        mac = (mac or getattr(link, "mac", None) or random_mac(rng)).lower()
        link_mtu = getattr(link, "mtu", 1500)
        self.adopt_context(
            StackContext(
                clock=clock, rng=rng, stats=stats if stats is not None else Stats(),
                ip=address, prefix=prefix, mac=mac, gateway=gateway,
                mtu=min(mtu, link_mtu) if mtu else link_mtu, interface=_device_name(link),
                tso_max=getattr(link, "tso_max", 0),
            )
        )  # fmt: skip
        self.link = link
        self.multicast_macs: set[str] = set()
        """The multicast MAC addresses whose frames this station takes (the IPv6 layer
        joins 33:33:00:00:00:01 and its solicited-node groups, RFC 2464 §7)."""
        self._headers: dict[tuple[str, str | None, int], bytes] = {}
        # A link that can say which checksums need no check (a TAP's or packet socket's
        # offloads) tells us; looked up on the type, so a wrapper never passes it through.
        if getattr(type(link), "set_trusting_receiver", None) is not None:
            link.set_trusting_receiver(self.packet_received)
        else:
            link.set_receiver(self.packet_received)

    @property
    def mac(self) -> str:
        return self._context().mac or ""

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """A frame from the link: filter by destination, pass the payload up by ethertype."""
        ctx = self._context()
        data = packet if type(packet) is bytes else as_bytes(packet)
        try:
            frame = eth_wire.parse(data)
        except Malformed:
            ctx.stats.drop(self.name, EtherDrop.MALFORMED)
            return
        dst = frame.dst
        if dst != ctx.mac and dst != BROADCAST and dst not in self.multicast_macs:
            ctx.stats.drop(self.name, EtherDrop.NOT_FOR_US)
            return
        kind = self.ETHERTYPES.get(frame.ethertype)
        target = self.upperLayers.get(kind) if kind else None
        if target is None:
            ctx.stats.drop(self.name, EtherDrop.UNKNOWN_ETHERTYPE)
            return
        ctx.stats.incr(self.name, "frames_received")
        if getattr(target, "fast", False):
            if kwargs:  # checksum_valid=True from the link
                target.packet_received(frame.payload, Ether=frame, **kwargs)
            else:
                target.packet_received(frame.payload, Ether=frame)
        else:
            if kwargs:  # a user's layer gets the frame as a wire carries it
                frame = eth_wire.parse(netdev.complete_checksum(data))
            self.deliver_up(target, frame.payload, kind or "Raw", Ether=frame)

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        """Send ``packet`` with ``Ether={"dst": mac}`` or ``Ether={"next_hop": ip}``.

        ``Ether["type"]`` is the ethertype (default IPv4). With a next hop, the ARP layer
        resolves the MAC first and may hold the packet meanwhile (RFC 1122 §2.3.2.2).
        """
        header = kwargs.get("Ether") or {}
        payload = as_bytes(packet)
        ethertype = header.get("type", ETHERTYPE_IPV4)
        dst = header.get("dst")
        if dst is not None:
            self.transmit(dst, ethertype, payload)
            return
        arp = self.upperLayers.get("ARP")
        if arp is None or not hasattr(arp, "resolve"):
            self.stats.drop(self.name, EtherDrop.NO_RESOLVER)
            return
        arp.resolve(header["next_hop"], payload, ethertype)

    def transmit(self, dst: str, ethertype: int, payload: bytes, gso_size: int = 0) -> None:
        """Put one frame on the link, padded to the Ethernet minimum; with ``gso_size``,
        a TCP super-segment the link's device cuts (see `SegmentingLink`)."""
        ctx = self._context()
        key = (dst, ctx.mac, ethertype)
        header = self._headers.get(key)
        if header is None:
            # The codec builds each (dst, src, type) header once; a stack talks to few peers.
            if len(self._headers) >= 1024:
                self._headers.clear()
            mac = ctx.mac or ""
            header = eth_wire.emit(eth_wire.EthernetFrame(dst, mac, ethertype, b""))
            self._headers[key] = header
        frame = header + payload
        if len(frame) < MIN_FRAME:
            frame += bytes(MIN_FRAME - len(frame))
        ctx.stats.incr(self.name, "frames_sent")
        if gso_size:
            self.link.send_gso(frame, gso_size)
        else:
            self.link.send(frame)

    def link_unreachable(self, ethertype: int, payload: bytes) -> None:
        """Resolution failed for ``payload``: tell the protocol that sent it (ARP calls this)."""
        kind = self.ETHERTYPES.get(ethertype)
        sender = self.upperLayers.get(kind) if kind else None
        handler = getattr(sender, "next_hop_unreachable", None)
        if handler is not None:
            handler(payload)
