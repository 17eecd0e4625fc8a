"""Thread mode (``stack.run(doreactor=False)``): the application API called from user
threads runs in the reactor thread (issue 5 §2), over two stacks on a MemoryWire driven by
the real reactor in its background thread."""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor
from twisted.internet.task import Clock

from pystack.apps.calls import must_hand_off
from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.dns.transport import TinyDnsServer
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread, in_reactor_thread
from pystack.stack import PyStack
from pystack.tcp.session import TCPSession

pytestmark = pytest.mark.timeout(120)
CLIENT, SERVER = "198.18.0.1", "198.18.0.2"
THREADS = 4
RECORD = struct.Struct("!BIH")  # thread, sequence number, payload length


@pytest.fixture
def stacks() -> Iterator[tuple[PyStack, PyStack]]:
    """Two stacks on one MemoryWire, both driven by the reactor in its background thread."""
    ensure_thread(reactor)

    def make() -> tuple[PyStack, PyStack]:
        wire = MemoryWire(reactor, seed=5)
        return (PyStack(link=wire.attach(), ip=f"{CLIENT}/24", clock=reactor,
                        dns_servers=[SERVER]),
                PyStack(link=wire.attach(), ip=f"{SERVER}/24", clock=reactor))  # fmt: skip

    client, server = blocking_call(make, _reactor=reactor)
    client.tcp.session_class = server.tcp.session_class = WatchedSession
    WatchedSession.threads.clear()
    client.run(doreactor=False)
    server.run(doreactor=False)
    yield client, server
    client.stop()
    server.stop()


@pytest.fixture
def client(stacks: tuple[PyStack, PyStack]) -> PyStack:
    return stacks[0]


@pytest.fixture
def server(stacks: tuple[PyStack, PyStack]) -> PyStack:
    return stacks[1]


@pytest.fixture
def connection(client: PyStack, server: PyStack) -> tuple[TCPApplication, TCPApplication]:
    """A client application connected to a listener on the server, and the accepted side."""
    sink = TCPApplication()
    server.register_tcp_application(sink)
    sink.bind(9000)
    sink.listen(1)
    conn = connect(client, SERVER, 9000)
    return conn, sink.accept(timeout=10)


class WatchedSession(TCPSession):
    """Records the threads that touch a session's buffers: only the reactor's may."""

    threads: set[str] = set()

    def send(self, data: bytes) -> int:
        self.threads.add(threading.current_thread().name)
        return super().send(data)

    def read(self, n: int | None = None, *, after: int = 0, announce: bool = True) -> bytes:
        self.threads.add(threading.current_thread().name)
        return super().read(n, after=after, announce=announce)


def only_the_reactor_touched_sessions() -> bool:
    return WatchedSession.threads == {"pystack-reactor"}


class Echo(TCPApplication):
    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.send_packet(packet, **kwargs)  # in the reactor thread: runs in place


def serve_echo(server: PyStack, port: int = 7) -> Echo:
    echo = Echo()
    server.register_tcp_application(echo)
    echo.bind(port, echo, False)  # from the test's thread: handed to the reactor
    echo.listen(16)
    return echo


def unconnected(client: PyStack) -> TCPApplication:
    conn = TCPApplication()
    client.register_tcp_application(conn)
    return conn


def connect(client: PyStack, host: str = SERVER, port: int = 7) -> TCPApplication:
    """A new client application, connected from the test's thread (handed to the reactor)."""
    conn = unconnected(client)
    assert conn.connect(host, port, timeout=10) is True
    return conn


def read_at_least(app: TCPApplication, n: int) -> bytes:
    """Poll the non-blocking fetch_data() until at least ``n`` bytes have come."""
    got = bytearray()
    while len(got) < n:
        got += app.fetch_data()
    return bytes(got)


def run_threads(target: Any, n: int = THREADS) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return errors


def test_threads_with_their_own_connection_get_their_bytes_back(
    client: PyStack, server: PyStack
) -> None:
    serve_echo(server)

    def talk(i: int) -> None:
        conn = connect(client)
        sent = bytearray()
        got = bytearray()
        for n in range(200):
            chunk = f"{i}:{n}:".encode() * (n % 50 + 1)
            conn.send_packet(chunk)
            sent += chunk
            got += conn.fetch_data()
        got += read_at_least(conn, len(sent) - len(got))
        conn.close()
        assert got == sent

    assert run_threads(talk) == []
    assert only_the_reactor_touched_sessions()


