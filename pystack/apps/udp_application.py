"""UDPApplication, the seed's UDP endpoint: bind, connect, sendto, recvfrom, fetch_data.

Register it with ``stack.register_udp_application(app)``. Received datagrams go through the
:meth:`UDPApplication.packet_received` hook (override it to react at once); by default it
queues them, with the sender's real address, for ``recvfrom`` / ``fetch_data``. Calls
never block: a blocking socket facade is ``pystack.pystack_socket``'s job.

Threads: in thread mode (``stack.run(doreactor=False)``) the calls a user makes from their
own thread (`bind`, `connect`, `sendto`, `send_packet`, `recvfrom`, `fetch_data`,
`fetch_data_from`, `close`) run in the reactor thread (:mod:`pystack.apps.calls`).
Host names given to `connect` / `sendto` are resolved through ``stack.dns`` first (in the
caller's thread, which may wait for the answer; the seed resolved them too).
"""

from __future__ import annotations

import errno
import ipaddress
from collections import deque
from typing import Any

from pystack.apps.calls import in_reactor
from pystack.layers.layer import Layer, unwrap

Address = tuple[str, int]


class UDPApplication(Layer):
    """One UDP endpoint (one local port)."""

    name = "Raw"
    fast = True

    def __init__(self, max_queue: int = 1024) -> None:
        super().__init__()
        self.localPort: int | None = None
        self.remote: Address | None = None
        self.data: deque[tuple[bytes, Address]] = deque()
        self.max_queue = max_queue
        self.dropped = 0
        self.errors: list[tuple[str, int, Address]] = []
        self.stack: Any = None  # set by stack.register_udp_application (names resolve there)

    def _udp(self) -> Any:
        udp = self.lowerLayers.get("default")
        if udp is None:
            raise RuntimeError(
                "register the application first: stack.register_udp_application(app)"
            )
        return udp

    def _reactor_clock(self) -> Any:
        udp = self.lowerLayers.get("default")
        return udp.clock if udp is not None else None

    def _address(self, host: str) -> str:
        """``host`` as an IP address (an IPv6 literal is kept): names go through
        ``stack.dns`` (blocking)."""
        parts = host.split(".")
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return host
        if ":" in host:
            return str(ipaddress.IPv6Address(host))
        if self.stack is None:
            raise ValueError(f"{host!r} is not an IPv4 address (and no stack to resolve it)")
        return str(self.stack.dns.nslookup(host))

    # -- addressing -----------------------------------------------------------------------

    @in_reactor
    def bind(self, port: int = 0, app: Any = None, fork: Any = None) -> int:
        """Receive on ``port`` (0: an ephemeral one); the seed's signature. Returns the port."""
        if app is not None and app is not self:
            app.register_lower_layer("default", self._udp())
            return int(app.bind(port))
        if self.localPort is not None:
            raise OSError(errno.EINVAL, f"already bound to port {self.localPort}")
        self.localPort = self._udp().bind(port, self)
        return self.localPort

    def connect(self, ip: str, port: int) -> None:
        """Fix the peer: ``send_packet`` goes there and only its datagrams are kept."""
        self._connect(self._address(ip), int(port))

    @in_reactor
    def _connect(self, ip: str, port: int) -> None:
        self.remote = (ip, port)
        if self.localPort is None:
            self.bind(0)

    @in_reactor
    def close(self) -> None:
        """Release the port."""
        if self.localPort is not None:
            self._udp().unbind(self.localPort, self)
        self.localPort = None
        self.remote = None

    def get_self_addr(self) -> Address:
        return (self._udp().layer("IP").address, self.localPort or 0)

    def get_conn_addr(self) -> Address | None:
        return self.remote

    # -- sending --------------------------------------------------------------------------

    def sendto(self, data: bytes, address: Address) -> None:
        """Send one datagram to ``address`` = (ip or name, port)."""
        self._sendto(data, self._address(address[0]), address[1])

    @in_reactor
    def _sendto(self, data: bytes, ip: str, port: int) -> None:
        self.send_packet(data, IP={"dst": ip}, UDP={"dport": port})

    @in_reactor
    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        """Send one datagram to the connected peer, or to ``IP["dst"]`` / ``UDP["dport"]``."""
        ip = dict(kwargs.get("IP") or {})
        udp = dict(kwargs.get("UDP") or {})
        if "dst" not in ip or "dport" not in udp:
            if self.remote is None:
                raise OSError(errno.EDESTADDRREQ, "no destination: connect() or sendto()")
            ip.setdefault("dst", self.remote[0])
            udp.setdefault("dport", self.remote[1])
        if self.localPort is None:
            self.bind(0)
        udp["sport"] = self.localPort
        self.transfer_packet(bytes(packet), IP=ip, UDP=udp)

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """A datagram arrived (bytes); queues it with its sender by default."""
        ip, udp = unwrap(kwargs["IP"]), unwrap(kwargs["UDP"])
        peer = (ip.src, udp.src_port)
        if self.remote is not None and peer != self.remote:
            self.dropped += 1
            return
        if len(self.data) >= self.max_queue:
            self.dropped += 1
            return
        self.data.append((bytes(packet), peer))

    @in_reactor
    def recvfrom(self, size: int | None = None) -> tuple[bytes, Address] | None:
        """The oldest datagram and its sender, or None; beyond ``size`` bytes is discarded."""
        if not self.data:
            return None
        payload, peer = self.data.popleft()
        return (payload if size is None else payload[:size]), peer

    @in_reactor
    def fetch_data(self, size: int | None = None) -> bytes:
        """The oldest datagram's bytes (b"" when none), as the seed's non-blocking call."""
        got = self.recvfrom(size)
        return got[0] if got is not None else b""

    @in_reactor
    def fetch_data_from(self, size: int | None = None) -> tuple[str, int, bytes] | None:
        """The seed's (ip, port, data) of the oldest datagram, or None."""
        got = self.recvfrom(size)
        return None if got is None else (got[1][0], got[1][1], got[0])

    def icmp_error_received(self, kind: str, code: int, quoted_ip: Any) -> None:
        """An ICMP error about a datagram we sent (e.g. port unreachable); kept in ``errors``."""
        dport = int.from_bytes(quoted_ip.payload[2:4], "big")
        self.errors.append((kind, code, (quoted_ip.dst, dport)))
