"""Applications and kernel-side helpers shared by the tests that run the stack against the
Linux kernel in lab namespaces.

The applications run in the reactor thread and respect flow control: they move bytes only
as fast as the send buffer takes them (``send_space`` / ``tcp_writable``), so nothing is
lost when the peer reads slowly.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.lab import Lab
from pystack.reactor import blocking_call
from pystack.tcp.session import TCPSession

MiB = 1 << 20


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FlowEcho(TCPApplication):
    """Echo per connection (``newinstance=True``) with flow control; closes after the
    peer's FIN once everything is echoed. ``served`` collects every served session."""

    served: list[TCPSession] = []

    def tcp_readable(self, session: TCPSession) -> None:
        self._pump(session)

    def tcp_writable(self, session: TCPSession) -> None:
        self._pump(session)

    def eof_received(self) -> bool:
        if self.session is not None:
            self._pump(self.session)
        return True  # we close ourselves once the echo is complete

    def connection_made(self) -> None:
        if self.session is not None:
            type(self).served.append(self.session)

    def _pump(self, session: TCPSession) -> None:
        while session.readable and session.state in ("ESTABLISHED", "CLOSE_WAIT"):
            room = session.send_space
            if room <= 0:
                return
            session.send(session.read(min(room, 64 * 1024)))
        if self.eof and not session.readable and session.state == "CLOSE_WAIT":
            session.close()


def echo_server(stack: Any, port: int) -> type[FlowEcho]:
    """Start a FlowEcho server on ``port``; returns its class (``served`` is fresh)."""

    class Echo(FlowEcho):
        served: list[TCPSession] = []

    def start() -> None:
        app = Echo()
        stack.register_tcp_application(app)
        app.bind(port, app=app, newinstance=True)
        app.listen(16)

    blocking_call(start)
    return Echo


class Sender(TCPApplication):
    """A client that sends ``payload`` (flow-controlled), collects what it receives, and
    closes once both its data is sent and the peer's FIN has arrived."""

    def __init__(self, payload: bytes) -> None:
        super().__init__()
        self.payload = payload
        self.offset = 0
        self.received = bytearray()

    def start_sending(self) -> None:
        assert self.session is not None
        self._pump(self.session)

    def tcp_readable(self, session: TCPSession) -> None:
        self.received += session.read()

    def tcp_writable(self, session: TCPSession) -> None:
        self._pump(session)

    def eof_received(self) -> bool:
        if self.session is not None:
            self._pump(self.session)
        return True

    def _pump(self, session: TCPSession) -> None:
        while self.offset < len(self.payload) and session.state in ("ESTABLISHED", "CLOSE_WAIT"):
            taken = session.send(self.payload[self.offset : self.offset + 64 * 1024])
            if taken == 0:
                return
            self.offset += taken
        if self.offset == len(self.payload) and not session.fin_queued:
            session.close()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` (run in the reactor thread) until true, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not blocking_call(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def kernel_socket(lab: Lab) -> socket.socket:
    """A TCP socket in the lab's kernel namespace."""
    with lab.kernel():
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def kernel_connect(lab: Lab, port: int, timeout: float = 10.0) -> socket.socket:
    """A kernel TCP connection to the stack's ``port`` (the first SYN may wait on ARP)."""
    sock = kernel_socket(lab)
    sock.settimeout(timeout)
    try:
        sock.connect((lab.stack_ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def exchange(sock: socket.socket, payload: bytes) -> tuple[bytes, bool]:
    """Send ``payload`` then FIN from a thread while reading here until EOF; returns what
    came back and whether the sender thread finished."""
    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    chunks = []
    while chunk := sock.recv(256 * 1024):
        chunks.append(chunk)
    sender.join(10)
    if errors:
        raise errors[0]
    return b"".join(chunks), not sender.is_alive()


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def session_states(sessions: list[TCPSession]) -> list[str]:
    return blocking_call(lambda: [s.state for s in sessions])


# ==================================================================================== tests


def kernel_server(lab: Lab, payload: bytes) -> tuple[int, Any]:
    """A one-shot kernel server on an ephemeral port: it sends ``payload`` then FIN while
    reading until EOF. Returns the port and a function waiting for what it received."""
    listener = kernel_socket(lab)
    listener.bind((lab.kernel_ip, 0))
    listener.listen(1)
    listener.settimeout(15)
    result: list[Any] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(15)
                result.append(exchange(conn, payload))
        except BaseException as exc:
            result.append(exc)
        finally:
            listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def received() -> tuple[bytes, bool]:
        thread.join(30)
        assert result, "the kernel server did not finish"
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    return listener.getsockname()[1], received
