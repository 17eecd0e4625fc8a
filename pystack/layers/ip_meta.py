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

__all__ = ["IpMeta", "meta_of"]


@fast_init
@dataclass(frozen=True, slots=True)
class IpMeta:
    """The IP-level facts of one received datagram, besides its payload.

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
    datagram: Ipv4Packet | None = None
    """The whole datagram as IP delivered it, for what the fields above leave out (IP
    options, the identification) and for quoting it in an ICMP error."""

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


def meta_of(datagram: Ipv4Packet, link: Any = None, interface: str | None = None) -> IpMeta:
    """The `IpMeta` of ``datagram`` (received in ``link``'s frame on ``interface``)."""
    return _build(datagram.src, datagram.dst, datagram.ttl, datagram.tos, interface, link, datagram)
