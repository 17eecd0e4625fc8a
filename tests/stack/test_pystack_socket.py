"""pystack_socket between two stacks on a memory wire, the real reactor in its thread."""

from __future__ import annotations

import errno
import select
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor

import pystack.pystack_socket as socket
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

pytestmark = pytest.mark.timeout(60)
CLIENT, SERVER = "198.18.0.1", "198.18.0.2"


class Pair:
    def __init__(self) -> None:
        ensure_thread(reactor)
        wire = MemoryWire(reactor, seed=3)
        self.client = PyStack(link=wire.attach(), ip=f"{CLIENT}/24", clock=reactor)
        self.server = PyStack(link=wire.attach(), ip=f"{SERVER}/24", clock=reactor)
        zone = TinyDnsServer({"srv.lab": [SERVER], "www.lab": "CNAME srv.lab"}, ttl=60)
        self.server.register_udp_application(zone)
        zone.bind(53)
        self.client.dns = resolver_for_stack(self.client, servers=[SERVER], timeout=0.5)

    def stop(self) -> None:
        self.client.stop()
        self.server.stop()


@pytest.fixture
def pair() -> Iterator[Pair]:
    made = blocking_call(Pair, _reactor=reactor)
    socket.use_stack(made.client)
    try:
        yield made
    finally:
        socket.use_stack(None)
        blocking_call(made.stop, _reactor=reactor)


def serve(pair: Pair, port: int, handler: Any) -> tuple[socket.socket, threading.Thread]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, stack=pair.server)
    listener.bind(("", port))
    listener.listen(5)

    def run() -> None:
        conn, _addr = listener.accept()
        with conn:
            handler(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread


def echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def test_tcp_echo_of_200_kib_by_name(pair: Pair) -> None:
    listener, thread = serve(pair, 7000, echo)
    payload = bytes(i * 31 % 251 for i in range(200 * 1024))
    with socket.create_connection(("www.lab", 7000), timeout=10) as sock:
        assert sock.getpeername() == (SERVER, 7000)
        assert sock.getsockname()[0] == CLIENT
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        got = bytearray()
        while chunk := sock.recv(65536):
            got += chunk
    assert bytes(got) == payload
    thread.join(10)
    listener.close()


def test_accept_returns_the_peer_address(pair: Pair) -> None:
    seen: list[Any] = []
    listener = socket.socket(stack=pair.server)
    listener.bind((SERVER, 7001))
    listener.listen()
    with socket.socket() as client:
        client.settimeout(5)
        client.connect((SERVER, 7001))
        conn, address = listener.accept()
        seen.append(address)
        assert address == client.getsockname()
        conn.close()
        assert client.recv(10) == b""  # EOF
    listener.close()


def test_refused_timeout_and_nonblocking(pair: Pair) -> None:
    with socket.socket() as sock:
        sock.settimeout(5)
        with pytest.raises(ConnectionRefusedError) as info:
            sock.connect((SERVER, 9))
        assert info.value.errno == errno.ECONNREFUSED
    assert socket.socket().connect_ex((SERVER, 9)) == errno.ECONNREFUSED
    listener, _thread = serve(pair, 7002, lambda conn: conn.recv(1))
    with socket.socket() as sock:
        sock.connect((SERVER, 7002))
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            sock.recv(10)
    listener.close()


def test_fileno_is_selectable(pair: Pair) -> None:
    listener, _thread = serve(pair, 7003, echo)
    with socket.create_connection((SERVER, 7003), timeout=5) as sock:
        assert select.select([sock], [], [], 0)[0] == []
        sock.sendall(b"ping")
        assert select.select([sock], [], [], 5)[0] == [sock]
        assert sock.recv(10) == b"ping"
        assert select.select([sock], [], [], 0)[0] == []
    listener.close()


def test_makefile_lines(pair: Pair) -> None:
    listener, _thread = serve(pair, 7004, echo)
    with socket.create_connection((SERVER, 7004), timeout=5) as sock, sock.makefile("rwb") as f:
        f.write(b"one\ntwo\n")
        f.flush()
        assert f.readline() == b"one\n"
        assert f.readline() == b"two\n"
    listener.close()


def test_linger_zero_resets_the_peer(pair: Pair) -> None:
    errors: list[BaseException] = []

    def reader(conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            while conn.recv(100):
                pass
        except OSError as exc:
            errors.append(exc)

    listener, thread = serve(pair, 7005, reader)
    sock = socket.create_connection((SERVER, 7005), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, (1, 0))
    sock.close()
    thread.join(10)
    assert errors and isinstance(errors[0], ConnectionResetError)
    listener.close()


def test_bind_rules(pair: Pair) -> None:
    listener = socket.socket(stack=pair.server)
    listener.bind(("", 7006))
    listener.listen()
    other = socket.socket(stack=pair.server)
    with pytest.raises(OSError) as info:
        other.bind(("0.0.0.0", 7006))
    assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError) as info:
        other.bind(("203.0.113.1", 7007))
    assert info.value.errno == errno.EADDRNOTAVAIL
    free = socket.socket(stack=pair.server)
    free.bind(("", 0))
    assert free.getsockname()[1] > 1023
    for s in (listener, other, free):
        s.close()
    with pytest.raises(OSError):
        socket.socket(socket.AF_UNIX)


def test_udp_sendto_recvfrom(pair: Pair) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, stack=pair.server)
    server.bind(("", 5000))
    server.settimeout(5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(b"hello", ("srv.lab", 5000))
        data, peer = server.recvfrom(100)
        assert data == b"hello" and peer == (CLIENT, client.getsockname()[1])
        server.sendto(b"world", peer)
        assert client.recvfrom(100) == (b"world", (SERVER, 5000))
    server.close()


def test_names(pair: Pair) -> None:
    assert socket.gethostbyname("www.lab") == SERVER
    infos = socket.getaddrinfo("www.lab", "http", type=socket.SOCK_STREAM,
                               flags=socket.AI_CANONNAME)  # fmt: skip
    assert infos == [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "srv.lab",
                      (SERVER, 80))]  # fmt: skip
    with pytest.raises(socket.gaierror):
        socket.gethostbyname("nope.lab")


