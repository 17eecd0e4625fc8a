"""Helpers for tests of two TCP ends: connected pairs of applications over a TcpPair."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.testing.harness import TcpPair

SERVER_IP = TcpPair.ADDRESSES[1]


def connect_pair(pair: TcpPair, port: int = 7) -> tuple[TCPApplication, TCPApplication]:
    """A listening server on side 1, a client on side 0; returns (client, accepted)."""
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(port)
    server.listen(5)
    client = TCPApplication()
    pair.register(client, 0)
    connected: list[bool] = []
    accepted: list[Any] = []
    client.connect_deferred(SERVER_IP, port).addCallback(connected.append)
    server.accept_deferred().addCallback(accepted.append)
    pair.run_until(lambda: connected and accepted)
    assert connected == [True]
    return client, accepted[0]


def pump(pair: TcpPair, sender: TCPApplication, receiver: TCPApplication, data: bytes,
         *, close: bool = True, limit: float = 3000.0) -> bytes:  # fmt: skip
    """Send ``data`` from ``sender`` as buffer space allows; return what ``receiver`` got."""
    sent = 0
    got = bytearray()
    start = pair.clock.seconds()
    closed = False
    while len(got) < len(data):
        if sent < len(data):
            sent += sender.send(data[sent : sent + 65536])
        if sent == len(data) and close and not closed:
            sender.close()
            closed = True
        calls = pair.clock.getDelayedCalls()
        assert calls, "transfer stalled with nothing scheduled"
        pair.clock.advance(max(min(c.time for c in calls) - pair.clock.seconds(), 0.0))
        got += receiver.fetch_data()
        assert pair.clock.seconds() - start < limit, "transfer did not finish in time"
    return bytes(got)


@pytest.fixture
def pair() -> TcpPair:
    return TcpPair()


@contextlib.contextmanager
def client_of_kernel(lab: Any, stack: Any) -> Iterator[TCPApplication]:
    """A stack client connected to a listening socket on the lab's kernel side; the
    client, the kernel's accepted socket and its listener are closed on the way out."""
    with lab.kernel():
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((lab.kernel_ip, 0))
    listener.listen(1)
    listener.settimeout(10)
    accepted: list[Any] = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()))
    thread.start()
    client = TCPApplication()
    stack.register_tcp_application(client)
    try:
        assert client.connect(lab.kernel_ip, listener.getsockname()[1], timeout=10)
        thread.join(10)
        yield client
        client.close()
    finally:
        thread.join(10)
        for conn, _addr in accepted:
            conn.close()
        listener.close()
