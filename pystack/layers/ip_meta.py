"""`IpMeta`: what the IP layer tells a transport about each datagram it hands up.

The IP layer calls a transport's ``datagram_received(payload, meta)`` with the payload of
one whole datagram (reassembled if it came in fragments) and one `IpMeta`. Everything the
transport needs to know about where the payload came from travels in that value; no layer
keeps "the last packet's" addresses for another to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pystack.wire._fast import fast_init
from pystack.wire.ethernet import BROADCAST
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.ipv6 import Ipv6Packet

__all__ = ["IpMeta", "meta_of"]


@fast_init
@dataclass(frozen=True, slots=True)
class IpMeta:
    """The IP-level facts of one received datagram, besides its payload.

    One type for both families: for IPv6, ``ttl`` is the Hop Limit and ``tos`` the
    Traffic Class (the same octet as IPv4's TOS, RFC 2474), and ``datagram`` an
    ``Ipv6Packet`` (its ``proto`` and ``payload`` are the upper layer's).

    For a datagram reassembled from fragments, every field is that datagram's own: the
    addresses, TTL and TOS of its reassembled header (fragment 0's, RFC 791 §3.2) and the
    link header of its fragment 0.
    """

    src: str
    """The sender's address (the peer, for a transport)."""
    dst: str
    """The address the datagram was sent to: ours, or a broadcast."""
    ttl: int
    """The time to live it arrived with."""
    tos: int
    """The type of service octet (DSCP and ECN bits) it arrived with."""
    interface: str | None = None
    """The name of the device it came in on (a TAP or an interface), None on a simulated
    wire or for a datagram the stack sent to itself."""
    link: Any = None
    """The link-layer header it came in (an ``EthernetFrame``, or a 2013-style layer's
    dict of fields); None for a datagram the stack sent to itself."""
    datagram: Ipv4Packet | Ipv6Packet | None = None
    """The whole datagram as IP delivered it, for what the fields above leave out (IP
    options, the identification) and for quoting it in an ICMP error."""
    checksum_valid: bool = False
    """True when the device vouched for the TCP/UDP checksum: the kernel checked it, or
    the datagram comes from this host with the checksum left partial (a TAP's or packet
    socket's offloads), so the transport does not check it again."""

    @property
    def version(self) -> int:
        """4 or 6: the IP version the datagram came in."""
        return 6 if ":" in self.src else 4

    @property
    def link_broadcast(self) -> bool:
        """True when it came in a link-layer broadcast frame (RFC 1122 §3.2.2 forbids an
        ICMP error about such a datagram)."""
        link = self.link
        if link is None:
            return False
        link = getattr(link, "repr", None) or link
        dst = link.get("dst") if isinstance(link, dict) else getattr(link, "dst", None)
        return isinstance(dst, str) and dst.lower() == BROADCAST


_build: Any = IpMeta._build  # type: ignore[attr-defined]


def meta_of(
    datagram: Ipv4Packet | Ipv6Packet,
    link: Any = None,
    interface: str | None = None,
    checksum_valid: bool = False,
) -> IpMeta:
    """The `IpMeta` of ``datagram`` (received in ``link``'s frame on ``interface``)."""
    if isinstance(datagram, Ipv6Packet):
        return _build(datagram.src, datagram.dst, datagram.hop_limit, datagram.traffic_class,
                      interface, link, datagram, checksum_valid)  # fmt: skip
    return _build(datagram.src, datagram.dst, datagram.ttl, datagram.tos, interface, link,
                  datagram, checksum_valid)  # fmt: skip
