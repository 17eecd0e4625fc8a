"""The seed's documented signatures keep working (2013 documentation §2.4, §2.5), as its
examples call them: positional bind(port, app, newinstance), listen, accept, connect,
send_packet, fetch_data, run(doreactor=False), stop, register_*_application."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.links.memory import MemoryWire
from pystack.pystack import PyStack
from pystack.reactor import blocking_call, ensure_thread

pytestmark = pytest.mark.timeout(60)
SERVER = "198.18.0.2"


@pytest.fixture
def stacks() -> Iterator[tuple[Any, Any]]:
    ensure_thread(reactor)

    def make() -> tuple[Any, Any]:
        wire = MemoryWire(reactor, seed=4)
        return (PyStack(link=wire.attach(), ip="198.18.0.1/24", clock=reactor),
                PyStack(link=wire.attach(), ip=f"{SERVER}/24", clock=reactor))  # fmt: skip

    client, server = blocking_call(make, _reactor=reactor)
    client.run(doreactor=False)  # the seed's thread mode
    server.run(False)
    yield client, server
    blocking_call(client.stop, _reactor=reactor)
    blocking_call(server.stop, _reactor=reactor)
    blocking_call(server.stop, _reactor=reactor)  # idempotent


def fetch_until(app: TCPApplication, n: int) -> bytes:
    got = b""
    while len(got) < n:
        got += blocking_call(app.fetch_data, _reactor=reactor)
    return got


def client_says(stack: Any, text: bytes) -> TCPApplication:
    conn = TCPApplication()
    stack.register_tcp_application(conn)
    assert conn.connect(SERVER, 8888) is True  # the seed's boolean connect
    blocking_call(conn.send_packet, text, _reactor=reactor)
    return conn


def test_bind_self_listen_accept_fetch_data(stacks: tuple[Any, Any]) -> None:
    client, server = stacks
    conn = TCPApplication()
    server.register_tcp_application(conn)
    blocking_call(conn.bind, 8888, _reactor=reactor)  # §2.4.3: app=None means self
    blocking_call(conn.listen, 2, _reactor=reactor)
    accepted: list[Any] = []
    thread = threading.Thread(target=lambda: accepted.append(conn.accept(timeout=10)))
    thread.start()
    client_says(client, b"hello")
    thread.join(20)
    assert accepted and fetch_until(accepted[0], 5) == b"hello"


def test_bind_shared_app_sees_every_client(stacks: tuple[Any, Any]) -> None:
    client, server = stacks
    received: list[tuple[bytes, Any]] = []

    class Shared(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            received.append((packet, kwargs["id"]))
            self.send_packet(packet.upper(), **kwargs)

    shared = Shared()
    server.register_tcp_application(shared)
    blocking_call(shared.bind, 8888, shared, False, _reactor=reactor)
    blocking_call(shared.listen, 5, _reactor=reactor)
    one, two = client_says(client, b"one"), client_says(client, b"two")
    assert fetch_until(one, 3) == b"ONE" and fetch_until(two, 3) == b"TWO"
    assert {r[0] for r in received} == {b"one", b"two"} and received[0][1] != received[1][1]


def test_bind_newinstance_forks_one_app_per_client(stacks: tuple[Any, Any]) -> None:
    client, server = stacks
    instances: list[Any] = []

    class PerClient(TCPApplication):
        def connection_made(self) -> None:
            instances.append(self)

        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            self.send_packet(f"{instances.index(self)}:".encode() + packet)

    app = PerClient()
    server.register_tcp_application(app)
    blocking_call(app.bind, 8888, app, True, _reactor=reactor)
    blocking_call(app.listen, 5, _reactor=reactor)
    one = client_says(client, b"a")
    assert fetch_until(one, 3) == b"0:a"
    two = client_says(client, b"b")
    assert fetch_until(two, 3) == b"1:b"
    assert len(instances) == 2 and app not in instances


def test_register_udp_application(stacks: tuple[Any, Any]) -> None:
    client, server = stacks
    got = threading.Event()

    class Sink(UDPApplication):
        def packet_received(self, packet: Any, **kwargs: Any) -> None:
            got.set()

    sink, sender = Sink(), UDPApplication()
    server.register_udp_application(sink)
    client.register_udp_application(sender)
    blocking_call(sink.bind, 5353, _reactor=reactor)
    blocking_call(sender.sendto, b"x", (SERVER, 5353), _reactor=reactor)
    assert got.wait(10)
