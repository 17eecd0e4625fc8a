"""TCP between the stack and the Linux kernel in lab namespaces (issue 5 §6).

The helpers here are shared by the other TCP interop files (they import them by name).
The applications run in the reactor thread and respect flow control: they move bytes only
as fast as the send buffer takes them (``send_space`` / ``tcp_writable``), so nothing is
lost when the peer reads slowly.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.lab import Lab
from pystack.reactor import blocking_call
from pystack.tcp.session import TCPSession

pytestmark = pytest.mark.root

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

ECHO_PORT = 7
CONNECTIONS = 20


def test_kernel_clients_in_a_row_get_1_mib_echoed_and_closed_cleanly(lab: Lab, stack: Any) -> None:
    echo = echo_server(stack, ECHO_PORT)
    for n in range(CONNECTIONS):
        payload = random_bytes(MiB)
        with kernel_connect(lab, ECHO_PORT) as sock:
            back, sent_all = exchange(sock, payload)  # ends at the stack's FIN (EOF)
        assert sent_all and len(back) == len(payload), f"connection {n}"
        assert sha(back) == sha(payload), f"connection {n}"
    served = echo.served
    assert len(served) == CONNECTIONS
    # The kernel ACKs the stack's FIN: every stack session leaves LAST_ACK for CLOSED.
    wait_for(lambda: all(s.state == "CLOSED" for s in served), 5, "every session CLOSED")
    reasons = blocking_call(lambda: {str(s.close_reason) for s in served})
    assert reasons == {"CloseReason.CLOSED"}


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


def test_stack_client_and_kernel_server_exchange_1_mib_each_way(lab: Lab, stack: Any) -> None:
    to_kernel, to_stack = random_bytes(MiB), random_bytes(MiB)
    port, kernel_received = kernel_server(lab, to_stack)
    client = Sender(to_kernel)
    blocking_call(stack.register_tcp_application, client)
    assert client.connect(lab.kernel_ip, port, timeout=10)
    blocking_call(client.start_sending)
    got, kernel_sent_all = kernel_received()  # the kernel saw our FIN as EOF
    assert kernel_sent_all and sha(got) == sha(to_kernel)
    session = client.session
    assert session is not None
    # Whoever closed first, both FINs are acknowledged: TIME_WAIT (we closed first) or CLOSED.
    wait_for(lambda: session.state in ("CLOSED", "TIME_WAIT"), 10, "the client's close")
    assert client.eof, "the stack did not see the kernel's FIN"
    assert sha(bytes(client.received)) == sha(to_stack)


def test_eight_kernel_clients_in_parallel(lab: Lab, stack: Any) -> None:
    echo_server(stack, ECHO_PORT)
    payloads = [random_bytes(256 * 1024) for _ in range(8)]
    results: dict[int, Any] = {}

    def client(i: int) -> None:
        try:
            with kernel_connect(lab, ECHO_PORT) as sock:
                results[i] = exchange(sock, payloads[i])[0]
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, payload in enumerate(payloads):
        assert isinstance(results.get(i), bytes), f"client {i}: {results.get(i)!r}"
        assert sha(results[i]) == sha(payload), f"client {i}"


def test_kernel_connect_to_a_closed_stack_port_is_refused(lab: Lab, stack: Any) -> None:
    sock = kernel_socket(lab)
    with sock:
        sock.settimeout(10)
        with pytest.raises(ConnectionRefusedError) as refused:
            sock.connect((lab.stack_ip, 9999))
    assert refused.value.errno == errno.ECONNREFUSED


class HttpResponder(TCPApplication):
    """HTTP/1.0: reads the request head, answers ``body`` and closes (newinstance)."""

    body = b""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.request = getattr(self, "request", b"") + packet
        if b"\r\n\r\n" not in self.request or getattr(self, "answered", False):
            return
        self.answered = True
        head = (
            b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
        )
        self.send_packet(head + self.body)
        self.close()


@pytest.mark.needs_tool("/usr/bin/curl", "curl")
def test_curl_fetches_from_a_stack_http_responder(lab: Lab, stack: Any, tmp_path: Any) -> None:
    body = random_bytes(200 * 1024)  # under the send buffer: one send_packet takes it all

    class Responder(HttpResponder):
        pass

    Responder.body = body

    def start() -> None:
        app = Responder()
        stack.register_tcp_application(app)
        app.bind(80, app=app, newinstance=True)
        app.listen(4)

    blocking_call(start)
    out = tmp_path / "body"
    done = lab.run(["/usr/bin/curl", "-sS", "--max-time", "20", "-o", str(out),
                    f"http://{lab.stack_ip}/file"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sha(out.read_bytes()) == sha(body)


def test_serve_echo_keeps_every_byte_for_a_client_that_reads_late(tap_lab: Lab) -> None:
    from pystack.clicmd.serve import app_class
    from pystack.reactor import ensure_thread
    from pystack.stack import PyStack

    ensure_thread()
    with PyStack(link=tap_lab.open_link(), ip=tap_lab.stack_cidr) as stack:
        stack.run(doreactor=False)

        def start() -> None:
            app = app_class("echo")()
            stack.register_tcp_application(app)
            app.bind(ECHO_PORT, app=app, newinstance=True)
            app.listen(4)

        blocking_call(start)
        payload = random_bytes(2 * MiB)
        with kernel_connect(tap_lab, ECHO_PORT) as sock:
            sock.sendall(payload)  # everything first: the echo waits in the stack meanwhile
            sock.shutdown(socket.SHUT_WR)
            back = b"".join(iter(lambda: sock.recv(256 * 1024), b""))
    assert len(back) == len(payload)