def test_threads_sharing_one_connection_keep_their_order(
    connection: tuple[TCPApplication, TCPApplication],
) -> None:
    """Several threads hammer send_packet on one connection (far beyond its send buffer)
    while the main thread fetch_data()s on the server: every record arrives, intact, in its
    thread's order."""
    conn, served = connection
    per_thread, size = 300, 1000
    payload = [bytes([65 + i]) * size for i in range(THREADS)]

    def hammer(i: int) -> None:
        for n in range(per_thread):
            conn.send_packet(RECORD.pack(i, n, size) + payload[i])

    senders = threading.Thread(target=lambda: errors.extend(run_threads(hammer)))
    errors: list[BaseException] = []
    senders.start()
    got = read_at_least(served, THREADS * per_thread * (RECORD.size + size))
    senders.join(60)
    assert errors == []
    seen: dict[int, list[int]] = {i: [] for i in range(THREADS)}
    view = memoryview(got)
    while view:
        thread, seq, length = RECORD.unpack(view[: RECORD.size])
        body = bytes(view[RECORD.size : RECORD.size + length])
        assert body == payload[thread], (thread, seq)
        seen[thread].append(seq)
        view = view[RECORD.size + length :]
    assert all(seen[i] == list(range(per_thread)) for i in range(THREADS))
    conn.close()
    assert only_the_reactor_touched_sessions()


def test_close_after_send_packet_beyond_the_buffer_sends_everything_then_fin(
    connection: tuple[TCPApplication, TCPApplication],
) -> None:
    conn, served = connection
    data = bytes(range(256)) * 4096  # 1 MiB, four times the send buffer
    conn.send_packet(data)
    assert conn.send(b"jump the queue?") == 0  # send() keeps send_packet's order
    conn.close()
    got = bytearray()
    while not (served.eof and served.session is not None and not served.session.readable):
        got += served.fetch_data()
    got += served.fetch_data()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert only_the_reactor_touched_sessions()


def test_calls_from_the_reactor_thread_run_in_place(client: PyStack, server: PyStack) -> None:
    serve_echo(server)
    conn = connect(client)

    def inside() -> bytes:
        assert in_reactor_thread(reactor) and not must_hand_off(reactor)
        conn.send_packet(b"from the reactor")  # would deadlock if handed off again
        return conn.fetch_data()

    assert isinstance(blocking_call(inside, _reactor=reactor), bytes)
    assert read_at_least(conn, len(b"from the reactor")) == b"from the reactor"


def test_a_simulated_clock_never_hands_off() -> None:
    assert not must_hand_off(Clock())
    assert not must_hand_off(None)


def test_errors_reach_the_calling_thread(client: PyStack) -> None:
    conn = unconnected(client)
    with pytest.raises(ConnectionError, match="not connected"):
        conn.send_packet(b"nobody there")
    with pytest.raises(RuntimeError, match="bind"):
        conn.listen(1)
    assert conn.connect(SERVER, 4444, timeout=10) is False  # RST: refused


def test_udp_from_several_threads(client: PyStack, server: PyStack) -> None:
    sink = UDPApplication(max_queue=10_000)
    server.register_udp_application(sink)
    sink.bind(5000)
    client.ping(SERVER, timeout=5)  # ARP resolved first: its pending queue is bounded

    def send(i: int) -> None:
        app = UDPApplication()
        client.register_udp_application(app)
        app.bind(6000 + i)
        for n in range(100):
            app.sendto(f"{i}:{n}".encode(), (SERVER, 5000))

    assert run_threads(send) == []
    got: dict[int, list[int]] = {i: [] for i in range(THREADS)}
    while sum(map(len, got.values())) < THREADS * 100:
        datagram = sink.recvfrom()
        if datagram is not None:
            i, n = datagram[0].decode().split(":")
            assert datagram[1] == (CLIENT, 6000 + int(i))
            got[int(i)].append(int(n))
    assert all(sorted(v) == list(range(100)) for v in got.values())


def test_connect_by_name_through_stack_dns(client: PyStack, server: PyStack) -> None:
    zone = TinyDnsServer({"echo.lab": [SERVER]})
    server.register_udp_application(zone)
    zone.bind(53)
    serve_echo(server)
    assert client.dns.nslookup("echo.lab") == SERVER  # the seed's call
    conn = connect(client, "echo.lab")
    conn.send_packet(b"named")
    assert read_at_least(conn, 5) == b"named"


def test_shutdown_read_gives_eof_and_discards_but_keeps_acknowledging(
    connection: tuple[TCPApplication, TCPApplication],
) -> None:
    conn, served = connection
    served.shutdown(0)
    assert served.eof and served.fetch_data() == b""
    conn.send_packet(b"z" * 1_000_000)  # beyond any window: goes only if still ACKed
    served.send_packet(b"the other way still works")
    assert read_at_least(conn, 25) == b"the other way still works"
    conn.close()  # FIN after the million bytes: the server must have ACKed them all
    done = ("FIN_WAIT_2", "TIME_WAIT", "CLOSED")  # CLOSED: TIME_WAIT handed to a record
    while conn.session is not None and conn.session.state not in done:
        assert served.fetch_data() == b""
