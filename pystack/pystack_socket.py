"""The ``socket`` module over a PyStack: ``import pystack.pystack_socket as socket``.

With no set-up, sockets use the process's default stack (``PyStack()``: the default
route's interface, sharing the host's address), started in thread mode on first use, as
the 2013 PyStack did; ``PyStack().stop()`` stops it. Pick another stack with
:func:`use_stack` (``socket.use_stack(stack)``). The reactor runs in its background thread
(``stack.run(doreactor=False)``) and socket calls, made from any other thread, block the
way the standard module's do::

    import pystack.pystack_socket as socket
    socket.use_stack(stack)                 # or nothing: the default stack
    with socket.create_connection(("www.lab", 80), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        reply = s.recv(4096)

TCP (``SOCK_STREAM``) and UDP (``SOCK_DGRAM``) over IPv4 (``AF_INET``) and IPv6
(``AF_INET6``: dual-stack unless ``IPV6_V6ONLY``, IPv4 peers shown IPv4-mapped).
Timeouts follow the standard semantics: blocking (``None``), non-blocking (``0.0``:
``BlockingIOError``) or a timeout (``TimeoutError``). Errors are the standard ``OSError``
subclasses with the standard errno.
Names resolve through the stack's DNS resolver (:mod:`pystack.dns.resolver`).
``fileno()`` is an eventfd that select/selectors see readable when ``recv``/``accept`` would
not block (it always looks writable). Anything not supported raises ``OSError`` naming it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import socket as _std
import sys
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from pystack._socket_state import RECV_LIMIT
from pystack._socket_state import Datagrams as _Datagrams
from pystack._socket_state import Notifier as _Notifier
from pystack._socket_state import SocketIO as _SocketIO
from pystack._socket_state import Stream as _Stream
from pystack._socket_state import check_timeout as _check_timeout
from pystack._socket_state import close_error as _close_error
from pystack._socket_state import is_ip as _is_ip
from pystack._socket_state import is_ip6 as _is_ip6
from pystack._socket_state import listen_families as _listen_families
from pystack._socket_state import raise_if_closed as _raise_if_closed
from pystack._socket_state import session_send as _session_send
from pystack._socket_state import socket_address as _socket_address
from pystack._socket_state import stack_ip as _stack_ip
from pystack._socket_state import udp_app as _udp_app
from pystack._socket_state import unqueue as _unqueue
from pystack._socket_state import unsupported as _unsupported
from pystack.addrinfo import order_destinations as _order_destinations
from pystack.addrinfo import port_number as _port_number
from pystack.addrinfo import resolve_unspec as _resolve_unspec
from pystack.addrinfo import usable_families as _usable_families
from pystack.reactor import blocking_call, call_soon
from pystack.tcp.states import TCP, S

# The standard names users expect from the socket module.
AF_INET = _std.AF_INET
AF_INET6 = _std.AF_INET6
IPPROTO_IPV6 = _std.IPPROTO_IPV6
IPV6_V6ONLY = _std.IPV6_V6ONLY
SOCK_STREAM = _std.SOCK_STREAM
SOCK_DGRAM = _std.SOCK_DGRAM
IPPROTO_TCP = _std.IPPROTO_TCP
IPPROTO_UDP = _std.IPPROTO_UDP
SOL_SOCKET = _std.SOL_SOCKET
SO_REUSEADDR = _std.SO_REUSEADDR
SO_KEEPALIVE = _std.SO_KEEPALIVE
SO_LINGER = _std.SO_LINGER
SO_RCVBUF = _std.SO_RCVBUF
SO_SNDBUF = _std.SO_SNDBUF
SO_ERROR = _std.SO_ERROR
TCP_NODELAY = _std.TCP_NODELAY
SHUT_RD, SHUT_WR, SHUT_RDWR = _std.SHUT_RD, _std.SHUT_WR, _std.SHUT_RDWR
AI_PASSIVE = _std.AI_PASSIVE
AI_CANONNAME = _std.AI_CANONNAME
error = OSError
timeout = TimeoutError
gaierror = _std.gaierror
herror = _std.herror
_GLOBAL_DEFAULT_TIMEOUT = _std._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]
# Every other constant of the standard module (EAI_*, MSG_*, ...), so that code importing
# ``socket`` while hijacked finds the names it expects.
globals().update({k: v for k, v in vars(_std).items() if k.isupper() and k not in globals()})

_default: dict[str, Any] = {"stack": None, "timeout": None}
_resolvers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------- the stack and names


def use_stack(stack: Any) -> None:
    """Make ``stack`` the one every socket of this module uses (``None``: the default
    stack again)."""
    _default["stack"] = stack


def _stack() -> Any:
    """The stack given to :func:`use_stack`, else the default stack, running in thread
    mode (a stopped default stack is replaced by a fresh one, see ``default_stack``)."""
    stack = _default["stack"]
    if stack is None:
        with _standard_socket_module():
            stack = _default_stack()
        if not stack.running:
            stack.run(doreactor=False)
    return stack


def _default_stack() -> Any:
    """The default stack, and the modules it imports later, imported now."""
    from pystack.stack import default_stack

    stack = default_stack()
    import pystack.dns.transport  # noqa: F401 - the resolver, made on first lookup

    if stack.kernel_filter is not None:
        import iptc  # noqa: F401 - its first rule is written when a port is bound

    return stack


@contextlib.contextmanager
def _standard_socket_module() -> Iterator[None]:
    """``import socket`` is the standard module in the block, even under the 2013-style
    swap (``sys.modules["socket"] = pystack_socket``): the stack's own modules, imported
    when the default stack is made, need the kernel's sockets."""
    current = sys.modules.get("socket")
    sys.modules["socket"] = _std
    try:
        yield
    finally:
        if current is not None:
            sys.modules["socket"] = current


