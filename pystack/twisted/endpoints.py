"""Twisted endpoints over a stack: ``IStreamServerEndpoint`` and ``IStreamClientEndpoint``.

::

    from twisted.web.server import Site
    from twisted.web.static import File

    stack = PyStack(tap="tap0", ip="198.18.0.2/24")
    port = await PystackServerEndpoint(stack, 8080).listen(Site(File(".")))

Every call happens in the thread that runs the stack's clock (the reactor thread with a
real device; a test's ``Clock`` on the simulated wire). The string form,
``serverFromString(reactor, "pystack:8080:tap=tap0:ip=198.18.0.2/24")``, is in
:mod:`pystack.twisted.strports`.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, error, interfaces
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.python import log
from zope.interface import implementer

from pystack.tcp.config import CloseReason
from pystack.twisted.transport import SessionTransport

__all__ = ["ListeningPort", "PystackClientEndpoint", "PystackServerEndpoint"]


def tcp_address(ip: str, port: int) -> IPv4Address | IPv6Address:
    """Twisted's address of a TCP endpoint: ``IPv6Address`` for an IPv6 ``ip``."""
    if ":" in ip:
        return IPv6Address("TCP", ip, port)
    return IPv4Address("TCP", ip, port)


def _tcp_layer(stack: Any) -> Any:
    tcp = getattr(stack, "tcp", None)
    if tcp is None:
        raise RuntimeError(f"{stack!r} has no TCP layer")
    return tcp


@implementer(interfaces.IListeningPort)
class ListeningPort:
    """A listener of the stack serving a Twisted factory (returned by ``listen``)."""

    def __init__(self, stack: Any, port: int, factory: Any, backlog: int, interface: str) -> None:
        self.stack = stack
        self.port = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface or "0.0.0.0"
        self.listener: Any = None

    def startListening(self) -> None:
        """Open the listener (``OSError`` EADDRINUSE when the port is taken)."""
        if self.listener is not None:
            return
        self.listener = _tcp_layer(self.stack).listen(
            self.port, user=self, backlog=self.backlog, ip=self.interface
        )
        self.factory.doStart()

    def stopListening(self) -> defer.Deferred[None]:
        """Stop accepting; established connections go on until they close."""
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.close()
            self.factory.doStop()
        return defer.succeed(None)

    loseConnection = stopListening

    def getHost(self) -> IPv4Address | IPv6Address:
        ip = self.interface if self.interface not in ("0.0.0.0", "::") else None
        if ip is None:
            ip = self.stack.address6 if self.interface == "::" else self.stack.address
        return tcp_address(ip or self.interface, self.port)

    # -- the listener session's user

    def tcp_accepted(self, listener: Any, child: Any) -> None:
        """A client is established: build its protocol, or reset it if the factory says no."""
        addr = tcp_address(child.remote_ip, child.remote_port)
        try:
            protocol = self.factory.buildProtocol(addr)
        except Exception:
            log.err(None, "buildProtocol failed")
            protocol = None
        if protocol is None:
            child.user = None
            child.abort()
            return
        SessionTransport(child, protocol)
        # The session calls tcp_established on its (new) user right after this.

    def tcp_closed(self, session: Any, reason: CloseReason) -> None:
        self.listener = None

    def tcp_established(self, session: Any) -> None:
        pass

    tcp_readable = tcp_writable = tcp_eof = tcp_established

    def __repr__(self) -> str:
        return f"<pystack ListeningPort {self.interface}:{self.port} on {self.stack!r}>"


@implementer(interfaces.IStreamServerEndpoint)
class PystackServerEndpoint:
    """Listen on ``port`` of ``stack`` (``interface``: one of its addresses, "" for any)."""

    def __init__(self, stack: Any, port: int, backlog: int = 50, interface: str = "") -> None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"bad port {port}")
        self.stack, self.port = stack, int(port)
        self.backlog, self.interface = int(backlog), interface

    def listen(self, protocolFactory: Any) -> defer.Deferred[ListeningPort]:
        port = ListeningPort(self.stack, self.port, protocolFactory, self.backlog, self.interface)
        try:
            port.startListening()
        except OSError as exc:
            return defer.fail(error.CannotListenError(self.interface, self.port, exc))
        return defer.succeed(port)


