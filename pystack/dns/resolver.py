"""The stub resolver: DNS over the stack's UDP, with TCP fallback, a TTL cache and CNAMEs.

``DNSResolver.resolve(name, rdtype="A")`` returns a Deferred that fires with a
:class:`DnsAnswer` or fails with a :class:`DNSError` subclass (:class:`NXDomainError`,
:class:`NoDataError`, :class:`ServFailError`, :class:`DNSTimeoutError`, ...), all of them
``socket.gaierror`` so that the socket work-alike can raise them unchanged. Every query to
the network is a :class:`DnsQuery`, driven by ``machines/dns_query.toml``.

The resolver reaches the network through two small interfaces, so it runs on the stack, on
a test fake, or on anything else that moves datagrams:

* :class:`UdpPortOpener` opens a UDP port and delivers ``(payload, (ip, port))`` to a
  callback; :class:`StackUdp` adapts the stack's UDP layer.
* :class:`StreamConnector` opens a TCP connection (a :class:`DnsStream`) to a server that
  truncated its answer (RFC 7766).

The blocking :meth:`DNSResolver.nslookup` is the seed's name; it hands the work to the
reactor thread through :func:`pystack.reactor.blocking_call`.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import logging
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from pystack import reactor
from pystack.dns.cache import DnsCache
from pystack.fsm import StateMachine, bind_groups, bind_states, load_spec
from pystack.stats import Stats
from pystack.wire import Malformed
from pystack.wire import dns as wire

_LOG = logging.getLogger("pystack.dns")

LAYER = "DNS"
DNS_PORT = 53
RESOLV_CONF = "/etc/resolv.conf"
EPHEMERAL_PORTS = (1024, 65536)  # RFC 5452 §10: as large a source-port range as possible


# ---------------------------------------------------------------- errors


class DNSError(socket.gaierror):
    """A name could not be resolved. ``errno`` is a ``socket.EAI_*`` code like libc's."""

    code = socket.EAI_FAIL
    text = "Non-recoverable failure in name resolution"

    def __init__(self, name: str, detail: str = "") -> None:
        message = f"{self.text} ({name}{': ' + detail if detail else ''})"
        super().__init__(self.code, message)
        self.name = name
        self.detail = detail


class NXDomainError(DNSError):
    """The name does not exist (RCODE 3, RFC 1035 §4.1.1)."""

    code = socket.EAI_NONAME
    text = "Name or service not known"
    negative_ttl = 0  # how long the answer may be cached (RFC 2308 §5)


class NoDataError(DNSError):
    """The name exists but has no record of the type asked for (RFC 2308 §2.2)."""

    code = getattr(socket, "EAI_NODATA", socket.EAI_NONAME)
    text = "No address associated with hostname"


class ServFailError(DNSError):
    """Every server answered with a failure (SERVFAIL, REFUSED, ...)."""

    code = socket.EAI_AGAIN
    text = "Temporary failure in name resolution"


class DNSTimeoutError(DNSError, TimeoutError):
    """No server answered in time, after every retry."""

    code = socket.EAI_AGAIN
    text = "Temporary failure in name resolution (timed out)"


class TruncatedError(DNSError):
    """The answer was truncated and no TCP transport is available to ask again."""


class CnameLoopError(DNSError):
    """A CNAME chain loops or is longer than the resolver follows."""


class Drop(enum.Enum):
    """Why a datagram that reached a query port was ignored (RFC 5452 §9.1 matching)."""

    MALFORMED = "malformed"
    WRONG_SOURCE = "wrong_source"
    NOT_RESPONSE = "not_response"
    WRONG_ID = "wrong_id"
    WRONG_QUESTION = "wrong_question"
    LATE = "late"


# ---------------------------------------------------------------- transports


class UdpPort(Protocol):
    """An open UDP port of the stack, as the resolver uses it."""

    def sendto(self, data: bytes, address: tuple[str, int]) -> None: ...
    def close(self) -> None: ...


