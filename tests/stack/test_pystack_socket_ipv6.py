"""pystack_socket with AF_INET6 between two dual-stack stacks on a memory wire (the real
reactor in its thread): TCP and UDP over IPv6, 4-tuple addresses, dual-stack listeners
showing IPv4 peers IPv4-mapped, IPV6_V6ONLY, getaddrinfo with IPv6 literals."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from twisted.internet import reactor

import pystack.pystack_socket as socket
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

pytestmark = pytest.mark.timeout(60)
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8::2"
CLIENT4, SERVER4 = "198.18.0.1", "198.18.0.2"


class Pair:
    def __init__(self) -> None:
        ensure_thread(reactor)
        wire = MemoryWire(reactor, seed=5)
        self.client = PyStack(link=wire.attach(), ip=f"{CLIENT4}/24", ip6=f"{CLIENT6}/64",
                              clock=reactor, dad_transmits=0)  # fmt: skip
        self.server = PyStack(link=wire.attach(), ip=f"{SERVER4}/24", ip6=f"{SERVER6}/64",
                              clock=reactor, dad_transmits=0)  # fmt: skip

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


def _echo_once(listener: socket.socket, seen: list[object]) -> threading.Thread:
    def run() -> None:
        conn, addr = listener.accept()
        seen.append(addr)
        with conn:
            seen.append(conn.getsockname())
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _listener(pair: Pair, port: int, v6only: bool = False) -> socket.socket:
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, stack=pair.server)
    if v6only:
        listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    listener.bind(("::", port))
    listener.listen(5)
    return listener


def test_tcp_over_ipv6_with_four_tuple_addresses(pair: Pair) -> None:
    listener = _listener(pair, 8080)
    seen: list[object] = []
    thread = _echo_once(listener, seen)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as client:
        client.settimeout(10)
        client.connect((SERVER6, 8080, 0, 0))
        assert client.getpeername() == (SERVER6, 8080, 0, 0)
        local = client.getsockname()
        assert local[0] == CLIENT6 and len(local) == 4
        payload = bytes(range(256)) * 400
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        back = b""
        while chunk := client.recv(65536):
            back += chunk
    thread.join(10)
    listener.close()
    assert back == payload
    assert seen[0][:2] == local[:2] and len(seen[0]) == 4  # type: ignore[index]
    assert seen[1][0] == SERVER6  # type: ignore[index]


def test_dual_stack_listener_shows_ipv4_peers_mapped(pair: Pair) -> None:
    listener = _listener(pair, 8081)
    seen: list[object] = []
    thread = _echo_once(listener, seen)
    with socket.create_connection((SERVER4, 8081), timeout=10) as client:
        client.sendall(b"four")
        assert client.recv(16) == b"four"
    thread.join(10)
    listener.close()
    assert seen[0][0] == f"::ffff:{CLIENT4}"  # type: ignore[index]


def test_v6only_listener_refuses_ipv4(pair: Pair) -> None:
    listener = _listener(pair, 8082, v6only=True)
    assert listener.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            client.connect((SERVER4, 8082))
    listener.close()


def test_inet_listener_takes_only_ipv4(pair: Pair) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, stack=pair.server)
    listener.bind(("", 8083))
    listener.listen()
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            client.connect((SERVER6, 8083))
    listener.close()


def test_udp_over_ipv6(pair: Pair) -> None:
    server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, stack=pair.server)
    server.bind(("", 5353))
    server.settimeout(5)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(b"hello", (SERVER6, 5353))
        data, peer = server.recvfrom(100)
        assert data == b"hello" and peer[0] == CLIENT6 and len(peer) == 4
        server.sendto(b"back", peer)
        assert client.recvfrom(100) == (b"back", (SERVER6, 5353, 0, 0))
    server.close()


def test_getaddrinfo_with_ipv6_literals() -> None:
    ((family, kind, proto, _, addr),) = socket.getaddrinfo(
        "2001:db8::7", 80, type=socket.SOCK_STREAM
    )
    assert (family, kind, proto, addr) == (socket.AF_INET6, socket.SOCK_STREAM, 6,
                                           ("2001:db8::7", 80, 0, 0))  # fmt: skip
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("2001:db8::7", 80, socket.AF_INET)
    passive = socket.getaddrinfo(
        None, 80, socket.AF_INET6, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    assert passive[0][4] == ("::", 80, 0, 0)
