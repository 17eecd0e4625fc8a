"""TCPApplication over two TCP layers: the seed's API with bytes."""

from __future__ import annotations

import gc
import hashlib
import random
from typing import Any

import pytest
from helpers.tcp_pairs import SERVER_IP, connect_pair, pump

from pystack.apps.tcp_application import TCPApplication
from pystack.tcp.config import CloseReason, TcpConfig
from pystack.testing.harness import TcpPair


def test_connect_accept_and_exchange(pair: TcpPair) -> None:
    client, server = connect_pair(pair)
    client.send_packet(b"hello")
    pair.run(0.5)
    assert server.fetch_data() == b"hello"
    server.send(b"world")
    pair.run(0.5)
    assert client.fetch_data(3) == b"wor"
    assert client.fetch_data() == b"ld"
    assert client.fetch_data() == b""


def test_connect_to_closed_port_returns_false(pair: TcpPair) -> None:
    client = TCPApplication()
    pair.register(client, 0)
    result: list[bool] = []
    client.connect_deferred(SERVER_IP, 9).addCallback(result.append)
    pair.run(0.1)
    assert result == [False]
    assert client.close_reason is CloseReason.RESET


def test_connect_timeout_returns_false() -> None:
    pair = TcpPair(loss=1.0)
    client = TCPApplication()
    pair.register(client, 0)
    result: list[bool] = []
    client.connect_deferred(SERVER_IP, 7, timeout=5).addCallback(result.append)
    pair.run(5.1, step=0.1)
    assert result == [False]


def test_accept_timeout(pair: TcpPair) -> None:
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(7)
    server.listen(1)
    errors: list[Any] = []
    server.accept_deferred(timeout=2).addErrback(errors.append)
    pair.run(2.1, step=0.1)
    assert errors and errors[0].check(TimeoutError)


class Echo(TCPApplication):
    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.send_packet(packet, **kwargs)


@pytest.mark.parametrize("newinstance", [False, True])
def test_echo_server_serves_many_clients_without_accept(pair: TcpPair, newinstance: bool) -> None:
    server = Echo()
    pair.register(server, 1)
    server.bind(8888, server, newinstance)
    server.listen(2)
    clients = []
    for _ in range(6):  # more than the backlog: push-mode servers accept implicitly
        client = TCPApplication()
        pair.register(client, 0)
        client.connect_deferred(SERVER_IP, 8888)
        clients.append(client)
    pair.run(0.2)
    for i, client in enumerate(clients):
        client.send(f"ping {i}".encode())
    pair.run(0.5)
    assert [c.fetch_data() for c in clients] == [f"ping {i}".encode() for i in range(6)]


def test_bind_with_other_app_forks_it(pair: TcpPair) -> None:
    made: list[Echo] = []

    class Counting(Echo):
        def connection_made(self) -> None:
            made.append(self)

    listener = TCPApplication()
    pair.register(listener, 1)
    template = Counting()
    listener.bind(80, template, True)
    listener.listen(5)
    for _ in range(2):
        client = TCPApplication()
        pair.register(client, 0)
        client.connect_deferred(SERVER_IP, 80)
    pair.run(0.2)
    assert len(made) == 2 and made[0] is not made[1] and template not in made


def test_backlog_is_a_queue_of_established_connections(pair: TcpPair) -> None:
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(7)
    server.listen(1)
    results: list[list[bool]] = []
    for _ in range(2):
        client = TCPApplication()
        pair.register(client, 0)
        result: list[bool] = []
        client.connect_deferred(SERVER_IP, 7).addCallback(result.append)
        results.append(result)
        pair.run(0.5)
    assert results[0] == [True] and results[1] == []  # the second waits (SYN dropped)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    assert accepted
    pair.run(4.0, step=0.01)  # its SYN is retransmitted and now finds room
    assert results[1] == [True]


def test_connection_lost_reasons(pair: TcpPair) -> None:
    reasons: list[CloseReason] = []

    class Watch(TCPApplication):
        def connection_lost(self, reason: CloseReason) -> None:
            reasons.append(reason)

    client = Watch()
    pair.register(client, 0)
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(7)
    server.listen(5)
    client.connect_deferred(SERVER_IP, 7)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    pair.run(0.1)
    accepted[0].abort()
    pair.run(0.1)
    assert reasons == [CloseReason.RESET]


def test_clean_close_both_ways(pair: TcpPair) -> None:
    client, server = connect_pair(pair)
    client.close()
    pair.run(0.1)
    assert server.eof
    server.close()
    pair.run(0.1)
    # The client closed first: its TIME_WAIT is a record of its TCP layer, and the
    # application hears of a clean close at once (as a Linux socket closes).
    assert client.session is not None and client.session.state == "CLOSED"
    assert client.close_reason is CloseReason.CLOSED
    assert [r.remote_port for r in pair.layers[0].time_wait_records()] == [7]
    assert server.session is not None and server.session.state == "CLOSED"
    assert server.close_reason is CloseReason.CLOSED
    pair.run(61, step=1)
    assert pair.layers[0].time_wait_records() == []


def test_clean_close_keeps_the_whole_session_in_time_wait_when_asked() -> None:
    pair = TcpPair(config=TcpConfig(compact_time_wait=False))
    client, server = connect_pair(pair)
    client.close()
    pair.run(0.1)
    server.close()
    pair.run(0.1)
    assert client.session is not None and client.session.state == "TIME_WAIT"
    assert client.close_reason is None
    pair.run(61, step=1)
    assert client.session.state == "CLOSED"
    assert client.close_reason is CloseReason.CLOSED


class HalfOpen(TCPApplication):
    def eof_received(self) -> bool:
        return True


