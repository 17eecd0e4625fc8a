"""The machinery under :mod:`pystack.pystack_socket` (package-internal).

What the reactor thread fills and a socket's caller waits on (`Stream` for a TCP session
or listener, `Datagrams` for a UDP port), the eventfd behind ``fileno()``, the raw file of
``makefile()``, and the mapping of session outcomes to standard ``OSError`` subclasses.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import os
import socket as _std
import threading
from collections import deque
from typing import Any

RECV_LIMIT = 256 * 1024  # bytes pulled from a session ahead of recv(); beyond it the window closes


class Notifier:
    """An eventfd that is readable while the socket has something to read or accept."""

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._set = False

    def update(self, ready: bool) -> None:
        if ready and not self._set:
            os.eventfd_write(self.fd, 1)
            self._set = True
        elif not ready and self._set:
            try:
                os.eventfd_read(self.fd)
            except BlockingIOError:
                pass
            self._set = False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Shared:
    """State shared by the reactor thread (which fills it) and the socket's caller."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.notifier: Notifier | None = None

    def ready(self) -> bool:
        return False

    def changed(self) -> None:
        """Call with ``cond`` held: wake waiters and refresh the descriptor."""
        self.cond.notify_all()
        if self.notifier is not None:
            self.notifier.update(self.ready())


class Stream(Shared):
    """The user of one TCP session (or listener), in the reactor thread."""

    def __init__(self, session: Any = None) -> None:
        super().__init__()
        self.session = session
        self.rbuf = bytearray()
        self.eof = False
        self.established = False
        self.reason: Any = None
        self.writable = False
        self.accepted: deque[Stream] = deque()
        self.limit = RECV_LIMIT  # SO_RCVBUF: bytes kept ahead of recv()
        self.read_shut = False  # shutdown(SHUT_RD): recv() sees EOF, arrivals are discarded
        # Bytes the session still holds beyond ``rbuf`` (it was full), as of the last pull.
        # While any are left, the peer's FIN or a close is not the end of the stream yet:
        # recv() of an emptied ``rbuf`` must wait for the pull it scheduled, not see EOF.
        self.behind = 0

    def ready(self) -> bool:
        ended = self.eof or self.reason is not None
        return (
            bool(self.rbuf) or self.read_shut or bool(self.accepted) or (ended and not self.behind)
        )

    def shut_read(self) -> None:
        """shutdown(SHUT_RD) (reactor thread): drop what is buffered and what comes later.

        The session keeps acknowledging (and so discarding) arrivals, as Linux keeps ACKing
        after SHUT_RD: the peer is not told. (Linux would still hand bytes queued before the
        shutdown to recv(); here recv() returns b"" at once, as POSIX's "further receptions
        disallowed" reads.)
        """
        with self.cond:
            self.read_shut = True
            self.rbuf.clear()
            self.behind = 0
            if self.session is not None:
                self.session.read()
            self.changed()

    def close_both(self) -> None:
        """The socket is closed (reactor thread): what recv() never took counts as unread
        for the session, which then resets rather than closes (`TCPSession.close_both`)."""
        with self.cond:
            unread = len(self.rbuf)
            self.rbuf.clear()
            self.behind = 0
        self.session.close_both(unread)

    # -- session callbacks (reactor thread)

    def tcp_established(self, session: Any) -> None:
        with self.cond:
            self.session, self.established = session, True
            self.changed()

    def tcp_readable(self, session: Any) -> None:
        self.pull()

    def pull(self) -> None:
        """Move received bytes into ``rbuf`` up to ``limit`` (reactor thread)."""
        with self.cond:
            if self.session is None:
                return
            if self.read_shut:
                self.session.read()  # discarded; the window stays open
                return
            room = self.limit - len(self.rbuf)
            data = self.session.read(room) if room > 0 else b""
            behind = self.session.readable
            if data or behind != self.behind:
                self.rbuf += data
                self.behind = behind
                self.changed()

    def tcp_writable(self, session: Any) -> None:
        with self.cond:
            self.writable = True
            self.changed()

    def tcp_eof(self, session: Any) -> None:
        self.pull()
        with self.cond:
            self.eof = True
            self.changed()

    def tcp_closed(self, session: Any, reason: Any) -> None:
        self.pull()
        with self.cond:
            self.reason = reason
            self.changed()

    def tcp_accepted(self, listener: Any, child: Any) -> None:
        stream = Stream(child)
        stream.established = True
        stream.limit = self.limit
        child.user = stream
        with self.cond:
            listener.queue_for_accept(child)  # counts against the backlog until accepted
            self.accepted.append(stream)
            self.changed()