class _Connecting:
    """The session's user until it is established: fires the endpoint's Deferred."""

    def __init__(self, factory: Any, d: defer.Deferred[Any], clock: Any) -> None:
        self.factory, self.d, self.clock = factory, d, clock
        self.session: Any = None
        self.timeout_call: Any = None

    def start(self, tcp: Any, host: str, port: int, timeout: float | None) -> None:
        self.session = tcp.connect(host, port, user=self)
        if timeout is not None and not self.d.called:
            self.timeout_call = self.clock.callLater(timeout, self._timed_out)

    def _timed_out(self) -> None:
        self.timeout_call = None
        if not self.d.called:
            self.session.user = None
            self.session.abort()
            self.d.errback(error.TimeoutError(string="connect timed out"))

    def cancel(self, d: defer.Deferred[Any]) -> None:
        """Deferred canceller: abort the opening connection."""
        self._stop_timer()
        if self.session is not None and self.session.user is self:
            self.session.user = None
            self.session.abort()
        # Deferred.cancel errbacks with CancelledError itself.

    def _stop_timer(self) -> None:
        if self.timeout_call is not None and self.timeout_call.active():
            self.timeout_call.cancel()
        self.timeout_call = None

    def tcp_established(self, session: Any) -> None:
        self._stop_timer()
        addr = tcp_address(session.remote_ip, session.remote_port)
        protocol = self.factory.buildProtocol(addr)
        if protocol is None:
            session.user = None
            session.abort()
            self.d.errback(error.ConnectError(string="the factory built no protocol"))
            return
        transport = SessionTransport(session, protocol)
        transport.start()
        self.d.callback(protocol)

    def tcp_closed(self, session: Any, reason: CloseReason) -> None:
        self._stop_timer()
        if self.d.called:
            return
        if reason is CloseReason.RESET:
            self.d.errback(error.ConnectionRefusedError(string="connection refused (RST)"))
        elif reason is CloseReason.TIMED_OUT:
            self.d.errback(error.TCPTimedOutError(string="SYN retransmissions unanswered"))
        elif reason is CloseReason.UNREACHABLE:
            self.d.errback(error.NoRouteError(string="ICMP unreachable"))
        else:
            self.d.errback(error.ConnectError(string=f"connection failed ({reason.value})"))

    def tcp_readable(self, session: Any) -> None:
        pass

    tcp_writable = tcp_eof = tcp_readable


@implementer(interfaces.IStreamClientEndpoint)
class PystackClientEndpoint:
    """Connect from ``stack`` to ``host:port``; ``host`` is an IPv4 or IPv6 address or a
    name (resolved through the stack's DNS resolver, A records). ``timeout`` in seconds of
    the stack's clock."""

    def __init__(self, stack: Any, host: str, port: int, timeout: float | None = 30.0) -> None:
        if not 0 < int(port) < 65536:
            raise ValueError(f"bad port {port}")
        self.stack, self.host, self.port, self.timeout = stack, host, int(port), timeout

    def connect(self, protocolFactory: Any) -> defer.Deferred[Any]:
        d = self._address()
        d.addCallback(self._connect, protocolFactory)
        return d

    def _address(self) -> defer.Deferred[str]:
        if _is_ipv4(self.host) or ":" in self.host:  # an IPv6 literal is not a name
            return defer.succeed(self.host)
        from pystack.dns.transport import resolver_for_stack

        resolver = resolver_for_stack(self.stack)
        d = defer.maybeDeferred(resolver.resolve, self.host, "A")
        return d.addCallback(lambda answer: str(answer.values[0]))

    def _connect(self, ip: str, factory: Any) -> defer.Deferred[Any]:
        connecting = _Connecting(factory, defer.Deferred(), self.stack.clock)
        d: defer.Deferred[Any] = defer.Deferred(connecting.cancel)
        connecting.d = d
        try:
            connecting.start(_tcp_layer(self.stack), ip, self.port, self.timeout)
        except OSError as exc:
            return defer.fail(error.ConnectError(string=str(exc)))
        return d


def _is_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