def test_peer_close_closes_our_side_by_default(pair: TcpPair) -> None:
    lost: list[CloseReason] = []

    class Client(TCPApplication):
        def connection_lost(self, reason: CloseReason) -> None:
            lost.append(reason)

    client = Client()
    pair.register(client, 0)
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(7)
    server.listen(5)
    client.connect_deferred(SERVER_IP, 7)
    pair.run(0.1)
    server.send(b"the whole answer")
    server.close()
    pair.run(0.5)
    assert lost == [CloseReason.CLOSED]
    assert client.fetch_data() == b"the whole answer"


def test_half_close_keeps_receiving() -> None:
    pair = TcpPair()
    server = HalfOpen()
    pair.register(server, 1)
    server.bind(7)
    server.listen(5)
    client = TCPApplication()
    pair.register(client, 0)
    client.connect_deferred(SERVER_IP, 7)
    pair.run(0.1)
    client.shutdown(1)
    pair.run(0.1)
    server.send(b"still flowing")
    pair.run(0.5)
    assert client.fetch_data() == b"still flowing"


def test_two_megabytes_exact(pair: TcpPair) -> None:
    client, server = connect_pair(pair)
    data = random.Random(2).randbytes(2_000_000)
    assert pump(pair, client, server, data) == data


@pytest.mark.parametrize("direction", [0, 1])
def test_lossy_transfer_is_exact(direction: int) -> None:
    pair = TcpPair(loss=0.1, duplicate=0.05, reorder=0.1, seed=direction + 3)
    client, server = connect_pair(pair)
    data = random.Random(direction).randbytes(300_000)
    sender, receiver = (client, server) if direction == 0 else (server, client)
    got = pump(pair, sender, receiver, data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_window_follows_reads() -> None:
    pair = TcpPair(config=TcpConfig(rcv_buf=8192))
    client, server = connect_pair(pair)
    client.send(b"x" * 20000)
    pair.run(2.0)
    (session,) = server.sessions.values()
    # Unread data fills the buffer; what is left is less than a segment (SWS avoidance).
    assert session.readable > 8192 - 1460
    assert session.snapshot()["rcv_wnd"] == 8192 - session.readable
    total = len(server.fetch_data())
    for _ in range(10):
        pair.run(1.0)  # the read opened the window: a window update lets data flow
        total += len(server.fetch_data())
    assert total == 20000


def test_echo_keeps_every_byte_when_the_peer_closes_before_reading(pair: TcpPair) -> None:
    # The peer sends everything, closes its side, and reads only afterwards: the echo's
    # replies outgrow the send buffer, and the FIN that answers the peer's must wait for
    # them (a FIN sent early made the rest fail with "cannot send in LAST_ACK").
    server = Echo()
    pair.register(server, 1)
    server.bind(7007, server, True)
    server.listen(1)
    client = TCPApplication()
    pair.register(client, 0)
    connected: list[bool] = []
    client.connect_deferred(SERVER_IP, 7007).addCallback(connected.append)
    pair.run(0.5)
    assert connected == [True]
    data = random.Random(7).randbytes(600_000)
    client.send_packet(data)
    client.shutdown(1)  # a half-close: close() would end reading too
    got = bytearray()
    for _ in range(4000):
        pair.run(0.05)
        got += client.fetch_data()
        if client.eof and client.session is not None and not client.session.readable:
            break
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


class AcceptAndClose(TCPApplication):
    def connection_made(self) -> None:
        self.close()


def test_finished_connections_are_freed_without_the_cyclic_gc(pair: TcpPair) -> None:
    """A busy server closes thousands of connections a second: each must be freed by
    reference counting when it ends (sessions, their timers, per-connection copies),
    not left as cycles for the garbage collector."""
    server = AcceptAndClose()
    pair.register(server, 1)
    server.bind(7, app=server, newinstance=True)
    server.listen(5)
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            client = AcceptAndClose()
            pair.register(client, 0)
            client.connect_deferred(SERVER_IP, 7)
            pair.run(0.05)
        del client
        pair.run(61, step=1)  # through TIME_WAIT
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_connection_closed_before_accept_still_comes_with_its_own_application(
    pair: TcpPair,
) -> None:
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(7, newinstance=True)
    server.listen(5)
    client = TCPApplication()
    pair.register(client, 0)
    client.connect_deferred(SERVER_IP, 7)
    pair.run(0.1)
    client.close()
    pair.run(1)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    (app,) = accepted
    assert app is not server and app.session is not None
    assert app.session.state in ("CLOSED", "LAST_ACK", "CLOSE_WAIT")
    assert app.fetch_data() == b""


def test_accept_and_backlog_work_for_an_application_that_overrides_its_hooks(
    pair: TcpPair,
) -> None:
    """Overriding packet_received and connection_made does not take the connections out
    of the listen queue: after bind(port), accept() hands them out and the backlog holds
    back the ones beyond it."""
    got: list[bytes] = []

    class Pushed(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            got.append(packet)

        def connection_made(self) -> None:
            pass

    server = Pushed()
    pair.register(server, 1)
    server.bind(7)
    server.listen(1)
    results: list[list[bool]] = []
    clients = []
    for _ in range(2):
        client = TCPApplication()
        pair.register(client, 0)
        result: list[bool] = []
        client.connect_deferred(SERVER_IP, 7).addCallback(result.append)
        results.append(result)
        clients.append(client)
        pair.run(0.5)
    assert results[0] == [True] and results[1] == []  # the second waits (SYN dropped)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    assert accepted == [server]
    pair.run(4.0, step=0.01)  # its SYN is retransmitted and now finds room
    assert results[1] == [True]
    server.accept_deferred().addCallback(accepted.append)
    assert accepted == [server, server]
    clients[0].send(b"hello")
    pair.run(0.5)
    assert got == [b"hello"]  # the hook still gets the data