def _resolver(stack: Any) -> Any:
    resolver = getattr(stack, "dns", None)
    if resolver is None:
        resolver = _resolvers.get(stack)
    if resolver is None:
        from pystack.dns.transport import resolver_for_stack

        resolver = blocking_call(resolver_for_stack, stack, _reactor=stack.clock)
        _resolvers[stack] = resolver
    return resolver


def gethostbyname(hostname: str) -> str:
    """The first IPv4 address of ``hostname``, through the stack's resolver."""
    if hostname in ("", "0.0.0.0"):
        return "0.0.0.0"
    if _is_ip(hostname):
        return hostname
    return str(_resolver(_stack()).resolve_blocking(hostname, "A").values[0])


def getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[tuple[int, int, int, str, tuple[Any, ...]]]:
    """Like :func:`socket.getaddrinfo`: IPv4 and IPv6 literals; names resolved by the
    stack's resolver: A records with ``family=AF_INET``, AAAA with ``AF_INET6``, both
    with ``AF_UNSPEC`` (0), ordered as :func:`pystack.addrinfo.order_destinations` says
    (a family with a usable source address first, IPv6 before IPv4)."""
    if family not in (0, AF_INET, AF_INET6):
        raise gaierror(_std.EAI_FAMILY, "ai_family not supported")
    kinds = [type] if type else [SOCK_STREAM, SOCK_DGRAM]
    six = family == AF_INET6
    if host is None:
        passive = ("::" if six else "0.0.0.0") if flags & AI_PASSIVE else None
        addresses, canonical = [passive or ("::1" if six else "127.0.0.1")], ""
    else:
        name = host.decode() if isinstance(host, bytes) else host
        if _is_ip(name) or _is_ip6(name):
            if (_is_ip6(name) and family == AF_INET) or (_is_ip(name) and six):
                raise gaierror(_std.EAI_ADDRFAMILY, "Address family for hostname not supported")
            addresses, canonical = [name], name
        elif family == 0:  # AF_UNSPEC: A and AAAA, usable family first, then IPv6
            stack = _stack()
            addresses, canonical = _resolve_unspec(_resolver(stack), name)
            addresses = _order_destinations(addresses, _usable_families(stack.addresses))
        else:
            answer = _resolver(_stack()).resolve_blocking(name, "AAAA" if six else "A")
            addresses, canonical = [str(v) for v in answer.values], answer.canonical_name
    out: list[tuple[int, int, int, str, tuple[Any, ...]]] = []
    for kind in kinds:
        number = _port_number(port, "udp" if kind == SOCK_DGRAM else "tcp")
        protocol = IPPROTO_UDP if kind == SOCK_DGRAM else IPPROTO_TCP
        for i, address in enumerate(addresses):
            name = canonical if (flags & AI_CANONNAME and i == 0) else ""
            fam = AF_INET6 if ":" in address else AF_INET
            out.append((fam, kind, protocol, name, _socket_address(fam, address, number)))
    return out


