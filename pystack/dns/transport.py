"""DNS on the stack: the resolver's UDP and TCP transports, and a tiny server for tests.

* :class:`StackUdp` opens one :class:`UDPApplication` per query attempt (each with its own
  random source port, RFC 5452 §9.2) and hands datagrams with their real sender to the
  resolver.
* :class:`StackTcp` opens a :class:`TCPApplication` connection to a server that truncated
  its answer and speaks RFC 7766 framing on it.
* :class:`TinyDnsServer` answers A/AAAA/CNAME questions from a dict over UDP (and
  truncates answers larger than 512 bytes, RFC 1035 §4.2.1), for tests and demos.
* :func:`resolver_for_stack` builds the stack's ``DNSResolver`` on these.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.dns.resolver import DNSResolver, DnsStream
from pystack.layers.layer import unwrap
from pystack.wire import Malformed
from pystack.wire import dns as wire

UDP_LIMIT = 512  # RFC 1035 §4.2.1: without EDNS, UDP answers are at most 512 bytes
Receive = Any  # Callable[[bytes, tuple[str, int]], None]


class _QueryPort(UDPApplication):
    """One source port of one query attempt; datagrams go straight to the resolver."""

    def __init__(self, receive: Receive) -> None:
        super().__init__(max_queue=0)
        self._receive = receive

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        ip, udp = unwrap(kwargs["IP"]), unwrap(kwargs["UDP"])
        self._receive(bytes(packet), (ip.src, udp.src_port))


class StackUdp:
    """The resolver's :class:`~pystack.dns.resolver.UdpPortOpener` on a stack's UDP layer."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack

    def open_udp(self, port: int, receive: Receive) -> _QueryPort:
        app = _QueryPort(receive)
        self.stack.register_udp_application(app)
        app.bind(port)  # OSError(EADDRINUSE) when taken: the resolver picks another
        return app


class _StreamApp(TCPApplication):
    """A TCP connection carrying length-prefixed DNS messages (RFC 7766 §8)."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._waiting: Deferred[bytes] | None = None

    def query(self, message: bytes) -> Deferred[bytes]:
        self._waiting = Deferred()
        self.send_packet(wire.frame_tcp(message))
        return self._waiting

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self._buffer += packet
        if len(self._buffer) < 2:
            return
        length = int.from_bytes(self._buffer[:2], "big")
        if len(self._buffer) < 2 + length or self._waiting is None:
            return
        message = bytes(self._buffer[2 : 2 + length])
        del self._buffer[: 2 + length]
        waiting, self._waiting = self._waiting, None
        waiting.callback(message)

    def connection_lost(self, reason: Any) -> None:
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.errback(ConnectionResetError(errno.ECONNRESET, f"DNS over TCP: {reason}"))


class StackTcp:
    """The resolver's :class:`~pystack.dns.resolver.StreamConnector` on a stack's TCP."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack

    def connect_tcp(self, server: tuple[str, int]) -> Deferred[DnsStream]:
        app = _StreamApp()
        self.stack.register_tcp_application(app)

        def established(ok: bool) -> DnsStream:
            if not ok:
                app.close()
                raise ConnectionRefusedError(errno.ECONNREFUSED, f"TCP to {server[0]} failed")
            return app

        connecting: Deferred[bool] = app.connect_deferred(server[0], server[1])
        return connecting.addCallback(established)


def resolver_for_stack(stack: Any, **options: Any) -> DNSResolver:
    """The stack's resolver: its clock, rng and stats, UDP and TCP; ``options`` go to
    :class:`DNSResolver` (``servers=``, ``timeout=``, ...)."""
    options.setdefault("tcp", StackTcp(stack))
    resolver = DNSResolver(
        StackUdp(stack),
        clock=stack.clock,
        rng=getattr(stack, "rng", None),
        stats=getattr(stack, "stats", None),
        **options,
    )
    ethernet = getattr(stack, "ethernet", None)
    if ethernet is not None:  # the stack's observer (and transition log) sees its queries
        resolver.observer = ethernet._context().notify
    return resolver


class TinyDnsServer(UDPApplication):
    """An authoritative toy server for tests and demos (never for a real network).

    ``records`` maps a name to a list of addresses (A, or AAAA when they contain ":") or to
    ``"CNAME target"``; other names get NXDOMAIN. ``ttl`` is every record's TTL.
    """

    def __init__(self, records: Mapping[str, Sequence[str] | str], ttl: int = 300) -> None:
        super().__init__(max_queue=0)
        self.records = {name.lower().rstrip("."): value for name, value in records.items()}
        self.ttl = ttl
        self.queries: list[wire.DnsMessage] = []

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        ip, udp = unwrap(kwargs["IP"]), unwrap(kwargs["UDP"])
        try:
            query = wire.parse(bytes(packet))
        except Malformed:
            return
        if query.qr or len(query.questions) != 1:
            return
        self.queries.append(query)
        self.sendto(self.answer(query), (ip.src, udp.src_port))

    def answer(self, query: wire.DnsMessage, limit: int = UDP_LIMIT) -> bytes:
        """The response bytes for ``query``, truncated (TC set) past ``limit`` bytes."""
        question = query.questions[0]
        answers = tuple(self._chain(question.name, question.qtype))
        rcode = wire.RCODE_NOERROR if answers or self._known(question.name) else 3
        response = wire.make_response(query, answers, rcode=rcode)
        data = wire.emit(response)
        if len(data) > limit:  # RFC 1035 §4.2.1: truncate and set TC
            data = wire.emit(wire.make_response(query, tc=True))
        return data

    def serve_tcp(self, stack: Any, port: int = 53) -> TCPApplication:
        """Also answer over TCP on ``port`` (RFC 7766), without the 512-byte limit."""
        app = _TinyTcp(self)
        stack.register_tcp_application(app)
        app.bind(port, app, False)
        app.listen(16)
        return app

    def _known(self, name: str) -> bool:
        return name.lower().rstrip(".") in self.records

    def _chain(self, name: str, qtype: int) -> list[wire.DnsRecord]:
        out: list[wire.DnsRecord] = []
        for _ in range(16):
            value = self.records.get(name.lower().rstrip("."))
            if isinstance(value, str) and value.startswith("CNAME "):
                target = value.split(None, 1)[1]
                out.append(wire.DnsRecord(name, wire.TYPE_CNAME, 1, self.ttl, target))
                name = target
                continue
            for address in value or ():
                rtype = wire.TYPE_AAAA if ":" in address else wire.TYPE_A
                if rtype == qtype:
                    out.append(wire.DnsRecord(name, rtype, 1, self.ttl, address))
            break
        return out


class _TinyTcp(TCPApplication):
    """TinyDnsServer's TCP side: one buffer per client, length-prefixed messages."""

    def __init__(self, server: TinyDnsServer) -> None:
        super().__init__()
        self.server = server
        self.buffers: dict[Any, bytearray] = {}

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        conn = kwargs.get("id")
        buffer = self.buffers.setdefault(conn, bytearray())
        buffer += packet
        while len(buffer) >= 2 and len(buffer) >= 2 + int.from_bytes(buffer[:2], "big"):
            length = int.from_bytes(buffer[:2], "big")
            data = bytes(buffer[2 : 2 + length])
            del buffer[: 2 + length]
            try:
                query = wire.parse(data)
            except Malformed:
                continue
            if query.questions:
                self.server.queries.append(query)
                reply = self.server.answer(query, limit=0xFFFF)
                self.send_packet(wire.frame_tcp(reply), id=conn)
