"""`TCPApplication`: the seed's TCP application API, with Python 3 bytes.

A server::

    class Echo(TCPApplication):
        def packet_received(self, data, **kwargs):
            self.send_packet(data, **kwargs)

    app = Echo(); stack.register_tcp_application(app)
    app.bind(8888, app, False); app.listen(5)

`bind(port, app=None, newinstance=False)` chooses which application serves each accepted
client (the seed's §2.4.3): ``app`` (``self`` when None) either shared by every client
(``newinstance=False``; data arrives with ``id=`` the connection's 4-tuple and replies pass
it back) or copied per client (``newinstance=True``: ``app.fork()``, by default
``type(app)()``). Named or not, ``app``'s hooks (`connection_made`, `packet_received`...)
run for each client. Whether clients wait for `accept()` is said by the call, never by which
hooks a class overrides: after ``bind(port)`` every established connection waits in the
listen queue (at most ``backlog``; a full queue holds new clients back) until `accept()`
takes it, as with a socket; ``bind(port, app, ...)`` attaches each client to ``app`` at
once (the 2013 PyStack's push-style server), so the queue never fills, and `accept()`
then only hands out the clients established while it waits.

The blocking calls (`connect`, `accept`) wrap `connect_deferred` / `accept_deferred`, which
is what code on the reactor thread (and tests under a `Clock`) uses.

Threads: in thread mode (``stack.run(doreactor=False)``) every call a user makes from their
own thread (`bind`, `listen`, `accept`, `connect`, `send_packet`, `send`, `fetch_data`,
`close`, `shutdown`, `abort`) runs in the reactor thread and returns its result there
(:mod:`pystack.apps.calls`); hooks run in the reactor thread and call them in place.

`packet_received` runs for every arrival, overridden or not: its default keeps the bytes for
`fetch_data` in the connection's receive buffer (flow control: the window shrinks while they
wait); an override has taken them, and may keep some through ``super()``.

`send_packet` never loses bytes: what the session's send buffer cannot take yet waits in
the application, in order, and goes out as the peer acknowledges (`tcp_writable`; a subclass
overriding it calls ``super().tcp_writable(session)``); `close` sends FIN after it. `send`
takes only what fits and returns the count, as a socket does.
"""

from __future__ import annotations

import collections
import socket
from typing import Any

from twisted.internet import defer

from pystack.apps.calls import in_reactor
from pystack.layers.layer import Layer
from pystack.reactor import blocking_call
from pystack.tcp.config import CloseReason
from pystack.tcp.session import TCPSession
from pystack.tcp.states import TCP, S

__all__ = ["TCPApplication"]

ConnId = tuple[str, int, str, int]


def _is_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def _is_ipv6(host: str) -> bool:
    """An IPv6 literal (``"2001:db8::1"``): connected to as it is, not resolved."""
    try:
        socket.inet_pton(socket.AF_INET6, host)
    except (OSError, TypeError, ValueError):
        return False
    return True


def _conn_id(session: TCPSession) -> ConnId:
    return (session.remote_ip or "", session.remote_port or 0, session.local_ip,
            session.local_port)  # fmt: skip