def getdefaulttimeout() -> float | None:
    return _default["timeout"]


def setdefaulttimeout(value: float | None) -> None:
    _default["timeout"] = _check_timeout(value)


def create_connection(
    address: tuple[str, int],
    timeout: Any = _GLOBAL_DEFAULT_TIMEOUT,
    source_address: tuple[str, int] | None = None,
) -> socket:
    """Connect a TCP socket to ``address`` (host names resolved), like the standard one."""
    host, port = address
    last: OSError | None = None
    for family, _kind, _proto, _name, sockaddr in getaddrinfo(host, port, type=SOCK_STREAM):
        sock = socket(family, SOCK_STREAM)
        try:
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            last = exc
            sock.close()
    raise last if last is not None else OSError(errno.EHOSTUNREACH, f"no address for {host}")


def gethostname() -> str:
    """This host's name (the 2013 PyStack's call; the kernel's answer)."""
    return _std.gethostname()


def getfqdn(name: str = "") -> str:
    """The name itself (the stack does no reverse lookups)."""
    return name or "localhost"


_HIJACKED = ("socket", "SocketType", "create_connection", "getaddrinfo", "gethostbyname", "getfqdn")


@contextlib.contextmanager
def hijack(stack: Any = None) -> Iterator[Any]:
    """Make unmodified standard-library code use the stack, for the ``with`` block.

    Two things happen, both undone on exit: ``sys.modules["socket"]`` becomes this module
    (what the 2013 PyStack documented: code imported inside the block sees it), and the standard
    module's ``socket``, ``create_connection``, ``getaddrinfo``, ``gethostbyname`` and
    ``getfqdn`` are replaced, so modules imported earlier (http.client, urllib.request,
    socketserver) use the stack too. ``stack`` becomes the default stack (see
    :func:`use_stack`). Not thread-safe: other threads see the swap while it lasts.
    """
    import pystack.dns.transport  # noqa: F401 - imported now, with the real socket module

    me = sys.modules[__name__]
    saved = {name: getattr(_std, name) for name in _HIJACKED}
    saved_stack = _default["stack"]
    if stack is not None:
        use_stack(stack)
    sys.modules["socket_original"] = _std
    sys.modules["socket"] = me
    for name in _HIJACKED:
        setattr(_std, name, getattr(me, name if name != "SocketType" else "socket"))
    try:
        yield me
    finally:
        for name, value in saved.items():
            setattr(_std, name, value)
        sys.modules["socket"] = _std
        _default["stack"] = saved_stack


# ---------------------------------------------------------------- the socket class


