"""The scapy edge of a TCP session, built only when a hook asks for it.

`TCPSession.on_segment_in` / `on_segment_out` receive `TcpSegment` values; a hook that
wants scapy calls ``session.to_scapy(segment[, meta])`` and gets an ``IP()/TCP()`` packet
whose checksums and lengths are unset, so that whatever the hook changes is summed
correctly when the packet is built again. `on_segment_out` may return such a packet:
`tcp_bytes_of` takes its TCP part back.
"""

from __future__ import annotations

from typing import Any

from pystack.layers.ip_meta import IpMeta
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire

__all__ = ["tcp_bytes_of", "to_scapy_tcp"]


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


def tcp_bytes_of(packet: Any) -> bytes:
    """The TCP header and payload of a scapy packet (checksum computed by scapy when the
    hook left it unset). The IP header is not kept: IP builds its own for the segment,
    so the stack's TTL, TOS and identification apply to every segment alike."""
    from scapy.layers.inet import IP, TCP

    if IP not in packet:
        return bytes(packet[TCP]) if TCP in packet else bytes(packet)
    return ipv4.parse(bytes(packet[IP])).payload
