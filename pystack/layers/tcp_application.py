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
``type(app)()``). An application that overrides neither `packet_received` nor
`connection_made` is served through `accept()` and `fetch_data()`, and its connections wait
in the listen queue (``backlog``) until accepted.

The blocking calls (`connect`, `accept`) wrap `connect_deferred` / `accept_deferred`, which
is what code on the reactor thread (and tests under a `Clock`) uses.
"""

from __future__ import annotations

import collections
from typing import Any

from twisted.internet import defer

from pystack.layers.layer import Layer
from pystack.layers.tcp_config import CloseReason
from pystack.layers.tcp_session import TCPSession
from pystack.reactor import blocking_call

__all__ = ["TCPApplication"]

ConnId = tuple[str, int, str, int]


def _conn_id(session: TCPSession) -> ConnId:
    return (session.remote_ip or "", session.remote_port or 0, session.local_ip,
            session.local_port)  # fmt: skip


class TCPApplication(Layer):
    """One TCP application: a client connection, a server, or a served client."""

    name = "Raw"
    fast = True

    def __init__(self) -> None:
        super().__init__()
        self.tcp: Any = None
        self.session: TCPSession | None = None
        self.sessions: dict[ConnId, TCPSession] = {}
        self.lastclient: ConnId | None = None
        self.eof = False
        self.close_reason: CloseReason | None = None
        self._port: int | None = None
        self._serve_app: TCPApplication = self
        self._newinstance = False
        self._listener: TCPSession | None = None
        self._waiting_accept: collections.deque[defer.Deferred[Any]] = collections.deque()
        self._connecting: defer.Deferred[bool] | None = None
        self._timeout_call: Any = None

    # ============================================================================ hooks

    def connection_made(self) -> None:
        """Hook: the connection is established (for a shared server, ``lastclient``'s)."""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        """Hook: bytes arrived; ``kwargs["id"]`` is the connection's 4-tuple.

        Not overridden, data waits in the connection's receive buffer (the advertised window
        shrinks) until `fetch_data` takes it.
        """

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

    def bind(self, port: int, app: TCPApplication | None = None, newinstance: bool = False) -> None:
        """Choose the port to listen on and who serves the clients (see the module doc)."""
        if not 0 < int(port) < 65536:
            raise ValueError(f"bad port {port}")
        self._port = int(port)
        self._serve_app = app if app is not None else self
        self._newinstance = bool(newinstance)

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
            d.callback(self._app_for(listener.accept_queue.popleft()))
            return d
        self._waiting_accept.append(d)
        if timeout is not None:
            call = self._layer().clock.callLater(timeout, self._accept_timeout, d)
            d.addBoth(lambda r: (call.cancel() if call.active() else None, r)[1])
        return d

    def _accept_timeout(self, d: defer.Deferred[Any]) -> None:
        if d in self._waiting_accept:
            self._waiting_accept.remove(d)
            d.errback(TimeoutError("accept() timed out"))

    def accept(self, timeout: float | None = None) -> TCPApplication:
        """Block until a client is established; returns the application serving it."""
        return blocking_call(self.accept_deferred, timeout)

    def connect_deferred(self, host: str, port: int, timeout: float | None = None) -> Any:
        """A Deferred firing True once established, False on refusal, reset or timeout."""
        if self.session is not None and self.session.state != "CLOSED":
            raise RuntimeError(f"already connected or connecting ({self.session.state})")
        d: defer.Deferred[bool] = defer.Deferred()
        self._connecting = d
        self.session = self._layer().connect(host, int(port), user=self)
        if timeout is not None and self._connecting is not None:
            self._timeout_call = self._layer().clock.callLater(timeout, self._connect_timeout)
        return d

    def _connect_timeout(self) -> None:
        self._timeout_call = None
        if self._connecting is not None and self.session is not None:
            self.session.abort()

    def connect(self, host: str, port: int, timeout: float | None = None) -> bool:
        """Connect to ``host:port``; True once established, False otherwise (the seed's API)."""
        return bool(blocking_call(self.connect_deferred, host, port, timeout))

    # ============================================================================= data

    def _target(self, kwargs: dict[str, Any]) -> TCPSession:
        conn = kwargs.get("id")
        if conn is not None and conn in self.sessions:
            return self.sessions[conn]
        if self.sessions:  # a shared server: the last client heard from (the seed's rule)
            if self.lastclient in self.sessions:
                return self.sessions[self.lastclient]
            return next(reversed(self.sessions.values()))
        if self.session is None or self.session.state in ("CLOSED", "LISTEN"):
            raise ConnectionError("not connected")
        return self.session

    def send_packet(self, packet: bytes, **kwargs: Any) -> None:
        """Send bytes on the connection (``id=`` selects a shared server's client)."""
        self._target(kwargs).send(bytes(packet))

    def send(self, data: bytes, **kwargs: Any) -> int:
        """Send bytes; returns how many the send buffer took."""
        return self._target(kwargs).send(bytes(data))

    def fetch_data(self, size: int | None = None) -> bytes:
        """Non-blocking: return (and remove) up to ``size`` received bytes, b"" if none."""
        out = bytearray()
        for session in self._data_sessions():
            want = None if size is None else size - len(out)
            if want == 0:
                break
            out += session.read(want)
            if session.state == "CLOSED" and not session.readable and session is not self.session:
                self.sessions.pop(_conn_id(session), None)
        return bytes(out)

    def _data_sessions(self) -> list[TCPSession]:
        if self.sessions:
            return list(self.sessions.values())
        return [self.session] if self.session is not None else []

    def close(self) -> None:
        """Close gracefully (FIN after queued data); for a server, stop listening."""
        for session in list(self.sessions.values()):
            session.close()
        if self.session is not None:
            self.session.close()

    def shutdown(self, how: int = 1) -> None:
        """Shut down reading (0), writing (1, sends FIN) or both (2)."""
        if how in (1, 2) and self.session is not None:
            self.session.close()

    def abort(self) -> None:
        """Abort with RST (RFC 9293 §3.10.5)."""
        for session in list(self.sessions.values()):
            session.abort()
        if self.session is not None:
            self.session.abort()

    # ===================================================== the session's user interface

    def _app_for(self, session: TCPSession) -> TCPApplication:
        return session.user if isinstance(session.user, TCPApplication) else self

    def tcp_accepted(self, listener: TCPSession, child: TCPSession) -> None:
        """A client of our listener is established: attach its application."""
        serve = self._serve_app
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
        elif not app._pushes():
            listener.accept_queue.append(child)

    def _pushes(self) -> bool:
        cls = type(self)
        return (
            cls.packet_received is not TCPApplication.packet_received
            or cls.connection_made is not TCPApplication.connection_made
        )

    def tcp_established(self, session: TCPSession) -> None:
        self.lastclient = _conn_id(session)
        if self._connecting is not None and session is self.session:
            d, self._connecting = self._connecting, None
            self._cancel_timeout()
            d.callback(True)
        self.connection_made()

    def tcp_readable(self, session: TCPSession) -> None:
        if type(self).packet_received is TCPApplication.packet_received:
            return
        data = session.read()
        if data:
            self.lastclient = _conn_id(session)
            self.packet_received(data, id=self.lastclient)

    def tcp_writable(self, session: TCPSession) -> None:
        """Send buffer space was freed (flow control for producers)."""

    def tcp_eof(self, session: TCPSession) -> None:
        self.eof = True
        if not self.eof_received():
            session.close()

    def tcp_closed(self, session: TCPSession, reason: CloseReason) -> None:
        self.close_reason = reason
        if not session.readable:  # unread bytes stay reachable through fetch_data
            self.sessions.pop(_conn_id(session), None)
        if self._connecting is not None and session is self.session:
            d, self._connecting = self._connecting, None
            self._cancel_timeout()
            d.callback(False)
            return
        if session.state == "CLOSED" and session is not self._listener:
            self.connection_lost(reason)

    def _cancel_timeout(self) -> None:
        if self._timeout_call is not None and self._timeout_call.active():
            self._timeout_call.cancel()
        self._timeout_call = None
