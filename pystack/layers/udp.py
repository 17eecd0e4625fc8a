"""UDP (RFC 768, RFC 1122 §4.1): demultiplex by port, verify checksums, port unreachable."""

from __future__ import annotations

import enum
import errno
from typing import Any

from pystack.layers.ip_meta import IpMeta, meta_of
from pystack.layers.layer import Layer, as_bytes, unwrap
from pystack.wire import Malformed
from pystack.wire import icmp as icmp_wire
from pystack.wire import icmpv6 as icmpv6_wire
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.ipv6 import Ipv6Packet
from pystack.wire.udp import UdpDatagram

EPHEMERAL = range(49152, 65536)  # RFC 6056 §2.1


class UdpDrop(enum.Enum):
    """Why the UDP layer dropped a datagram."""

    TRUNCATED = "truncated"
    BAD_LENGTH = "bad_length"
    MALFORMED = "malformed"
    BAD_CHECKSUM = "bad_checksum"
    NO_PORT = "no_port"


class UDPProtocol(Layer):
    """The UDP layer: ``bindings`` maps local ports to applications."""

    name = "UDP"
    fast = True
    kernel_filter: Any = None
    """Shared-address mode: the stack's `KernelFilter` (set by `PyStack`), else None."""

    def __init__(self) -> None:
        super().__init__()
        self.bindings: dict[int, Any] = {}

    # -- ports ----------------------------------------------------------------------------

    def bind(self, port: int, app: Any) -> int:
        """Give ``port`` (0: an ephemeral one) to ``app``; returns the port."""
        if port == 0:
            port = self.ephemeral_port()
        if not 0 < port < 65536:
            raise ValueError(f"UDP port out of range: {port}")
        owner = self.bindings.get(port)
        if owner is not None and owner is not app:
            raise OSError(errno.EADDRINUSE, f"UDP port {port} is already bound")
        if self.kernel_filter is not None:  # the kernel must not answer port unreachable
            self.kernel_filter.block_udp_port(port)
        self.bindings[port] = app
        return port

    def unbind(self, port: int, app: Any) -> None:
        if self.bindings.get(port) is app:
            del self.bindings[port]
            if self.kernel_filter is not None:
                self.kernel_filter.unblock_udp_port(port)

    def is_port_free(self, port: int) -> bool:
        """The seed's name: True if no application holds ``port``."""
        return port not in self.bindings

    def ephemeral_port(self) -> int:
        """A random free port of the dynamic range (RFC 6056 §3.2)."""
        for _ in range(64):
            port = self.rng.choice(EPHEMERAL)
            if port not in self.bindings:
                return port
        free = [p for p in EPHEMERAL if p not in self.bindings]
        if not free:
            raise OSError(errno.EADDRINUSE, "no free ephemeral UDP port")
        return self.rng.choice(free)

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """The 2013 PyStack's entry, for a user's layer between IP and UDP: a datagram with
        its IP header in ``kwargs["IP"]`` (and the IP layer's ``kwargs["meta"]``)."""
        meta = kwargs.get("meta")
        if meta is None:
            meta = meta_of(unwrap(kwargs["IP"]), kwargs.get("Ether"))
        self.datagram_received(as_bytes(packet), meta)

    def datagram_received(self, data: bytes, meta: IpMeta) -> None:
        """A datagram from IP: checksum (RFC 1122 §4.1.3.4), then the application bound to
        its port, which gets ``packet_received(payload, IP=..., UDP=..., meta=meta)``."""
        try:
            dgram = udp_wire.parse(data)
        except Malformed as exc:
            self.stats.drop(
                self.name, UdpDrop.__members__.get(exc.reason.upper(), UdpDrop.MALFORMED)
            )
            return
        # RFC 1122 §4.1.3.4: MUST silently discard a datagram with a bad checksum; 0 = none,
        # except over IPv6, where a zero checksum MUST be discarded (RFC 8200 §8.1).
        # A checksum the device vouched for (meta.checksum_valid) is checked already.
        if (not meta.checksum_valid and not udp_wire.checksum_ok(data, meta.src, meta.dst)) or (
            data[6:8] == b"\0\0" and ":" in meta.src
        ):
            self.stats.drop(self.name, UdpDrop.BAD_CHECKSUM)
            return
        app = self.bindings.get(dgram.dst_port)
        if app is None and type(meta.datagram) is Ipv6Packet:
            self.stats.drop(self.name, UdpDrop.NO_PORT)
            # RFC 4443 §3.1: SHOULD send Destination Unreachable, port unreachable.
            self.layer("IPv6").send_icmp_error(
                icmpv6_wire.TYPE_DEST_UNREACHABLE, icmpv6_wire.CODE_PORT_UNREACHABLE,
                meta.datagram, link=meta.link,
            )  # fmt: skip
            return
        ip = meta.datagram or Ipv4Packet(meta.src, meta.dst, udp_wire.PROTO, data,
                                         ttl=meta.ttl, tos=meta.tos)  # fmt: skip
        if app is None:
            self.stats.drop(self.name, UdpDrop.NO_PORT)
            # RFC 1122 §4.1.3.1: SHOULD send port unreachable.
            self.layer("IP").send_icmp_error(
                icmp_wire.TYPE_DEST_UNREACHABLE, icmp_wire.CODE_PORT_UNREACHABLE, ip, meta
            )
            return
        self.stats.incr(self.name, "datagrams_received")
        kwargs: dict[str, Any] = {"IP": ip, "UDP": dgram, "meta": meta}
        if meta.link is not None:  # the 2013 PyStack passed every header up
            kwargs = {"Ether": meta.link, **kwargs}
        self.deliver_up(app, dgram.payload, "Raw", **kwargs)

    def icmp_error_received(self, kind: str, code: int, quoted_ip: Any) -> None:
        """RFC 1122 §4.1.3.3: pass ICMP errors to the application owning the source port."""
        payload = quoted_ip.payload
        if len(payload) < 4:
            return
        app = self.bindings.get(int.from_bytes(payload[:2], "big"))
        handler = getattr(app, "icmp_error_received", None)
        if handler is not None:
            handler(kind, code, quoted_ip)

    # -- sending --------------------------------------------------------------------------

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        """Send with ``UDP={"sport", "dport"}`` and ``IP={"dst"[, "src", "ttl", "tos"]}``."""
        udp = kwargs.get("UDP") or {}
        ip = dict(kwargs.get("IP") or {})
        if "dport" not in udp or "sport" not in udp or "dst" not in ip:
            raise ValueError('UDP.send_packet needs UDP={"sport", "dport"} and IP={"dst"}')
        if ":" in ip["dst"]:
            self._send6(as_bytes(packet), udp, ip)
            return
        ip_layer = self._context().layers.get("IP")
        if not ip.get("src") and ip_layer is not None and hasattr(ip_layer, "source_for"):
            src = ip_layer.source_for(ip["dst"])  # by route: loopback, another link
        else:
            src = ip.get("src") or self._context().ip
        if src is None:
            raise ValueError("this stack has no IP address: give the stack ip='a.b.c.d/n'")
        data = udp_wire.emit(
            UdpDatagram(udp["sport"], udp["dport"], as_bytes(packet)), src, ip["dst"]
        )
        self.stats.incr(self.name, "datagrams_sent")
        send = getattr(self.lowerLayers["default"], "send_payload", None)
        if send is None:  # a user's layer below: the 2013 PyStack's call
            ip.update(src=src, proto=udp_wire.PROTO)
            self.transfer_packet(data, IP=ip)
            return
        send(
            data, dst=ip["dst"], proto=udp_wire.PROTO, src=src, ttl=ip.get("ttl"),
            tos=ip.get("tos"), df=ip.get("df"), ident=ip.get("ident", ip.get("id")),
            options=ip.get("options") or b"",
        )  # fmt: skip

    def _send6(self, payload: bytes, udp: dict[str, Any], ip: dict[str, Any]) -> None:
        """Send over IPv6, from the IPv6 layer's choice of source (RFC 6724 §5)."""
        ip6 = self.layer("IPv6")
        dst = ip["dst"]
        src = ip.get("src") or ip6.source_for(dst)
        data = udp_wire.emit(UdpDatagram(udp["sport"], udp["dport"], payload), src, dst)
        self.stats.incr(self.name, "datagrams_sent")
        ip6.send_payload(data, dst=dst, proto=udp_wire.PROTO, src=src, ttl=ip.get("ttl"),
                         tos=ip.get("tos"))  # fmt: skip
