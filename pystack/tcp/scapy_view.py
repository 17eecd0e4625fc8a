"""The scapy edge of a TCP session: only used when a subclass overrides a per-segment hook.

`on_segment_in` / `on_segment_out` overrides receive a scapy ``IP()/TCP()`` packet whose
checksums and lengths are unset, so that whatever the hook changes is summed correctly
when the packet is built again.
"""

from __future__ import annotations

from typing import Any

from pystack.layers.ip_meta import IpMeta
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire

__all__ = ["from_scapy_tcp", "to_scapy_tcp"]


def to_scapy_tcp(session: Any, seg: tcpwire.TcpSegment, meta: IpMeta | None = None) -> Any:
    """The segment as a scapy ``IP()/TCP()`` packet, checksums left for scapy to compute.

    An incoming segment comes with the `IpMeta` IP delivered it with: the IP header shows
    its addresses, TTL and TOS. An outgoing one (no ``meta``) goes from the session's local
    address to its remote one.
    """
    from scapy.layers.inet import IP, TCP

    if meta is not None:
        src, dst, ttl, tos = meta.src, meta.dst, meta.ttl, meta.tos
    else:
        src, dst = session.local_ip, session.remote_ip or "0.0.0.0"
        ttl, tos = 64, 0
    data = tcpwire.emit(seg, src, dst)
    packet = IP(ipv4.emit(ipv4.Ipv4Packet(src, dst, tcpwire.PROTO, data, ttl=ttl, tos=tos)))
    del packet[IP].chksum
    del packet[IP].len
    del packet[TCP].chksum
    return packet


def from_scapy_tcp(packet: Any) -> tuple[bytes, dict[str, Any]]:
    """The TCP bytes of a scapy packet, and the IP fields a hook may have changed."""
    from scapy.layers.inet import IP, TCP

    if IP not in packet:
        raw = bytes(packet[TCP]) if TCP in packet else bytes(packet)
        return raw, {}
    ip = ipv4.parse(bytes(packet[IP]))
    fields = {"ttl": ip.ttl, "tos": ip.tos, "ident": ip.ident, "src": ip.src, "dst": ip.dst}
    return ip.payload, fields
