"""pystack_socket: shutdown(SHUT_RD), SO_RCVBUF / SO_SNDBUF, and a socketserver server with
an http.client client under hijack(); two stacks on a memory wire, the real reactor in its
thread."""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import select
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor

import pystack.pystack_socket as socket
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack
from pystack.tcp import session as tcp_session

pytestmark = pytest.mark.timeout(60)
CLIENT, SERVER = "198.18.0.1", "198.18.0.2"


@pytest.fixture
def stacks() -> Iterator[tuple[PyStack, PyStack]]:
    ensure_thread(reactor)

    def make() -> tuple[PyStack, PyStack]:
        wire = MemoryWire(reactor, seed=8)
        return (PyStack(link=wire.attach(), ip=f"{CLIENT}/24", clock=reactor),
                PyStack(link=wire.attach(), ip=f"{SERVER}/24", clock=reactor))  # fmt: skip

    client, server = blocking_call(make, _reactor=reactor)
    try:
        yield client, server
    finally:
        socket.use_stack(None)
        client.stop()
        server.stop()


def connected(client: PyStack, server: PyStack, **options: int) -> tuple[Any, Any, Any]:
    """(listening, client side, server side) sockets; ``options`` set on the client first."""
    listening = socket.socket(stack=server)
    listening.bind(("", 7000))
    listening.listen(1)
    sock = socket.socket(stack=client)
    for name, value in options.items():
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, name), value)
    sock.settimeout(10)
    sock.connect((SERVER, 7000))
    listening.settimeout(10)
    served, _ = listening.accept()
    served.settimeout(10)
    return listening, sock, served


def test_shut_rd_reads_eof_and_discards_while_acknowledging(
    stacks: tuple[PyStack, PyStack],
) -> None:
    listening, sock, served = connected(*stacks)
    sock.sendall(b"before")
    served.shutdown(socket.SHUT_RD)
    assert served.recv(100) == b""
    # Far more than any window: it all goes through only if the server keeps ACKing.
    sock.sendall(b"x" * 1_000_000)
    assert served.recv(100) == b""
    served.sendall(b"still writing")  # the other direction is untouched
    got = b""
    while len(got) < 13:
        got += sock.recv(100)
    assert got == b"still writing"
    for s in (sock, served, listening):
        s.close()


def test_shutdown_misuse(stacks: tuple[PyStack, PyStack]) -> None:
    client, _ = stacks
    sock = socket.socket(stack=client)
    with pytest.raises(OSError) as info:
        sock.shutdown(socket.SHUT_RD)
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        sock.shutdown(7)
    assert info.value.errno == errno.EINVAL
    sock.close()


def test_so_rcvbuf_before_connect_sizes_the_window(stacks: tuple[PyStack, PyStack]) -> None:
    listening, sock, served = connected(*stacks, SO_RCVBUF=4096)
    assert sock._shared.session.rcvbuf.capacity == 4096
    assert served._shared.session.snd_wnd <= 4096  # what our SYN offered the peer
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 4096
    data = bytes(range(256)) * 400
    sender = threading.Thread(target=served.sendall, args=(data,))
    sender.start()
    got = bytearray()
    while len(got) < len(data):
        got += sock.recv(65536)
    sender.join(10)
    assert got == data
    for s in (sock, served, listening):
        s.close()


def test_so_rcvbuf_on_a_connected_socket_grows_but_never_shrinks(
    stacks: tuple[PyStack, PyStack],
) -> None:
    listening, sock, served = connected(*stacks)
    before = sock._shared.session.rcvbuf.capacity
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, before * 2)
    assert sock._shared.session.rcvbuf.capacity == before * 2
    with pytest.raises(OSError) as info:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    assert info.value.errno == errno.EINVAL and "shrink" in str(info.value)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == before * 2
    with pytest.raises(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 0)
    for s in (sock, served, listening):
        s.close()


@contextlib.contextmanager
def reactor_held() -> Iterator[None]:
    """Keep the reactor thread busy inside the block: what the user's thread hands it
    (recv()'s pull of more bytes) waits until the block ends."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        held.set()
        release.wait(10)

    reactor.callFromThread(hold)
    assert held.wait(10)
    try:
        yield
    finally:
        release.set()


def test_recv_does_not_end_the_stream_while_the_session_holds_bytes(
    stacks: tuple[PyStack, PyStack],
) -> None:
    """The peer's FIN arrived while the socket's buffer was full and the session held the
    tail: once recv() empties the buffer, the tail is still to come (urllib read a 512 KiB
    body short by the last segment when its next recv() ran before the reactor's pull)."""
    listening, sock, served = connected(*stacks, SO_RCVBUF=16384)
    payload = os.urandom(16384 + 1000)
    served.sendall(payload)
    served.close()  # FIN after the data
    stream = sock._shared
    with stream.cond:  # the FIN is in; the buffer is full and the session keeps the tail
        assert stream.cond.wait_for(lambda: stream.eof, 10)
        assert len(stream.rbuf) == 16384 and stream.session.readable == 1000
    sock.settimeout(0.0)
    with reactor_held():  # recv()'s pull of the tail cannot run yet
        head = sock.recv(65536)
        assert select.select([sock], [], [], 0)[0] == []  # not readable: no data, no EOF
        with pytest.raises(BlockingIOError):
            sock.recv(65536)  # was b"": end of stream with 1000 bytes unread
    sock.settimeout(10)
    rest = b""
    while chunk := sock.recv(65536):
        rest += chunk
    assert head + rest == payload
    for s in (sock, listening):
        s.close()


def test_so_sndbuf_applies_at_once(stacks: tuple[PyStack, PyStack]) -> None:
    listening, sock, served = connected(*stacks)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    assert sock._shared.session.sndbuf.capacity == 8192
    assert sock.send(b"y" * 100_000) <= 8192  # send() takes what the buffer holds
    for s in (sock, served, listening):
        s.close()


def test_buffer_options_after_the_connection_ended_touch_no_shared_buffer(
    stacks: tuple[PyStack, PyStack],
) -> None:
    listening, sock, served = connected(*stacks)
    sock.shutdown(socket.SHUT_WR)
    served.close()
    assert sock.recv(10) == b""
    session = sock._shared.session
    assert blocking_call(lambda: session.state, _reactor=reactor) in ("TIME_WAIT", "CLOSED")
    idle = (tcp_session._IDLE.sndbuf.capacity, tcp_session._IDLE.rcvbuf.capacity)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    assert (tcp_session._IDLE.sndbuf.capacity, tcp_session._IDLE.rcvbuf.capacity) == idle
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 4096
    for s in (sock, listening):
        s.close()


class Hello(socketserver.StreamRequestHandler):
    """A tiny HTTP/1.0 responder written against socketserver, as stdlib users do."""

    def handle(self) -> None:
        request = self.rfile.readline().decode("latin-1").split()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        body = f"hello {request[1]} from {self.client_address[0]}".encode()
        head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.wfile.write(head + body)


def test_socketserver_server_and_http_client_under_hijack(
    stacks: tuple[PyStack, PyStack],
) -> None:
    client, server = stacks
    with socket.hijack(server):
        httpd = socketserver.ThreadingTCPServer(("", 8000), Hello)
    assert isinstance(httpd.socket, socket.socket)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with socket.hijack(client):
            for path in ("/one", "/two"):
                conn = http.client.HTTPConnection(SERVER, 8000, timeout=10)
                conn.request("GET", path)
                response = conn.getresponse()
                assert response.status == 200
                assert response.read() == f"hello {path} from {CLIENT}".encode()
                conn.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