class UdpPortOpener(Protocol):
    """Opens a UDP port; ``open_udp`` raises ``OSError(EADDRINUSE)`` when it is taken."""

    def open_udp(self, port: int, receive: Callable[[bytes, tuple[str, int]], None]) -> UdpPort: ...


class DnsStream(Protocol):
    """A TCP connection to a DNS server (RFC 7766), as the resolver uses it."""

    def query(self, message: bytes) -> Deferred[bytes]:
        """Send ``message`` length-prefixed (RFC 1035 §4.2.2); fire with the reply's bytes."""
        ...

    def close(self) -> None: ...


class StreamConnector(Protocol):
    """Opens TCP connections to DNS servers; only used when a UDP answer is truncated."""

    def connect_tcp(self, server: tuple[str, int]) -> Deferred[DnsStream]: ...


# ---------------------------------------------------------------- configuration


def read_resolv_conf(path: str = RESOLV_CONF) -> list[str]:
    """The IPv4 ``nameserver`` addresses of a resolv.conf file, in order ([] if none)."""
    servers = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                servers.append(str(ipaddress.IPv4Address(fields[1])))
            except ValueError:
                continue  # IPv6 servers: this stack speaks IPv4 only
    return servers


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """A successful resolution.

    ``values`` are the record data of type ``rdtype`` at the end of the CNAME chain
    (address strings for A/AAAA); ``ttl`` is what is left of their lifetime.
    """

    name: str
    rdtype: int
    canonical_name: str
    values: tuple[Any, ...]
    ttl: int
    from_cache: bool = False


# ---------------------------------------------------------------- one query


@dataclass(slots=True)
class _Try:
    server: str
    timeout: float


@dataclass(slots=True)
class _Outstanding:
    ident: int
    server: str
    port: UdpPort


class DnsState:
    """The states of ``machines/dns_query.toml`` (checked against it at import)."""

    SENDING: Final = "SENDING"
    WAITING: Final = "WAITING"
    RETRYING: Final = "RETRYING"
    TCP_CONNECTING: Final = "TCP_CONNECTING"
    TCP_WAITING: Final = "TCP_WAITING"
    ANSWERED: Final = "ANSWERED"
    FAILED: Final = "FAILED"


@dataclass(frozen=True, slots=True)
class DnsGroups:
    """The ``[groups]`` of ``machines/dns_query.toml``."""

    final: frozenset[str]
    waiting_udp: frozenset[str]
    over_tcp: frozenset[str]


_SPEC = load_spec("dns_query")
bind_states(_SPEC, DnsState)
DNS_GROUPS: Final = bind_groups(_SPEC, DnsGroups)


