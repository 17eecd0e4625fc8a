"""The scapy edge of a TCP session: only used when a subclass overrides a per-segment hook.

`on_segment_in` / `on_segment_out` overrides receive a scapy ``IP()/TCP()`` packet whose
checksums and lengths are unset, so that whatever the hook changes is summed correctly
when the packet is built again.
"""

from __future__ import annotations

from typing import Any

from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire

__all__ = ["from_scapy_tcp", "to_scapy_tcp"]


def to_scapy_tcp(session: Any, seg: tcpwire.TcpSegment, *, incoming: bool = False) -> Any:
    """The segment as a scapy ``IP()/TCP()`` packet, checksums left for scapy to compute."""
    from scapy.layers.inet import IP, TCP

    src, dst = _addresses(session)
    if incoming:
        src, dst = dst, src
    data = tcpwire.emit(seg, src, dst)
    packet = IP(ipv4.emit(ipv4.Ipv4Packet(src, dst, tcpwire.PROTO, data)))
    del packet[IP].chksum
    del packet[IP].len
    del packet[TCP].chksum
    return packet


def _addresses(session: Any) -> tuple[str, str]:
    """Local and remote address; a listener has neither yet, so those of the segment the
    TCP layer is demultiplexing stand in (its ``local_ip()`` and ``last_remote_ip``)."""
    local, remote = session.local_ip, session.remote_ip
    if local == "0.0.0.0" and hasattr(session.host, "local_ip"):
        local = session.host.local_ip()
    if remote is None:
        remote = getattr(session.host, "last_remote_ip", None) or "0.0.0.0"
    return local, remote


def from_scapy_tcp(packet: Any) -> tuple[bytes, dict[str, Any]]:
    """The TCP bytes of a scapy packet, and the IP fields a hook may have changed."""
    from scapy.layers.inet import IP, TCP

    if IP not in packet:
        raw = bytes(packet[TCP]) if TCP in packet else bytes(packet)
        return raw, {}
    ip = ipv4.parse(bytes(packet[IP]))
    fields = {"ttl": ip.ttl, "tos": ip.tos, "ident": ip.ident, "src": ip.src, "dst": ip.dst}
    return ip.payload, fields
