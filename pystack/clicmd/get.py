"""``pystack get http://HOST:PORT/path [-o FILE]``: HTTP/1.0 GET over the stack."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from typing import IO, Any
from urllib.parse import SplitResult, urlsplit

from pystack import errors
from pystack.apps.tcp_application import TCPApplication
from pystack.clicmd import _attach

PROGRESS_EVERY = 1 << 20  # bytes between progress lines


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack get``."""
    parser = sub.add_parser(
        "get",
        help="fetch a URL with HTTP/1.0 over the stack",
        description="Fetch http://HOST[:PORT]/PATH with HTTP/1.0 over the stack; the body "
        "goes to stdout or -o FILE, progress to stderr on long transfers. HOST must be an "
        "IPv4 address.",
    )
    parser.add_argument("url", type=http_url, help="http://HOST[:PORT]/PATH")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the body to FILE")
    parser.add_argument(
        "--timeout", type=_attach.positive, default=30.0, help="seconds without data"
    )
    parser.add_argument(
        "--fastopen",
        nargs="?",
        const="",
        metavar="COOKIE",
        type=fastopen_cookie,
        help="TCP Fast Open (RFC 7413): without COOKIE, ask the server for one and print "
        "it; with the hex COOKIE it gave, send the request in the SYN",
    )
    _attach.add_options(parser)
    _attach.add_personality_option(parser)
    parser.set_defaults(func=run)


def fastopen_cookie(text: str) -> bytes:
    """The argparse type of --fastopen's COOKIE: 4 to 16 bytes in hex (RFC 7413 §4.1.1)."""
    try:
        cookie = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a hex cookie") from None
    if cookie and not 4 <= len(cookie) <= 16:
        raise argparse.ArgumentTypeError("a Fast Open cookie has 4 to 16 bytes")
    return cookie


def http_url(text: str) -> SplitResult:
    """The argparse type of the URL: ``http://`` an IPv4 address or an IPv6 one in
    brackets (``http://[2001:db8::1]/``, RFC 3986 §3.2.2), an optional port in 1-65535, a
    path; checked before the stack exists."""
    try:
        url = urlsplit(text)
    except ValueError:  # a bracketed host that is not an IPv6 address
        raise argparse.ArgumentTypeError(f"{text} is not an http://HOST[:PORT]/PATH URL") from None
    if url.scheme != "http" or not url.hostname:
        raise argparse.ArgumentTypeError(f"{text} is not an http://HOST[:PORT]/PATH URL")
    check, (_, colon, port) = errors.check_address, url.netloc.rpartition(":")
    if ":" in url.hostname:
        after = url.netloc.rpartition("]")[2]
        check, colon, port = errors.check_ip, after[:1], after[1:]
    try:
        check(url.hostname)
        if colon and port:
            errors.check_port(int(port) if port.isdigit() else port)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from None
    return url


class Response:
    """Splits the status line and headers from the body, streaming the body out."""

    def __init__(self, out: IO[bytes], progress: IO[str]) -> None:
        self.out, self.progress = out, progress
        self.head = b""
        self.in_body = False
        self.body_bytes = 0
        self.activity = threading.Event()
        self.done = threading.Event()
        self.started = time.monotonic()

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the response."""
        self.activity.set()
        if not self.in_body:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            self.head, data = self.head.split(b"\r\n\r\n", 1)
            self.in_body = True
        before = self.body_bytes
        self.body_bytes += len(data)
        self.out.write(data)
        if self.body_bytes // PROGRESS_EVERY > before // PROGRESS_EVERY:
            rate = self.body_bytes / max(time.monotonic() - self.started, 1e-6) / 1e6
            print(f"  {self.body_bytes >> 20} MiB ({rate:.1f} MB/s)", file=self.progress)

    @property
    def status(self) -> str:
        """The status line (``HTTP/1.0 200 OK``)."""
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")


class HttpClient(TCPApplication):
    """Feeds what arrives to a :class:`Response` and marks it done when the server closes."""

    def __init__(self, response: Response) -> None:
        super().__init__()
        self.response = response

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.response.feed(packet)

    def connection_lost(self, reason: object = None) -> None:
        self.response.done.set()


def run(args: argparse.Namespace) -> int:
    """Fetch the URL; 0 on a 200 response."""
    url = args.url
    args.fastopen_mode = "client" if args.fastopen is not None else False
    with contextlib.ExitStack() as cleanup:
        out = cleanup.enter_context(open(args.output, "wb")) if args.output else sys.stdout.buffer
        stack = cleanup.enter_context(_attach.attached_stack(args))
        stack.run(doreactor=False)
        _attach.wait_for_ipv6(stack)
        return fetch(stack, url, Response(out, sys.stderr), args.timeout, args.fastopen)


def fetch(
    stack: Any, url: Any, response: Response, timeout: float, fastopen: bytes | None = None
) -> int:
    """GET ``url`` with a connected client on ``stack``; print the status line. With
    ``fastopen`` (a cookie, or b"" to ask for one) connect with TCP Fast Open."""
    app = HttpClient(response)
    stack.register_tcp_application(app)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    request = f"GET {path} HTTP/1.0\r\nHost: {url.netloc}\r\n\r\n".encode()
    host, port = url.hostname, url.port or 80
    if fastopen is not None:
        connected = _connect_fastopen(stack, app, host, port, request, fastopen, timeout)
    elif app.connect(host, port, timeout=timeout):
        app.send_packet(request)
        connected = True
    else:
        connected = False
    if not connected:
        print(f"pystack get: cannot connect to {url.netloc}", file=sys.stderr)
        return 1
    while not response.done.wait(0.2):
        if response.activity.wait(timeout):
            response.activity.clear()
            continue
        print("pystack get: timed out", file=sys.stderr)
        return 1
    print(f"{response.status} ({response.body_bytes} bytes)", file=sys.stderr)
    if fastopen is not None:
        _report_fastopen(stack, app, host)
    return 0 if " 200 " in f"{response.status} " else 1


def _connect_fastopen(
    stack: Any, app: HttpClient, host: str, port: int, request: bytes, cookie: bytes,
    timeout: float,
) -> bool:  # fmt: skip
    """Connect and queue ``request`` in one reactor turn, so that with ``cookie`` cached
    for ``host`` the request rides on the SYN (RFC 7413 §4.2.1)."""
    from pystack.reactor import blocking_call
    from pystack.tcp.fastopen import FastOpenState

    def start() -> Any:
        state = FastOpenState.of(stack.tcp)
        if cookie and state is not None:
            state.cache.put(host, cookie, 536)  # RFC 9293 §3.7.1: the MSS to assume
        connecting = app.connect_deferred(host, port, timeout=timeout)
        app.send_packet(request)
        return connecting

    return bool(blocking_call(start, _reactor=stack.clock))


def _report_fastopen(stack: Any, app: HttpClient, host: str) -> None:
    """Tell the user the cookie the server gave and whether the request rode on the SYN."""
    from pystack.tcp.fastopen import FastOpenState

    state = FastOpenState.of(stack.tcp)
    cached = state.cache.get(host) if state is not None else None
    taken = getattr(app.session, "fastopen_syn_data", 0) and not getattr(
        app.session, "fastopen_fell_back", True
    )
    in_syn = "in the SYN" if taken else "after the handshake"
    cookie = cached.cookie.hex() if cached is not None else "none"
    print(f"fast open: request sent {in_syn}; server cookie {cookie}", file=sys.stderr)