class TCPApplication(Layer):
    """One TCP application: a client connection, a server, or a served client."""

    name = "Raw"
    fast = True
    _attach = False
    """True once bind() named the application serving the clients (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.tcp: Any = None
        self.session: TCPSession | None = None
        self.sessions: dict[ConnId, TCPSession] = {}
        self.lastclient: ConnId | None = None
        self.eof = False
        self.close_reason: CloseReason | None = None
        self._port: int | None = None
        self._serve_app: TCPApplication | None = None  # None: this one (no self-reference)
        self._newinstance = False
        self._listener: TCPSession | None = None
        # Created on first use, and sets kept as dicts (an empty dict is not tracked by the
        # cyclic GC): a newinstance server's per-connection copy lives through TIME_WAIT.
        self._waiting_accept: collections.deque[defer.Deferred[Any]] | None = None
        self._connecting: defer.Deferred[bool] | None = None
        self._timeout_call: Any = None
        self.stack: Any = None  # set by stack.register_tcp_application (names resolve there)
        self._unsent: dict[TCPSession, bytearray] = {}  # beyond the send buffer, in order
        # Closes waiting for send_packet's bytes: True for both directions (close()).
        self._close_after_unsent: dict[TCPSession, bool] = {}
        self._read_shut: dict[TCPSession, None] = {}  # shutdown(SHUT_RD): reads see EOF
        # Received bytes packet_received kept for fetch_data, at the buffer's front.
        self._kept: dict[TCPSession, int] = {}
        # The arrival packet_received is handling: (session, bytes kept before, bytes),
        # still in the buffer until the hook keeps them or is done (see _settle).
        self._delivering: tuple[TCPSession, int, bytes] | None = None

    # ============================================================================ hooks

    def connection_made(self) -> None:
        """Hook: the connection is established (for a shared server, ``lastclient``'s)."""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        """Hook: bytes arrived; ``kwargs["id"]`` is the connection's 4-tuple.

        Called for every arrival, overridden or not. This default keeps the bytes in the
        connection's receive buffer, where they wait for `fetch_data` (the advertised window
        shrinks meanwhile: flow control). An override has taken them; it may hand bytes to
        ``super().packet_received(packet, **kwargs)`` (the same or transformed) to keep
        them for `fetch_data` instead.
        """
        delivering = self._delivering
        if delivering is not None and delivering[2] is packet:
            # The bytes being delivered are still in the buffer, after those kept before.
            self._delivering = None
            session, kept, _ = delivering
        else:  # other bytes (transformed), or these after the hook took them out
            self._settle()
            session = self._target(kwargs)
            session.unread(packet)
            kept = self._kept.get(session, 0)
        self._kept[session] = kept + len(packet)

    def connection_lost(self, reason: CloseReason) -> None:
        """Hook: the connection ended; ``reason`` tells a clean close (CLOSED), a reset
        (RESET), a timeout (TIMED_OUT) and a local abort (ABORTED) apart (RFC 9293 MUST-12)."""

    def eof_received(self) -> bool:
        """Hook: the peer finished sending (its FIN). Return True to keep the connection
        half-open and close later yourself; by default (False) our side closes too once
        the queued data is sent, as Twisted does for protocols that are not half-closeable.
        """
        return False

    def fork(self) -> TCPApplication:
        """The application serving one client of a ``newinstance=True`` server."""
        return type(self)()

    # ========================================================================== binding

    def _layer(self) -> Any:
        if self.tcp is None:
            raise RuntimeError(
                "register the application first: stack.register_tcp_application(app)"
            )
        return self.tcp

    def _reactor_clock(self) -> Any:
        return self.tcp.clock if self.tcp is not None else None

    @in_reactor
    def bind(self, port: int, app: TCPApplication | None = None, newinstance: bool = False) -> None:
        """Choose the port to listen on and who serves the clients (see the module doc):
        with ``app`` given (even ``self``), clients are attached to it without waiting in
        the listen queue; without, they wait there for `accept()`."""
        if not 0 < int(port) < 65536:
            raise ValueError(f"bad port {port}")
        self._port = int(port)
        self._serve_app = app if app is not self else None
        if app is not None or self._attach:
            self._attach = app is not None  # an instance attribute only when set
        self._newinstance = bool(newinstance)

    @in_reactor
    def listen(self, backlog: int = 5) -> None:
        """Start listening; ``backlog`` bounds the established connections awaiting accept."""
        if self._port is None:
            raise RuntimeError("bind(port) before listen()")
        self._listener = self._layer().listen(self._port, user=self, backlog=max(backlog, 1))
        self.session = self._listener

    def accept_deferred(self, timeout: float | None = None) -> defer.Deferred[Any]:
        """A Deferred firing with the next established client's application."""
        listener = self._listener
        if listener is None:
            raise RuntimeError("listen() before accept()")
        d: defer.Deferred[Any] = defer.Deferred()
        if listener.accept_queue:
            d.callback(self._app_for(listener.next_accepted()))
            return d
        if self._waiting_accept is None:
            self._waiting_accept = collections.deque()
        self._waiting_accept.append(d)
        if timeout is not None:
            call = self._layer().clock.callLater(timeout, self._accept_timeout, d)
            d.addBoth(lambda r: (call.cancel() if call.active() else None, r)[1])
        return d

    def _accept_timeout(self, d: defer.Deferred[Any]) -> None:
        if self._waiting_accept and d in self._waiting_accept:
            self._waiting_accept.remove(d)
            d.errback(TimeoutError("accept() timed out"))

    def accept(self, timeout: float | None = None) -> TCPApplication:
        """Block until a client is established; returns the application serving it."""
        return blocking_call(self.accept_deferred, timeout, _reactor=self._reactor_clock())

    def connect_deferred(self, host: str, port: int, timeout: float | None = None) -> Any:
        """A Deferred firing True once established, False on refusal, reset or timeout.

        A host name is resolved first through ``stack.dns`` (the seed did); a name that
        does not resolve fails the Deferred with the resolver's DNSError.
        """
        if self.session is not None and self.session.state != TCP.CLOSED:
            raise RuntimeError(f"already connected or connecting ({self.session.state})")
        layer = self._layer()
        if _is_ipv4(host) or _is_ipv6(host):
            return self._open(host, int(port), timeout)
        if self.stack is None:
            raise ValueError(f"{host!r} is not an IPv4 address (and no stack to resolve it)")
        resolving = self.stack.dns.resolve(host, "A")
        return resolving.addCallback(
            lambda answer: self._open(str(answer.values[0]), int(port), timeout, layer)
        )

    def _open(self, ip: str, port: int, timeout: float | None, layer: Any = None) -> Any:
        d: defer.Deferred[bool] = defer.Deferred()
        self._connecting = d
        layer = layer or self._layer()
        self.session = layer.connect(ip, port, user=self)
        if timeout is not None and self._connecting is not None:
            self._timeout_call = layer.clock.callLater(timeout, self._connect_timeout)
        return d

    def _connect_timeout(self) -> None:
        self._timeout_call = None
        if self._connecting is not None and self.session is not None:
            self.session.abort()

    def connect(self, host: str, port: int, timeout: float | None = None) -> bool:
        """Connect to ``host:port``; True once established, False otherwise (the seed's API).

        Host names are resolved through ``stack.dns``; one that does not resolve raises the
        resolver's error (a ``socket.gaierror``), as the seed raised.
        """
        result = blocking_call(self.connect_deferred, host, port, timeout,
                               _reactor=self._reactor_clock())  # fmt: skip
        return bool(result)

    # ============================================================================= data

    def _target(self, kwargs: dict[str, Any]) -> TCPSession:
        conn = kwargs.get("id")
        if conn is not None and conn in self.sessions:
            return self.sessions[conn]
        if self.sessions:  # a shared server: the last client heard from (the seed's rule)
            if self.lastclient in self.sessions:
                return self.sessions[self.lastclient]
            return next(reversed(self.sessions.values()))
        if self.session is None or self.session.state in S.unconnected:
            raise ConnectionError("not connected")
        return self.session

    @in_reactor
    def send_packet(self, packet: bytes, **kwargs: Any) -> None:
        """Send bytes on the connection (``id=`` selects a shared server's client); what the
        send buffer cannot take now is kept, in order, and sent as room frees up."""
        session = self._target(kwargs)
        data = bytes(packet)
        if session in self._close_after_unsent:
            raise ConnectionError("cannot send after close/shutdown")
        pending = self._unsent.get(session)
        if pending is not None:
            pending += data
            return
        taken = session.send(data)
        if taken < len(data):
            self._unsent[session] = bytearray(data[taken:])

    @in_reactor
    def send(self, data: bytes, **kwargs: Any) -> int:
        """Send bytes; returns how many the send buffer took (0 while `send_packet` bytes
        still wait for room, so that the order stays)."""
        session = self._target(kwargs)
        if session in self._unsent:
            return 0
        return session.send(bytes(data))

    @in_reactor
    def fetch_data(self, size: int | None = None) -> bytes:
        """Non-blocking: return (and remove) up to ``size`` received bytes, b"" if none
        (always b"" after ``shutdown(0)``)."""
        self._settle()
        out = bytearray()
        for session in self._data_sessions():
            want = None if size is None else size - len(out)
            if want == 0:
                break
            if session in self._read_shut:
                session.read()  # discarded: the window stays open, the peer is ACKed
                self._kept.pop(session, None)
            else:
                data = session.read(want)
                out += data
                self._taken_kept(session, len(data))
            if session.state == TCP.CLOSED and not session.readable and session is not self.session:
                self.sessions.pop(_conn_id(session), None)
        return bytes(out)

    def _taken_kept(self, session: TCPSession, n: int) -> None:
        left = self._kept.pop(session, 0) - n
        if left > 0:
            self._kept[session] = left

    def _data_sessions(self) -> list[TCPSession]:
        if self.sessions:
            return list(self.sessions.values())
        return [self.session] if self.session is not None else []

    @in_reactor
    def close(self) -> None:
        """Close both directions (FIN after queued data); for a server, stop listening.

        As a socket's close(): received bytes not fetched yet are discarded and the
        connection is reset instead (RST; `connection_lost` hears RESET), and so is it
        when the peer sends more data after the close (RFC 1122 §4.2.2.13). To keep
        receiving after sending everything, half-close with ``shutdown(1)``.
        """
        self._settle()
        sessions = self._data_sessions()
        for session in sessions:
            self._close_session(session, both=True)
        if self.session is not None and self.session not in sessions:
            self._close_session(self.session, both=True)

    def _close_session(self, session: TCPSession, both: bool = False) -> None:
        if both and session.readable:
            self._forget_unsent(session)  # reset now: nothing more goes out
            session.close_both()
        elif session in self._unsent:
            # FIN once the rest is in the buffer (an earlier close() wins over shutdown).
            self._close_after_unsent[session] = both or self._close_after_unsent.get(session, False)
            if both:
                session.shutdown_read()
        elif both:
            session.close_both()
        else:
            session.close()

    @in_reactor
    def shutdown(self, how: int = 1) -> None:
        """Shut down reading (0), writing (1, sends FIN) or both (2).

        After reading is shut down `fetch_data` returns b"", ``eof`` is True and bytes
        still arriving are discarded; as Linux does, the connection keeps acknowledging
        them (no RST), so the peer is not told.
        """
        if how not in (0, 1, 2):
            raise ValueError(f"shutdown(how): 0, 1 or 2, not {how!r}")
        self._settle()
        sessions = self._data_sessions()
        if how in (0, 2):
            for session in sessions:
                self._read_shut[session] = None
                self._kept.pop(session, None)
                session.read()
                session.shutdown_read()  # after our FIN too, new data is answered with RST
            self.eof = True
        if how in (1, 2):
            for session in sessions:
                self._close_session(session)

    @in_reactor
    def abort(self) -> None:
        """Abort with RST (RFC 9293 §3.10.5); bytes waiting in `send_packet` are dropped."""
        self._settle()
        for session in self._data_sessions():
            self._forget_unsent(session)
            session.abort()
        if self.session is not None:
            self._forget_unsent(self.session)
            self.session.abort()

    def _forget_unsent(self, session: TCPSession) -> None:
        self._kept.pop(session, None)
        self._unsent.pop(session, None)
        self._close_after_unsent.pop(session, None)

    # ===================================================== the session's user interface

    def _app_for(self, session: TCPSession) -> TCPApplication:
        return session.user if isinstance(session.user, TCPApplication) else self

    def tcp_accepted(self, listener: TCPSession, child: TCPSession) -> None:
        """A client of our listener is established: attach its application."""
        serve = self._serve_app or self
        if self._newinstance:
            app = serve.fork()
            app.tcp, app.session = self.tcp, child
        else:
            app = serve
            app.tcp = app.tcp or self.tcp
            app.sessions[_conn_id(child)] = child
        child.user = app
        if self._waiting_accept:
            self._waiting_accept.popleft().callback(app)
        elif not self._attach:
            # bind(port) without an application: the connection waits in the listen
            # queue (``backlog``) for accept(), whatever hooks the application overrides.
            listener.queue_for_accept(child)

    def tcp_established(self, session: TCPSession) -> None:
        self.lastclient = _conn_id(session)
        if self._connecting is not None and session is self.session:
            d, self._connecting = self._connecting, None
            self._cancel_timeout()
            d.callback(True)
        self.connection_made()

    def tcp_readable(self, session: TCPSession) -> None:
        if session in self._read_shut:
            session.read()  # shutdown(SHUT_RD): discarded, still acknowledged
            return
        # The hook sees only the bytes it has not seen (those it kept stay in front). They
        # stay in the buffer while it runs: kept, they need no copying back; taken, they
        # go once it returns, or as soon as it reads, closes or aborts (_settle), so that
        # a close inside the hook finds no unread data unless the hook kept some.
        kept = self._kept.get(session, 0)
        data = session.peek(after=kept)
        if not data:
            return
        if self._delivering is not None:  # an arrival whose hook still runs (re-entrant)
            self._settle()
        self._delivering = (session, kept, data)
        self.lastclient = _conn_id(session)
        try:
            self.packet_received(data, id=self.lastclient)
        finally:
            if self._delivering is not None:
                self._settle()
        # Kept bytes do not open the window; taken ones may have.
        if self._kept.get(session, 0) < kept + len(data):
            session.announce_window()

    def _settle(self) -> None:
        """The bytes being delivered were taken by the hook: out of the buffer."""
        delivering = self._delivering
        if delivering is not None:
            self._delivering = None
            session, kept, data = delivering
            session.rcvbuf.discard(len(data), kept)  # seen already: no copy out

    def tcp_writable(self, session: TCPSession) -> None:
        """Send buffer space was freed (flow control for producers); moves bytes that
        `send_packet` kept into it. Overrides call ``super().tcp_writable(session)``."""
        pending = self._unsent.get(session)
        if pending is None:
            return
        room = session.send_space
        if room > 0:
            taken = session.send(bytes(pending[:room]))
            del pending[:taken]
        if not pending:
            del self._unsent[session]
            if session in self._close_after_unsent:
                if self._close_after_unsent.pop(session):
                    session.close_both()
                else:
                    session.close()

    def tcp_eof(self, session: TCPSession) -> None:
        self.eof = True
        if not self.eof_received():
            self._close_session(session)  # our FIN goes after what send_packet still keeps

    def tcp_closed(self, session: TCPSession, reason: CloseReason) -> None:
        self.close_reason = reason
        self._forget_unsent(session)
        if session in self._read_shut:
            session.read()
            self._read_shut.pop(session, None)
        if not session.readable:  # unread bytes stay reachable through fetch_data
            self.sessions.pop(_conn_id(session), None)
        if self._connecting is not None and session is self.session:
            d, self._connecting = self._connecting, None
            self._cancel_timeout()
            d.callback(False)
            return
        if session.state == TCP.CLOSED and session is not self._listener:
            self.connection_lost(reason)

    def _cancel_timeout(self) -> None:
        if self._timeout_call is not None and self._timeout_call.active():
            self._timeout_call.cancel()
        self._timeout_call = None
