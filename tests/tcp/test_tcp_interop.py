"""TCP between the stack and the Linux kernel in lab namespaces (issue 5 §6).

The applications and helpers come from ``helpers.kernel_peers``.
"""

from __future__ import annotations

import errno
import socket
import threading
from typing import Any

import pytest
from helpers.kernel_peers import (
    MiB,
    Sender,
    echo_server,
    exchange,
    kernel_connect,
    kernel_server,
    kernel_socket,
    random_bytes,
    sha,
    wait_for,
)

from pystack.apps.tcp_application import TCPApplication
from pystack.lab import Lab
from pystack.reactor import blocking_call

pytestmark = pytest.mark.root

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
