"""`SessionTransport`: a Twisted ``ITCPTransport`` over one `TCPSession`.

Any Twisted protocol (twisted.web, twisted.conch, your own) runs over a connection of the
stack through it. The transport is the session's user (its ``tcp_*`` callbacks) and lives
in the thread that runs the stack's clock (the reactor thread, or the test's ``Clock``).

Flow control both ways, as Twisted's own TCP transport does it:

- sending: bytes go into the session's send buffer; what does not fit waits here, and a
  registered streaming producer is paused until the session has taken it all (a pull
  producer is asked for more each time the buffer drains);
- receiving: ``pauseProducing()`` on the transport stops delivering data, which stays in
  the session's receive buffer, so the advertised window closes and the peer stops.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any

from twisted.internet import error, interfaces
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.python.failure import Failure
from zope.interface import implementer

from pystack.tcp.config import CloseReason
from pystack.tcp.states import TCP, S

__all__ = ["SessionTransport", "close_failure"]

_CLOSING_POLL = 0.05  # seconds between looks at a simultaneous close (CLOSING has no callback)


def close_failure(reason: CloseReason | None) -> Failure:
    """The Failure Twisted protocols expect in ``connectionLost`` for a `CloseReason`."""
    exc: Exception
    if reason in (None, CloseReason.CLOSED):
        exc = error.ConnectionDone("connection closed cleanly")
    elif reason is CloseReason.RESET:
        exc = error.ConnectionLost("connection reset by peer")
    elif reason is CloseReason.TIMED_OUT:
        exc = error.TCPTimedOutError("retransmissions went unanswered (RFC 9293 R2)")
    elif reason is CloseReason.ABORTED:
        exc = error.ConnectionAborted("aborted locally")
    else:
        exc = error.ConnectionLost(f"connection lost ({reason.value})")
    return Failure(exc)


@implementer(interfaces.ITCPTransport, interfaces.IPushProducer, interfaces.IConsumer)
class SessionTransport:
    """The transport of one established connection; built by the endpoints."""

    def __init__(self, session: Any, protocol: Any) -> None:
        self.session = session
        self.protocol = protocol
        self.connected = False
        self.disconnecting = False
        self.disconnected = False
        self.producer: Any = None
        self.streaming_producer = False
        self._producer_paused = False
        self._pending: deque[bytes] = deque()
        self._write_closing = False  # FIN wanted once _pending is in the session
        self._reading_paused = False
        self._eof_pending = False
        session.user = self

    # ------------------------------------------------------------------ starting

    def start(self) -> None:
        """Hand the transport to the protocol (``makeConnection``)."""
        if not self.connected and not self.disconnected:
            self.connected = True
            self.protocol.makeConnection(self)
            if self.session.readable:
                self.tcp_readable(self.session)

    # ------------------------------------------------------------------- ITransport

    def write(self, data: bytes) -> None:
        """Queue ``data``; it is sent as the peer's window and congestion allow."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        if not data or self.disconnected or self._fin_given():
            return
        self._pending.append(bytes(data))
        self._flush()

    def writeSequence(self, data: Any) -> None:
        """Write every bytes object of ``data`` in order."""
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        """Close after everything written so far is sent (FIN, RFC 9293 §3.10.4)."""
        if self.disconnected or self.disconnecting:
            return
        self.disconnecting = True
        self._write_closing = True
        self._flush()

    def loseWriteConnection(self) -> None:
        """Half-close: send FIN after the queued data and keep reading."""
        if not self.disconnected:
            self._write_closing = True
            self._flush()

    def abortConnection(self) -> None:
        """Close at once with RST, dropping queued data (RFC 9293 §3.10.5)."""
        if self.disconnected:
            return
        self.disconnecting = True
        self._pending.clear()
        self.session.abort()

    def getPeer(self) -> IPv4Address | IPv6Address:
        return _address(self.session.remote_ip or "0.0.0.0", self.session.remote_port)

    def getHost(self) -> IPv4Address | IPv6Address:
        return _address(self.session.local_ip, self.session.local_port)

    def logPrefix(self) -> str:
        return f"pystack,{self.session.remote_ip}:{self.session.remote_port}"

    # ---------------------------------------------------------------- ITCPTransport

    def setTcpNoDelay(self, enabled: bool) -> None:
        """Switch Nagle's algorithm off (True) or on (RFC 9293 §3.7.4, MUST-17)."""
        self._configure(nodelay=bool(enabled))
        if enabled and self.session.state in S.may_send:
            self.session.output()

    def getTcpNoDelay(self) -> bool:
        return bool(self.session.config.nodelay)

    def setTcpKeepAlive(self, enabled: bool) -> None:
        """Switch keep-alives on or off (RFC 9293 §3.8.4: off unless asked, MUST-24)."""
        self._configure(keepalive=bool(enabled))
        if enabled:
            self.session.keepalive_reset()
        else:
            self.session.keepalive_timer.cancel()

    def getTcpKeepAlive(self) -> bool:
        return bool(self.session.config.keepalive)

    def _configure(self, **changes: Any) -> None:
        self.session.config = dataclasses.replace(self.session.config, **changes)

    # ------------------------------------------------------------------ IConsumer

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Let ``producer`` feed the connection; paused while the send buffer is full."""
        if self.producer is not None:
            raise RuntimeError(f"a producer ({self.producer!r}) is already registered")
        if self.disconnected:
            producer.stopProducing()
            return
        self.producer, self.streaming_producer = producer, bool(streaming)
        self._producer_paused = False
        if not streaming:
            producer.resumeProducing()
        else:
            self._update_producer()

    def unregisterProducer(self) -> None:
        self.producer = None
        self._producer_paused = False
        if self._write_closing:
            self._flush()

    # -------------------------------------------------------------- IPushProducer

    def pauseProducing(self) -> None:
        """Stop delivering received data: it stays in the session, the window closes."""
        self._reading_paused = True

    def resumeProducing(self) -> None:
        """Deliver what arrived meanwhile, then keep delivering."""
        self._reading_paused = False
        if self.connected and self.session.readable:
            self.tcp_readable(self.session)
        if self._eof_pending and not self._reading_paused:
            self._eof_pending = False
            self.tcp_eof(self.session)

    def stopProducing(self) -> None:
        self.loseConnection()

    # ------------------------------------------------------------- sending path

    def _fin_given(self) -> bool:
        return bool(self.session.fin_queued) or self.session.state not in S.may_send

    def _flush(self) -> None:
        """Move pending bytes into the session's send buffer; FIN once all are in."""
        session = self.session
        while self._pending and not self._fin_given():
            chunk = self._pending[0]
            taken = session.send(chunk)
            if taken < len(chunk):
                self._pending[0] = chunk[taken:]
                break
            self._pending.popleft()
        if self._fin_given():
            self._pending.clear()
        if self._write_closing and not self._pending and self._producer_done():
            session.close()
        self._update_producer()

    def _producer_done(self) -> bool:
        # Twisted waits for a streaming producer to unregister before closing.
        return self.producer is None or not self.streaming_producer or self.disconnecting

    def _update_producer(self) -> None:
        producer = self.producer
        if producer is None or not self.streaming_producer:
            return
        full = bool(self._pending)
        if full and not self._producer_paused:
            self._producer_paused = True
            producer.pauseProducing()
        elif not full and self._producer_paused:
            self._producer_paused = False
            producer.resumeProducing()

    # ---------------------------------------------------- the session's user calls

    def tcp_established(self, session: Any) -> None:
        self.start()

    def tcp_readable(self, session: Any) -> None:
        if self._reading_paused or not self.connected:
            return
        data = session.read()
        if data:
            self.protocol.dataReceived(data)

    def tcp_writable(self, session: Any) -> None:
        self._flush()
        producer = self.producer
        if producer is not None and not self.streaming_producer and not self._pending:
            producer.resumeProducing()

    def tcp_eof(self, session: Any) -> None:
        """The peer's FIN: a half-closeable protocol hears ``readConnectionLost``; any
        other one gets our FIN too (after what it wrote), as with Twisted's TCP."""
        if self._reading_paused:
            self._eof_pending = True
            return
        self.tcp_readable(session)
        if session.state in S.finished:
            self._lost(session.close_reason)
            return
        if session.state == TCP.CLOSING:
            self._watch_closing()
            return
        if interfaces.IHalfCloseableProtocol.providedBy(self.protocol):
            self.protocol.readConnectionLost()
        else:
            self.loseConnection()

    def _watch_closing(self) -> None:
        if self.session.state in S.finished:
            self._lost(self.session.close_reason)
        elif not self.disconnected:
            self.session.clock.callLater(_CLOSING_POLL, self._watch_closing)

    def tcp_closed(self, session: Any, reason: CloseReason) -> None:
        self._lost(reason)

    def tcp_accepted(self, listener: Any, child: Any) -> None:  # only listeners accept
        raise RuntimeError("a connection's transport cannot accept")

    def _lost(self, reason: CloseReason | None) -> None:
        if self.disconnected:
            return
        self.disconnected, self.disconnecting = True, False
        was_connected, self.connected = self.connected, False
        self._pending.clear()
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.stopProducing()
        if was_connected:
            self.protocol.connectionLost(close_failure(reason))

    def __repr__(self) -> str:
        return f"<SessionTransport {self.session!r}>"


def _address(ip: str, port: int) -> IPv4Address | IPv6Address:
    """Twisted's address of a TCP endpoint: ``IPv6Address`` for an IPv6 ``ip``."""
    return IPv6Address("TCP", ip, port) if ":" in ip else IPv4Address("TCP", ip, port)