class DnsQuery(StateMachine, machine="dns_query"):
    """One question asked of the configured servers until answered, refused or timed out.

    Hooks and conditions are the names ``machines/dns_query.toml`` declares; a subclass may
    override any of them. ``result`` fires with the accepted response message, or fails
    with a :class:`DNSError`.
    """

    def __init__(self, resolver: DNSResolver, question: wire.DnsQuestion) -> None:
        self.resolver = resolver
        self.question = question
        self.result: Deferred[wire.DnsMessage] = Deferred()
        self.tries = resolver.schedule()
        self.try_index = 0
        self.ident = -1
        self.outstanding: list[_Outstanding] = []
        self.failures: list[str] = []
        self.stream: DnsStream | None = None
        self._timer: Any = None  # an IDelayedCall while waiting

    @property
    def server(self) -> str:
        """The server of the current attempt."""
        return self.tries[self.try_index].server

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        """After every transition: log it and tell the resolver's observer, if any."""
        super().on_state_change(old, trigger, new)
        if self.resolver.observer is not None:
            self.resolver.observer(self, old, trigger, new)

    def cancel(self) -> None:
        """Give up: the result fails with a DNSError (no-op once final)."""
        if self.state not in DNS_GROUPS.final:
            self.fire("app_cancel")

    # -- conditions

    def have_attempts_left(self, **kw: Any) -> bool:
        """True while the (server, timeout) schedule has another attempt."""
        return self.try_index + 1 < len(self.tries)

    # -- hooks over UDP

    def next_server(self, **kw: Any) -> None:
        """Advance the schedule: the next server, round robin (RFC 1035 §7.2)."""
        self.try_index += 1

    def choose_id_and_port(self, **kw: Any) -> None:
        """A fresh random ID and source port for each attempt (RFC 5452 §9.2)."""
        self.ident = self.resolver.rng.randrange(0x10000)
        server = self.server
        port = self.resolver.open_port(self._receiver(self.ident, server))
        self.outstanding.append(_Outstanding(self.ident, server, port))

    def send_udp_query(self, **kw: Any) -> None:
        """Send the question to the current server, port 53 (RFC 1035 §4.2.1)."""
        message = wire.emit(wire.make_query(self.ident, self.question.name, self.question.qtype))
        self.resolver.stats.incr(LAYER, "queries_sent")
        self.outstanding[-1].port.sendto(message, (self.server, self.resolver.port))

    def start_retry_timer(self, **kw: Any) -> None:
        """Arm the answer timer for this attempt (its timeout grows per round)."""
        self.cancel_timer()
        delay = self.tries[self.try_index].timeout
        self._timer = self.resolver.clock.callLater(delay, self.fire, "timeout_answer")

    def cancel_timer(self, **kw: Any) -> None:
        """Disarm the answer timer (idempotent)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- hooks over TCP

    def open_tcp_connection(self, **kw: Any) -> None:
        """Connect to the server that truncated its answer (RFC 7766 §5), within a timeout."""
        connector = self.resolver.tcp
        if connector is None:
            self.fire("tcp_failed", error=TruncatedError(self.question.name, "no TCP transport"))
            return
        timeout = self.tries[self.try_index].timeout
        self._timer = self.resolver.clock.callLater(
            timeout, self._tcp_failed, Failure(TimeoutError("TCP connect timed out"))
        )
        self.resolver.stats.incr(LAYER, "tcp_fallbacks")
        connecting = connector.connect_tcp((self.server, self.resolver.port))
        connecting.addCallbacks(self._on_tcp_connected, self._tcp_failed)

    def send_tcp_query(self, **kw: Any) -> None:
        """Send the question over TCP, length-prefixed by the stream (RFC 7766 §8)."""
        assert self.stream is not None
        self.ident = self.resolver.rng.randrange(0x10000)
        message = wire.emit(wire.make_query(self.ident, self.question.name, self.question.qtype))
        reply = self.stream.query(message)
        reply.addCallbacks(self._on_tcp_reply, self._tcp_failed, callbackArgs=(self.ident,))

    # -- final hooks

    def deliver_answer(self, response: wire.DnsMessage, **kw: Any) -> None:
        """NOERROR goes to the caller; NXDOMAIN is its own error (RFC 2308 §2.1)."""
        if response.rcode == wire.RCODE_NXDOMAIN:
            error = NXDomainError(self.question.name)
            error.negative_ttl = negative_ttl(response)
            self.result.errback(Failure(error))
        else:
            self.result.callback(response)

    def report_timeout(self, **kw: Any) -> None:
        """No server answered in time."""
        failed = f", after {', '.join(self.failures)}" if self.failures else ""
        detail = f"{len(self.tries)} tries{failed}"
        self.result.errback(Failure(DNSTimeoutError(self.question.name, detail)))

    def report_server_failure(self, **kw: Any) -> None:
        """The last server tried failed the query (SERVFAIL, REFUSED, ...)."""
        detail = ", ".join(self.failures)
        self.result.errback(Failure(ServFailError(self.question.name, detail)))

    def report_tcp_failure(self, error: BaseException | None = None, **kw: Any) -> None:
        """A truncated answer that TCP could not complete; RFC 2181 §9: no partial data."""
        if isinstance(error, DNSError):
            self.result.errback(Failure(error))
            return
        detail = f"truncated, and over TCP: {error}"
        self.result.errback(Failure(TruncatedError(self.question.name, detail)))

    def report_cancelled(self, **kw: Any) -> None:
        """The caller gave up."""
        self.result.errback(Failure(DNSError(self.question.name, "cancelled")))

    def finish_query(self, **kw: Any) -> None:
        """Cancel the timer, close the TCP stream and release every UDP port (idempotent)."""
        self.cancel_timer()
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        for out in self.outstanding:
            out.port.close()
        self.outstanding.clear()
        self.resolver.forget(self)

    # -- input

    def _receiver(self, ident: int, server: str) -> Callable[[bytes, tuple[str, int]], None]:
        def receive(data: bytes, source: tuple[str, int]) -> None:
            self.on_datagram(data, source, ident, server)

        return receive

    def on_datagram(self, data: bytes, source: tuple[str, int], ident: int, server: str) -> None:
        """A datagram reached one of our ports: accept it only if it matches (RFC 5452 §9.1).

        Any earlier attempt's port stays open, so a slow first server may still answer.
        """
        if self.state not in DNS_GROUPS.waiting_udp:
            self.resolver.drop(Drop.LATE)
            return
        # RFC 5452 §9.1: the reply must come from the address and port the query went to.
        if source != (server, self.resolver.port):
            self.resolver.drop(Drop.WRONG_SOURCE)
            return
        message = self._match(data, ident)
        if message is not None:
            self._classify(message, over_tcp=False)

    def _match(self, data: bytes, ident: int) -> wire.DnsMessage | None:
        try:
            message = wire.parse(data)
        except Malformed:
            self.resolver.drop(Drop.MALFORMED)
            return None
        if not message.qr or message.opcode != 0:
            self.resolver.drop(Drop.NOT_RESPONSE)
            return None
        if message.id != ident:
            self.resolver.drop(Drop.WRONG_ID)  # RFC 5452 §9.1: the ID must match
            return None
        # RFC 5452 §9.1: and so must the question (name case-insensitively, type, class).
        if len(message.questions) != 1 or not self._same_question(message.questions[0]):
            self.resolver.drop(Drop.WRONG_QUESTION)
            return None
        return message

    def _same_question(self, question: wire.DnsQuestion) -> bool:
        mine = self.question
        return (
            wire.names_equal(question.name, mine.name)
            and question.qtype == mine.qtype
            and question.qclass == mine.qclass
        )

    def _classify(self, message: wire.DnsMessage, *, over_tcp: bool) -> None:
        if message.tc and not over_tcp:
            self.fire("rcv_truncated", response=message)
        elif message.rcode in (wire.RCODE_NOERROR, wire.RCODE_NXDOMAIN):
            self.fire("rcv_answer", response=message)
        else:
            self.failures.append(_RCODE_NAMES.get(message.rcode, f"RCODE {message.rcode}"))
            self.fire("rcv_server_failure", response=message)

    def _on_tcp_connected(self, stream: DnsStream) -> None:
        if self.state != DnsState.TCP_CONNECTING:
            stream.close()
            return
        self.cancel_timer()
        self.stream = stream
        self.fire("tcp_connected")

    def _on_tcp_reply(self, data: bytes, ident: int) -> None:
        if self.state != DnsState.TCP_WAITING:
            self.resolver.drop(Drop.LATE)
            return
        message = self._match(data, ident)
        if message is None:
            self.fire("tcp_failed", error=ValueError("the TCP reply does not match the query"))
        else:
            self._classify(message, over_tcp=True)

    def _tcp_failed(self, failure: Failure) -> None:
        if self.state in DNS_GROUPS.over_tcp:
            self.fire("tcp_failed", error=failure.value)


_RCODE_NAMES = {
    wire.RCODE_FORMERR: "FORMERR",
    wire.RCODE_SERVFAIL: "SERVFAIL",
    wire.RCODE_NOTIMP: "NOTIMP",
    wire.RCODE_REFUSED: "REFUSED",
}


# ---------------------------------------------------------------- answers and CNAME chains


def _min_ttl(records: Sequence[wire.DnsRecord]) -> int:
    return min((record.ttl for record in records), default=0)


def negative_ttl(message: wire.DnsMessage) -> int:
    """How long a negative answer may be cached: min(SOA TTL, SOA MINIMUM), RFC 2308 §5.

    Without an SOA in the authority section it is not cached at all (RFC 2308 §5).
    """
    for record in message.authorities:
        if record.rtype == wire.TYPE_SOA and isinstance(record.data, wire.SoaData):
            return min(record.ttl, record.data.minimum)
    return 0


@dataclass(frozen=True, slots=True)
class _Walk:
    """Where a CNAME walk through one response ended."""

    name: str  # the last owner name reached
    values: tuple[Any, ...]  # data of the wanted type at ``name`` (empty: not in this message)
    records: tuple[wire.DnsRecord, ...]  # every record the walk used, for the TTL
    hops: int  # CNAMEs followed


def walk_cnames(message: wire.DnsMessage, name: str, qtype: int, seen: set[str]) -> _Walk:
    """Follow CNAMEs from ``name`` through the answer section (RFC 1034 §3.6.2).

    Raises CnameLoopError when a name comes back (``seen`` holds the names already
    visited, lower-cased, and is updated).
    """
    used: list[wire.DnsRecord] = []
    hops = 0
    while True:
        here = [r for r in message.answers if wire.names_equal(r.name, name)]
        wanted = [r for r in here if r.rtype == qtype and r.rclass == wire.CLASS_IN]
        if wanted:
            return _Walk(name, tuple(r.data for r in wanted), tuple(used + wanted), hops)
        alias = next((r for r in here if r.rtype == wire.TYPE_CNAME), None)
        if alias is None or not isinstance(alias.data, str):
            return _Walk(name, (), tuple(used), hops)
        target = alias.data.rstrip(".").lower()
        if target in seen:
            raise CnameLoopError(name, f"CNAME loop at {alias.data}")
        seen.add(target)
        used.append(alias)
        hops += 1
        name = alias.data


class _Chain:
    """One resolution: queries along a CNAME chain until data, a negative answer or a limit."""

    def __init__(self, resolver: DNSResolver, name: str, qtype: int) -> None:
        self.resolver = resolver
        self.name = name
        self.qtype = qtype
        self.current = name
        self.hops = 0
        self.seen = {name.rstrip(".").lower()}
        self.records: list[wire.DnsRecord] = []
        self.done: Deferred[DnsAnswer] = Deferred()

    def start(self) -> Deferred[DnsAnswer]:
        self._ask(self.current)
        return self.done

    def _ask(self, name: str) -> None:
        try:
            query = self.resolver.start_query(wire.DnsQuestion(name, self.qtype))
        except OSError as exc:  # no source port could be opened
            self.done.errback(Failure(DNSError(self.name, str(exc))))
            return
        query.result.addCallbacks(self._on_message, self._on_error)

    def _on_message(self, message: wire.DnsMessage) -> None:
        try:
            walk = walk_cnames(message, self.current, self.qtype, self.seen)
        except CnameLoopError as exc:
            self.done.errback(Failure(CnameLoopError(self.name, exc.detail)))
            return
        self.hops += walk.hops
        self.records.extend(walk.records)
        if self.hops > self.resolver.max_cname:
            self.done.errback(Failure(CnameLoopError(self.name, "CNAME chain too long")))
        elif walk.values:
            self._succeed(walk)
        elif walk.hops:
            self.current = walk.name  # the server stopped at an alias: ask for its target
            self._ask(walk.name)
        else:
            error = NoDataError(self.name, f"no {type_name(self.qtype)} record")
            self.resolver.cache_negative(self.name, self.qtype, error, negative_ttl(message))
            self.done.errback(Failure(error))

    def _succeed(self, walk: _Walk) -> None:
        ttl = _min_ttl(self.records)
        answer = DnsAnswer(self.name, self.qtype, walk.name, walk.values, ttl)
        self.resolver.cache.put(self.name, self.qtype, answer, ttl)
        self.done.callback(answer)

    def _on_error(self, failure: Failure) -> None:
        error = failure.value
        if isinstance(error, NXDomainError):
            # RFC 2308 §5: the NXDOMAIN (of the chain's last name) is cached for the query.
            error = NXDomainError(self.name, "" if self.current == self.name else self.current)
            ttl = getattr(failure.value, "negative_ttl", 0)
            self.resolver.cache_negative(self.name, self.qtype, error, ttl)
            failure = Failure(error)
        self.done.errback(failure)


# ---------------------------------------------------------------- the resolver


class DNSResolver:
    """A stub resolver (RFC 1034 §5.3.1) on a UDP port opener, with a clock and an rng.

    ``servers``: IPv4 addresses to ask, in order (default: /etc/resolv.conf). Each try
    waits ``timeout * backoff**round`` seconds; ``attempts`` rounds go through every server
    (RFC 1035 §4.2.1, RFC 1536 §1). ``tcp`` is the RFC 7766 fallback for truncated answers.
    """

    name = "DNS"  # the seed's layer name

    def __init__(
        self,
        udp: UdpPortOpener,
        *,
        clock: Any,
        rng: random.Random | None = None,
        stats: Stats | None = None,
        servers: Sequence[str] | None = None,
        port: int = DNS_PORT,
        timeout: float = 2.0,
        attempts: int = 2,
        backoff: float = 2.0,
        tcp: StreamConnector | None = None,
        cache_entries: int = 512,
        max_ttl: int = 86400,
        max_cname: int = 8,
        resolv_conf: str = RESOLV_CONF,
        query_class: type[DnsQuery] = DnsQuery,
    ) -> None:
        if timeout <= 0 or attempts < 1 or backoff < 1:
            raise ValueError("need timeout > 0, attempts >= 1 and backoff >= 1")
        chosen = list(servers) if servers is not None else read_resolv_conf(resolv_conf)
        self.servers = [str(ipaddress.IPv4Address(server)) for server in chosen]
        self.udp = udp
        self.tcp = tcp
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.stats = stats if stats is not None else Stats()
        self.port = port
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_cname = max_cname
        self.query_class = query_class
        self.cache: DnsCache[DnsAnswer | DNSError] = DnsCache(
            clock, max_entries=cache_entries, max_ttl=max_ttl
        )
        self._inflight: dict[tuple[str, int], list[Deferred[DnsAnswer]]] = {}
        self._active: set[DnsQuery] = set()
        # Called as observer(query, old, trigger, new) after each query's transitions (a
        # stack's resolver passes them to the stack's observer).
        self.observer: Callable[[DnsQuery, str, str, str], None] | None = None

    # -- used by DnsQuery

    def schedule(self) -> list[_Try]:
        """Every (server, timeout) one query tries, in order."""
        return [
            _Try(server, self.timeout * self.backoff**round_)
            for round_ in range(self.attempts)
            for server in self.servers
        ]

    def open_port(self, receive: Callable[[bytes, tuple[str, int]], None]) -> UdpPort:
        """Open a UDP port at a random source port (RFC 5452 §9.2), skipping taken ones."""
        for _ in range(32):
            port = self.rng.randrange(*EPHEMERAL_PORTS)
            try:
                return self.udp.open_udp(port, receive)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, "no free UDP source port for a DNS query")

    def start_query(self, question: wire.DnsQuestion) -> DnsQuery:
        """Create the machine for one question and send it."""
        query = self.query_class(self, question)
        self._active.add(query)
        try:
            query.fire("app_send")
        except OSError:
            query.finish_query()
            raise
        return query

    def forget(self, query: DnsQuery) -> None:
        """A query reached a final state."""
        self._active.discard(query)

    def stop(self) -> None:
        """Cancel every query in flight (their callers get a DNSError); ports are closed."""
        for query in list(self._active):
            query.cancel()

    def drop(self, reason: Drop) -> None:
        """Count a datagram ignored by a query."""
        self.stats.drop(LAYER, reason)

    def cache_negative(self, name: str, qtype: int, error: DNSError, ttl: int) -> None:
        """Remember a negative answer for ``ttl`` seconds (RFC 2308 §5)."""
        self.cache.put(name, qtype, error, ttl)

    # -- public API

    def resolve(self, name: str, rdtype: str | int = "A") -> Deferred[DnsAnswer]:
        """Resolve ``name``: a Deferred firing with a :class:`DnsAnswer` or a DNSError.

        An IPv4 (for A) or IPv6 (for AAAA) literal answers itself. ValueError for a name
        that cannot be put in a query.
        """
        qtype = wire.rdtype_code(rdtype)
        literal = _literal_answer(name, qtype)
        if literal is not None:
            return succeed(literal)
        wire.encode_name(name)  # ValueError now rather than inside the reactor
        cached = self.cache.get(name, qtype)
        if isinstance(cached, DNSError):
            self.stats.incr(LAYER, "cache_hits")
            return fail(type(cached)(name, "cached negative answer"))
        if cached is not None:
            self.stats.incr(LAYER, "cache_hits")
            ttl = self.cache.remaining_ttl(name, qtype) or 0
            return succeed(_cached(cached, ttl))
        if not self.servers:
            return fail(DNSError(name, "no DNS servers configured"))
        return self._join(name, qtype)

    def _join(self, name: str, qtype: int) -> Deferred[DnsAnswer]:
        # RFC 5452 §5: one outstanding query per question, or spoofing gets easier.
        key = (name.rstrip(".").lower(), qtype)
        mine: Deferred[DnsAnswer] = Deferred()
        waiting = self._inflight.get(key)
        if waiting is not None:
            waiting.append(mine)
            return mine
        self._inflight[key] = [mine]
        _Chain(self, name, qtype).start().addBoth(self._settle, key)
        return mine

    def _settle(self, result: DnsAnswer | Failure, key: tuple[str, int]) -> None:
        for waiter in self._inflight.pop(key, []):
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    def nslookup(self, name: str, rdtype: str | int = "A") -> str:
        """Blocking: the first address (or value) for ``name``; raises a DNSError.

        The seed's call, kept for real reactors; in code that runs on the reactor (and in
        tests under a Clock) use :meth:`resolve`.
        """
        return str(self.resolve_blocking(name, rdtype).values[0])

    def resolve_blocking(self, name: str, rdtype: str | int = "A") -> DnsAnswer:
        """Blocking :meth:`resolve`, for threads other than the reactor's.

        Under a test clock (or in the reactor thread) only a result that is ready at once
        (cache, literal) can be returned; otherwise :class:`pystack.reactor.WouldBlock`.
        """
        answer = reactor.blocking_call(self.resolve, name, rdtype, _reactor=self.clock)
        assert isinstance(answer, DnsAnswer)
        return answer


DNS = DNSResolver  # the seed's name for the stack's DNS layer


def _cached(answer: DnsAnswer, ttl: int) -> DnsAnswer:
    return DnsAnswer(
        answer.name, answer.rdtype, answer.canonical_name, answer.values, ttl, from_cache=True
    )


def type_name(qtype: int) -> str:
    """``28`` -> ``"AAAA"``; unknown types as ``TYPE<n>`` (RFC 3597 §5)."""
    for name, code in wire.TYPE_NAMES.items():
        if code == qtype:
            return name
    return f"TYPE{qtype}"


def _literal_answer(name: str, qtype: int) -> DnsAnswer | None:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    if (address.version, qtype) not in ((4, wire.TYPE_A), (6, wire.TYPE_AAAA)):
        return None
    return DnsAnswer(name, qtype, name, (str(address),), 0)