class socket:
    """A TCP or UDP socket of the stack given to :func:`use_stack` (else the default
    stack); ``stack=`` picks one for this socket only."""

    def __init__(
        self,
        family: int = AF_INET,
        type: int = SOCK_STREAM,
        proto: int = 0,
        fileno: Any = None,
        *,
        stack: Any = None,
    ) -> None:
        if family not in (AF_INET, AF_INET6):
            raise _unsupported(f"address family {family} (AF_INET and AF_INET6 only)")
        if type not in (SOCK_STREAM, SOCK_DGRAM):
            raise _unsupported(f"socket type {type}")
        if fileno is not None:
            raise _unsupported("socket(fileno=...)")
        self.family, self.type, self.proto = family, type, proto
        self._stack = stack if stack is not None else _stack()  # stack=: a pystack extension
        self._timeout: float | None = _default["timeout"]
        self._closed = self._released = False
        self._io_refs = 0
        self._local: tuple[str, int] | None = None
        self._peer: tuple[str, int] | None = None
        self._options: dict[tuple[int, int], Any] = {}
        self._listening = False
        self._shared: _Stream | _Datagrams = _Stream() if type == SOCK_STREAM else _Datagrams()

    # -- plumbing

    def _call(self, f: Callable[..., Any], *args: Any) -> Any:
        return blocking_call(f, *args, _reactor=self._stack.clock)

    def _wait(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait (per the timeout mode) until ``predicate`` holds; call with cond held."""
        if predicate():
            return
        if self._timeout == 0.0:
            raise BlockingIOError(errno.EAGAIN, f"{what} would block")
        if not self._shared.cond.wait_for(predicate, self._timeout):
            raise TimeoutError(errno.ETIMEDOUT, f"{what} timed out")

    def _check_open(self) -> None:
        if self._released:
            raise OSError(errno.EBADF, "Bad file descriptor")

    @property
    def _stream(self) -> _Stream:
        if not isinstance(self._shared, _Stream):
            raise _unsupported("this call on a SOCK_DGRAM socket")
        return self._shared

    @property
    def _dgrams(self) -> _Datagrams:
        if not isinstance(self._shared, _Datagrams):
            raise _unsupported("this call on a SOCK_STREAM socket")
        return self._shared

    def _my_ip(self) -> str:
        if self.family == AF_INET6:
            return str(self._stack.address6 or "::")
        return str(self._stack.address or "0.0.0.0")

    def _any(self) -> str:
        return "::" if self.family == AF_INET6 else "0.0.0.0"

    def _ip(self, host: str) -> str:
        """``host`` as the stack's address: a literal as it is (IPv4-mapped as IPv4), a
        name resolved (AAAA records for AF_INET6)."""
        if _is_ip(host) or _is_ip6(host):
            return _stack_ip(self.family, host)
        if self.family != AF_INET6:
            return gethostbyname(host)
        return str(_resolver(self._stack).resolve_blocking(host, "AAAA").values[0])

    # -- timeouts

    def settimeout(self, value: float | None) -> None:
        self._timeout = _check_timeout(value)

    def gettimeout(self) -> float | None:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._timeout != 0.0

    # -- addresses

    def bind(self, address: tuple[Any, ...]) -> None:
        """Bind to (ip, port): ip "", the wildcard ("0.0.0.0", "::") or the stack's own;
        port 0 picks one."""
        self._check_open()
        host, port = address[0], address[1]
        host = _stack_ip(self.family, host) if host else self._any()
        mine = self._stack.ipv6.is_ours(host) if self.family == AF_INET6 else False
        if host not in (self._any(), self._my_ip()) and not mine:
            raise OSError(errno.EADDRNOTAVAIL, f"Cannot assign requested address: {host}")
        if self._local is not None:
            raise OSError(errno.EINVAL, "Invalid argument: already bound")
        if self.type == SOCK_DGRAM:
            self._bind_udp(int(port))
        else:
            self._local = (host, self._call(self._tcp_port, int(port)))

    def _tcp_port(self, port: int) -> int:
        tcp = self._stack.tcp
        if port == 0:
            return int(tcp.ephemeral_port(self._my_ip(), "0.0.0.0", 0))
        taken = any(key[1] == port for key in tcp.listeners) or any(
            key[1] == port for key in tcp.connections
        )
        if taken and not self._options.get((SOL_SOCKET, SO_REUSEADDR)):
            raise OSError(errno.EADDRINUSE, "Address already in use")
        return port

    def _bind_udp(self, port: int) -> None:
        shared = self._dgrams

        def bind() -> int:
            app = shared.app or _udp_app(shared)
            if shared.app is None:
                self._stack.register_udp_application(app)
                shared.app = app
            return int(app.bind(port))

        self._local = (self._any(), self._call(bind))

    def getsockname(self) -> tuple[Any, ...]:
        self._check_open()
        host, port = self._local or (self._any(), 0)
        host = self._my_ip() if self._peer and host == self._any() else host
        return _socket_address(self.family, host, port)

    def getpeername(self) -> tuple[Any, ...]:
        self._check_open()
        if self._peer is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return _socket_address(self.family, *self._peer)

    # -- TCP: connecting

    def connect(self, address: tuple[Any, ...]) -> None:
        """Connect (TCP: handshake; UDP: fix the peer). Host names are resolved."""
        self._check_open()
        host, port = address[0], address[1]
        ip = self._ip(host)
        if self.type == SOCK_DGRAM:
            if self._local is None:
                self._bind_udp(0)
            self._dgrams.app.connect(ip, int(port))
            self._peer = (ip, int(port))
            return
        if self._peer is not None:
            raise OSError(errno.EISCONN, "Transport endpoint is already connected")
        stream = self._stream
        local_port = self._local[1] if self._local else 0
        session = self._call(self._open, ip, int(port), local_port)
        self._local = (session.local_ip, session.local_port)
        with stream.cond:
            try:
                self._wait(lambda: stream.established or stream.reason is not None, "connect")
            except TimeoutError:
                self._call(session.abort)
                raise
        if not stream.established:
            raise _close_error(stream.reason, connecting=True)
        self._peer = (ip, int(port))

    def _open(self, ip: str, port: int, local_port: int) -> Any:
        stream = self._stream
        with self._layer_config() as tcp:
            stream.session = tcp.connect(ip, port, user=stream, local_port=local_port)
        self._apply_options(stream.session)
        return stream.session

    @contextlib.contextmanager
    def _layer_config(self) -> Iterator[Any]:
        """The TCP layer, with this socket's options in the configuration the session it
        opens now copies (reactor thread): SO_RCVBUF sizes the window of the SYN."""
        tcp = self._stack.tcp
        saved = tcp.config
        tcp.config = self._config(saved)
        try:
            yield tcp
        finally:
            tcp.config = saved

    def connect_ex(self, address: tuple[Any, ...]) -> int:
        try:
            self.connect(address)
        except OSError as exc:
            return exc.errno or errno.EIO
        return 0

    # -- TCP: listening

    def listen(self, backlog: int = 5) -> None:
        self._check_open()
        if self.type != SOCK_STREAM:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported on a SOCK_DGRAM socket")
        if self._local is None:
            self.bind(("", 0))
        assert self._local is not None
        host, port = self._local
        stream = self._stream

        def listen() -> None:
            with self._layer_config() as tcp:  # accepted sessions copy the listener's
                stream.session = tcp.listen(port, user=stream, backlog=max(int(backlog), 1),
                                            ip=host, families=_listen_families(
                                                self.family, self._options))  # fmt: skip

        self._call(listen)
        self._listening = True

    def accept(self) -> tuple[socket, tuple[Any, ...]]:
        """Wait for an established client: (new socket, its address)."""
        self._check_open()
        stream = self._stream
        if not self._listening:
            raise OSError(errno.EINVAL, "Invalid argument: listen() first")
        with stream.cond:
            self._wait(lambda: bool(stream.accepted), "accept")
            child = stream.accepted.popleft()
            stream.changed()
        self._call(_unqueue, stream.session, child.session)
        peer = _socket_address(self.family, child.session.remote_ip, child.session.remote_port)
        return self._adopt(child), peer

    def _adopt(self, child: _Stream) -> socket:
        sock = socket.__new__(socket)
        sock.family, sock.type, sock.proto = self.family, SOCK_STREAM, 0
        sock._stack, sock._timeout = self._stack, _default["timeout"]
        sock._closed = sock._released = False
        sock._io_refs = 0
        sock._options, sock._listening = dict(self._options), False
        sock._shared = child
        session = child.session
        sock._local = (session.local_ip, session.local_port)
        sock._peer = (session.remote_ip, session.remote_port)
        self._call(self._apply_options, session)
        return sock

    # -- data

    def send(self, data: Any, flags: int = 0) -> int:
        """Queue bytes; returns how many the send buffer took (blocks while it is full)."""
        self._check_open()
        if flags:
            raise _unsupported(f"send flags {flags:#x}")
        if self.type == SOCK_DGRAM:
            return self.sendto(data, self.getpeername())
        stream = self._stream
        payload = bytes(data)
        while True:
            with stream.cond:
                _raise_if_closed(stream, sending=True)
                stream.writable = False
            taken = self._call(_session_send, stream.session, payload)
            if taken or not payload:
                return int(taken)
            with stream.cond:
                self._wait(lambda: stream.writable or stream.reason is not None, "send")

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(bytes(data))
        while view:
            view = view[self.send(view, flags) :]

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` bytes; b"" at end of stream."""
        self._check_open()
        if flags:
            raise _unsupported(f"recv flags {flags:#x}")
        if self.type == SOCK_DGRAM:
            return self.recvfrom(bufsize)[0]
        stream = self._stream
        with stream.cond:
            self._wait(lambda: stream.ready(), "recv")
            if stream.read_shut:
                return b""
            if not stream.rbuf:
                if stream.reason is not None and stream.reason.name == "RESET":
                    raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
                return b""
            data = bytes(stream.rbuf[:bufsize])
            del stream.rbuf[:bufsize]
            stream.changed()
        call_soon(stream.pull, reactor=self._stack.clock)  # room again: take more, open the window
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[Any, ...] | None]:
        """One datagram (truncated to ``bufsize``) and its sender; TCP: (recv(), None)."""
        self._check_open()
        if self.type == SOCK_STREAM:
            return self.recv(bufsize, flags), None
        shared = self._dgrams
        if shared.app is None:
            raise OSError(errno.EINVAL, "Invalid argument: bind() before recvfrom()")
        with shared.cond:
            self._wait(lambda: bool(shared.queue), "recvfrom")
            data, peer = shared.queue.popleft()
            shared.changed()
        return data[:bufsize], _socket_address(self.family, *peer)

    def sendto(self, data: Any, *args: Any) -> int:
        """Send one datagram to (host, port)."""
        self._check_open()
        address = args[-1]
        if self.type == SOCK_STREAM:
            raise OSError(errno.EISCONN, "sendto on a SOCK_STREAM socket")
        if self._local is None:
            self._bind_udp(0)
        ip, port = self._ip(address[0]), address[1]
        payload = bytes(data)
        self._call(self._dgrams.app.sendto, payload, (ip, int(port)))
        return len(payload)

    # -- closing

    def shutdown(self, how: int) -> None:
        """SHUT_WR sends FIN after the queued data; SHUT_RD makes recv() return b"" and
        discards what still arrives (acknowledged, as Linux does); SHUT_RDWR both."""
        self._check_open()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise OSError(errno.EINVAL, f"Invalid argument: shutdown({how!r})")
        if self.type != SOCK_STREAM:
            return
        stream = self._stream
        session = stream.session
        if session is None or self._listening:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        if how in (SHUT_RD, SHUT_RDWR):
            self._call(stream.shut_read)
            self._call(session.shutdown_read)
        if how in (SHUT_WR, SHUT_RDWR):
            self._call(session.close)

    def close(self) -> None:
        """Close; with SO_LINGER (on, 0 s) a TCP connection is aborted with RST.

        As Linux, closing a TCP socket that still holds received bytes not read by recv()
        discards them and resets the connection (RST rather than FIN: the peer's recv()
        and send() raise ConnectionResetError), and so does data arriving after the
        close (RFC 1122 §4.2.2.13). shutdown(SHUT_WR) is the half-close that keeps
        receiving.

        As with the standard socket, files from makefile() keep the connection open until
        they are closed too.
        """
        self._closed = True
        if self._io_refs <= 0:
            self._release()

    def _decref_socketios(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._release()

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        if isinstance(self._shared, _Stream):
            session = self._shared.session
            linger = self._options.get((SOL_SOCKET, SO_LINGER))
            abort = linger is not None and linger[0] and linger[1] == 0
            if session is not None and abort:
                self._call(session.abort)
            elif session is not None:
                self._call(self._shared.close_both)
        elif self._shared.app is not None:
            self._call(self._shared.app.close)
        if self._shared.notifier is not None:
            self._shared.notifier.close()

    def detach(self) -> int:
        raise _unsupported("detach()")

    def __enter__(self) -> socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "SOCK_STREAM" if self.type == SOCK_STREAM else "SOCK_DGRAM"
        state = "closed" if self._released else f"laddr={self._local}, raddr={self._peer}"
        return f"<pystack_socket.socket {kind} {state}>"

    # -- descriptors and files

    def fileno(self) -> int:
        """An eventfd, readable whenever recv/recvfrom/accept would not block."""
        self._check_open()
        shared = self._shared
        with shared.cond:
            if shared.notifier is None:
                shared.notifier = _Notifier()
                shared.notifier.update(shared.ready())
            return shared.notifier.fd

    def makefile(self, mode: str = "r", buffering: int | None = None, **kw: Any) -> Any:
        """A file object over the socket, as the standard makefile()."""
        raw = _SocketIO(self, "rw" if "w" in mode and "r" in mode else mode.strip("b"))
        self._io_refs += 1
        binary = "b" in mode
        size = io.DEFAULT_BUFFER_SIZE if buffering in (None, -1) else buffering
        buffered: Any
        if "r" in mode and "w" in mode:
            buffered = io.BufferedRWPair(raw, raw, size)
        elif "w" in mode:
            buffered = io.BufferedWriter(raw, size)
        else:
            buffered = io.BufferedReader(raw, size)
        if binary:
            return buffered
        text = io.TextIOWrapper(
            buffered, kw.get("encoding"), kw.get("errors"), kw.get("newline"), True
        )
        text.mode = mode  # type: ignore[misc]
        return text

    # -- options

    def setsockopt(self, level: int, option: int, value: Any, optlen: Any = None) -> None:
        self._check_open()
        key = (level, option)
        if key not in _OPTIONS:
            raise OSError(errno.ENOPROTOOPT, f"pystack_socket does not support option {key}")
        if key == (SOL_SOCKET, SO_LINGER) and isinstance(value, bytes):
            value = tuple(int.from_bytes(value[i : i + 4], "little") for i in (0, 4))
        if key in _BUFFERS and (not isinstance(value, int) or value <= 0):
            raise OSError(errno.EINVAL, f"Invalid argument: buffer size {value!r}")
        missing = object()
        previous = self._options.get(key, missing)
        self._options[key] = value
        session = self._shared.session if isinstance(self._shared, _Stream) else None
        if session is not None:
            try:
                self._call(self._apply_options, session)
            except OSError:
                if previous is missing:
                    del self._options[key]
                else:
                    self._options[key] = previous
                raise

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        self._check_open()
        key = (level, option)
        if key == (SOL_SOCKET, SO_ERROR):
            return 0
        if key not in _OPTIONS:
            raise OSError(errno.ENOPROTOOPT, f"pystack_socket does not support option {key}")
        value = self._options.get(key, _OPTIONS[key])
        if key == (SOL_SOCKET, SO_LINGER):
            on, seconds = value if isinstance(value, tuple) else (0, 0)
            return on.to_bytes(4, "little") + seconds.to_bytes(4, "little")
        return int(value)

    def _config(self, config: Any) -> Any:
        """``config`` (a TcpConfig) with TCP_NODELAY, SO_KEEPALIVE and the buffer sizes."""
        opts = self._options
        wanted = {
            "nodelay": bool(opts.get((IPPROTO_TCP, TCP_NODELAY), config.nodelay)),
            "keepalive": bool(opts.get((SOL_SOCKET, SO_KEEPALIVE), config.keepalive)),
            "rcv_buf": int(opts.get((SOL_SOCKET, SO_RCVBUF), config.rcv_buf)),
            "snd_buf": int(opts.get((SOL_SOCKET, SO_SNDBUF), config.snd_buf)),
        }
        if all(getattr(config, k) == v for k, v in wanted.items()):
            return config
        return dataclasses.replace(config, **wanted)

    def _apply_options(self, session: Any) -> None:
        """Carry the options into a live session (reactor thread).

        SO_SNDBUF resizes the send buffer at once (never below what is queued). SO_RCVBUF
        may grow the receive buffer of a connected socket but not shrink it: the window
        already offered must stay usable (RFC 9293 §3.8.6.2.2, the window SHOULD NOT
        shrink), so a smaller value raises EINVAL; set it before connect() or listen().
        """
        rcv = self._options.get((SOL_SOCKET, SO_RCVBUF))
        if session.state == TCP.TIME_WAIT or session.close_reason is not None:
            # Finished: its buffers may be the idle ones all TIME_WAIT sessions share.
            session.config = self._config(session.config)
            return
        if rcv is not None and session.state not in S.unconnected:
            if int(rcv) < session.rcvbuf.capacity:
                raise OSError(errno.EINVAL, "SO_RCVBUF cannot shrink the receive buffer of a "
                              "connected socket (set it before connect/listen)")  # fmt: skip
            session.rcvbuf.capacity = int(rcv)
        snd = self._options.get((SOL_SOCKET, SO_SNDBUF))
        if snd is not None:
            session.sndbuf.capacity = max(int(snd), len(session.sndbuf), 1)
        session.config = self._config(session.config)
        if rcv is not None and isinstance(self._shared, _Stream):
            self._shared.limit = int(rcv)


_OPTIONS: dict[tuple[int, int], Any] = {
    (IPPROTO_TCP, TCP_NODELAY): 0,
    (SOL_SOCKET, SO_KEEPALIVE): 0,
    (SOL_SOCKET, SO_LINGER): (0, 0),
    (SOL_SOCKET, SO_REUSEADDR): 0,
    (SOL_SOCKET, SO_RCVBUF): RECV_LIMIT,
    (SOL_SOCKET, SO_SNDBUF): 256 * 1024,
    (IPPROTO_IPV6, IPV6_V6ONLY): 0,
}
_BUFFERS = {(SOL_SOCKET, SO_RCVBUF), (SOL_SOCKET, SO_SNDBUF)}
