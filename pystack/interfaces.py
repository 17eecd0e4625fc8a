"""A stack's second (third, ...) link: ``stack.add_link(link, ip=..., ip6=...)``.

Each link has its own Ethernet, ARP, IPv4 (with ICMP) and IPv6 (with ICMPv6, its Neighbor
Cache, router discovery and DAD) layers and its own addresses; the stack's UDP and TCP sit
above all of them. The stack's routing table picks the link of every datagram: the IP
layer a transport sends through hands a datagram whose route names another link to that
link's IP layer, and a connection's source address is the address of its route's link.
"""

from __future__ import annotations

from typing import Any

from pystack.layers.arp import ARPProtocol
from pystack.layers.ethernet import EthernetProtocol
from pystack.layers.icmpv6 import ICMPv6Protocol
from pystack.layers.ip import IPProtocol
from pystack.layers.ipv6 import IPv6Protocol
from pystack.stack import ARP_OPTIONS, ICMP_OPTIONS, IP_OPTIONS, IPV6_OPTIONS, _pick


class Interface:
    """One more link of a stack, with its layers (``ethernet``, ``arp``, ``ip``, ``icmp``,
    ``ipv6``, ``icmpv6``) and addresses; ``name`` is what routes call it (``dev``)."""

    def __init__(self, stack: Any, link: Any, name: str, ip: str | None, ip6: list[str],
                 mac: str | None, options: dict[str, Any]) -> None:  # fmt: skip
        self.name = name
        self.link = link
        self.ethernet = EthernetProtocol(link, ip, mac, None, stack.clock, stack.rng,
                                         stats=stack.stats)  # fmt: skip
        ctx = self.ethernet._context()
        ctx.interface = name
        ctx.routes = stack.routes
        ctx.loopback = stack.loopback
        ctx.observer = stack.ethernet._context().observer
        self.arp = ARPProtocol(**_pick(options, ARP_OPTIONS))
        self.ip = IPProtocol(**_pick(options, IP_OPTIONS))
        # ICMP is the stack's: echo replies reach the ping that waits for them, and errors
        # go out by route like any datagram.
        self.icmp = stack.icmp
        _pick(options, ICMP_OPTIONS)  # the stack's ICMP has its own knobs
        self.ipv6 = IPv6Protocol(**_pick(options, IPV6_OPTIONS))
        self.icmpv6 = ICMPv6Protocol()
        if options:
            raise TypeError(f"unknown add_link options: {', '.join(sorted(options))}")
        self.ethernet.register_layer(self.arp)
        self.ethernet.register_layer(self.ip)
        self.ethernet.register_layer(self.ipv6)
        self.ip.register_upper_layer("ICMP", self.icmp)
        self.ipv6.register_layer(self.icmpv6)  # this link's neighbour discovery
        # Echo replies on this link answer the stack's pings (RFC 4443 §4.2 matches them
        # by identifier and sequence number only).
        self.icmpv6.echoes = stack.icmpv6.echoes
        # The stack's transports above this link's IP layers too: they keep the stack's
        # context (a layer adopts one only when it has none).
        for kind, transport in (("UDP", stack.udp), ("TCP", stack.tcp)):
            if transport is not None:
                self.ip.register_upper_layer(kind, transport)
                self.ipv6.register_upper_layer(kind, transport)
        for cidr in ip6:
            self.ipv6.add_address(cidr)

    def stop(self) -> None:
        """Stop the timers of this link's IPv6 and close the link."""
        self.ipv6.routers.stop()
        self.ipv6.autoconf.stop()
        self.ipv6.mld.stop()
        self.link.close()

    def __repr__(self) -> str:
        return f"Interface({self.name}, {self.ip.address}, {self.ipv6.address})"


__all__ = ["Interface"]