class Datagrams(Shared):
    """Received datagrams of one UDP socket, queued with their sender."""

    def __init__(self, limit: int = 1024) -> None:
        super().__init__()
        self.queue: deque[tuple[bytes, tuple[str, int]]] = deque()
        self.limit = limit
        self.app: Any = None

    def ready(self) -> bool:
        return bool(self.queue)

    def push(self, data: bytes, peer: tuple[str, int]) -> None:
        with self.cond:
            if len(self.queue) < self.limit:
                self.queue.append((data, peer))
                self.changed()


def udp_app(shared: Datagrams) -> Any:
    from pystack.apps.udp_application import UDPApplication
    from pystack.layers.layer import unwrap

    class _App(UDPApplication):
        def packet_received(self, packet: Any, **kwargs: Any) -> None:
            ip, udp = unwrap(kwargs["IP"]), unwrap(kwargs["UDP"])
            peer = (ip.src, udp.src_port)
            if self.remote is None or peer == self.remote:
                shared.push(bytes(packet), peer)

    return _App(max_queue=0)


def unsupported(what: str) -> OSError:
    return OSError(errno.EOPNOTSUPP, f"pystack_socket does not support {what}")


class SocketIO(io.RawIOBase):
    """The raw file under makefile(): readinto -> recv_into, write -> send."""

    def __init__(self, sock: Any, mode: str) -> None:
        super().__init__()
        self._sock, self._mode = sock, mode

    def readable(self) -> bool:
        return "r" in self._mode

    def writable(self) -> bool:
        return "w" in self._mode

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def write(self, data: Any) -> int:
        return self._sock.send(data)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._sock._decref_socketios()


def is_ip(host: str) -> bool:
    try:
        _std.inet_aton(host)
    except OSError:
        return False
    return host.count(".") == 3


def is_ip6(host: str) -> bool:
    try:
        _std.inet_pton(_std.AF_INET6, host)
    except (OSError, TypeError, ValueError):
        return False
    return True


def stack_ip(family: int, host: str) -> str:
    """The address the stack uses for ``host`` given to a socket of ``family``: an IPv6
    one in RFC 5952 text, an IPv4-mapped one (``::ffff:198.18.0.1``) as IPv4."""
    if family != _std.AF_INET6 or not is_ip6(host):
        return host
    ip = ipaddress.IPv6Address(host)
    return str(ip.ipv4_mapped) if ip.ipv4_mapped is not None else str(ip)


def socket_address(family: int, host: str, port: int) -> tuple[Any, ...]:
    """An address as the standard module gives it: (host, port) for AF_INET; (host, port,
    flowinfo, scope_id) for AF_INET6, an IPv4 peer shown IPv4-mapped (RFC 4291 §2.5.5.2)."""
    if family != _std.AF_INET6:
        return (host, port)
    return (f"::ffff:{host}" if "." in host else host, port, 0, 0)


def listen_families(family: int, options: dict[tuple[int, int], Any]) -> frozenset[int]:
    """The IP versions a socket's wildcard listener takes: IPv4 for AF_INET; for AF_INET6
    both (Linux's net.ipv6.bindv6only = 0), IPv6 alone with IPV6_V6ONLY (RFC 3493 §5.3)."""
    if family == _std.AF_INET:
        return frozenset({4})
    return frozenset({6} if options.get((_std.IPPROTO_IPV6, _std.IPV6_V6ONLY)) else {4, 6})


def session_send(session: Any, data: bytes) -> int:
    try:
        return int(session.send(data))
    except ConnectionError as exc:
        raise BrokenPipeError(errno.EPIPE, f"Broken pipe ({exc})") from None


def unqueue(listener: Any, child: Any) -> None:
    if listener is not None:
        listener.unqueue(child)


def raise_if_closed(stream: Stream, *, sending: bool) -> None:
    if stream.reason is not None:
        raise close_error(stream.reason, connecting=False)
    if stream.session is None:
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")


def close_error(reason: Any, *, connecting: bool) -> OSError:
    name = getattr(reason, "name", "")
    if name == "RESET":
        if connecting:
            return ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    if name == "TIMED_OUT":
        return TimeoutError(errno.ETIMEDOUT, "Connection timed out")
    if name == "UNREACHABLE":
        return OSError(errno.EHOSTUNREACH, "No route to host")
    if connecting:
        return ConnectionAbortedError(errno.ECONNABORTED, f"Connection aborted ({name})")
    return BrokenPipeError(errno.EPIPE, "Broken pipe")


def check_timeout(value: float | None) -> float | None:
    """A socket timeout as the standard module takes it: None or seconds >= 0."""
    if value is not None and value < 0:
        raise ValueError("Timeout value out of range")
    return None if value is None else float(value)