def test_close_with_unread_data_resets_the_peer(pair: Pair) -> None:
    # RFC 1122 §4.2.2.13, RFC 2525 §2.17, as Linux: the server closes without reading what
    # came, which is lost: RST rather than FIN, and the client hears a reset, not EOF.
    def close_unread(conn: socket.socket) -> None:
        select.select([conn], [], [], 5)  # the request is there ...
        conn.close()  # ... and never read

    listener, thread = serve(pair, 7007, close_unread)
    with socket.create_connection((SERVER, 7007), timeout=5) as sock:
        sock.sendall(b"a request nobody reads")
        with pytest.raises(ConnectionResetError) as info:
            sock.recv(100)
        assert info.value.errno == errno.ECONNRESET
        with pytest.raises(ConnectionResetError):
            sock.send(b"more")
    thread.join(10)
    listener.close()


def test_data_after_close_resets_the_peer(pair: Pair) -> None:
    def read_and_close(conn: socket.socket) -> None:
        assert conn.recv(5) == b"hello"  # everything there is: a clean close (FIN)

    listener, thread = serve(pair, 7008, read_and_close)
    with socket.create_connection((SERVER, 7008), timeout=5) as sock:
        sock.sendall(b"hello")
        assert sock.recv(100) == b""  # the server's FIN
        thread.join(10)
        # The server closed both directions: what follows cannot be read, and its RST
        # ends the client's sending (more than any buffer and window could take).
        with pytest.raises(ConnectionResetError):
            sock.sendall(b"x" * 2_000_000)
    listener.close()


def test_half_close_keeps_receiving(pair: Pair) -> None:
    got = bytearray()

    def half_close(conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.shutdown(socket.SHUT_WR)  # not a close: data still arrives
        while chunk := conn.recv(100):
            got.extend(chunk)

    listener, thread = serve(pair, 7009, half_close)
    with socket.create_connection((SERVER, 7009), timeout=5) as sock:
        assert sock.recv(100) == b""
        sock.sendall(b"after your FIN")
        sock.shutdown(socket.SHUT_WR)
        thread.join(10)
    assert bytes(got) == b"after your FIN"
    listener.close()
