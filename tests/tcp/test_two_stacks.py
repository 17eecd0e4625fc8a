"""TCP through whole stacks (Ethernet, ARP, IPv4) on a MemoryWire under a Clock."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig


def open_pair(net: SimNet, port: int = 7) -> tuple[TCPApplication, TCPApplication]:
    a, b = net.stacks
    server = TCPApplication()
    b.register_tcp_application(server)
    server.bind(port)
    server.listen(5)
    client = TCPApplication()
    a.register_tcp_application(client)
    connected: list[bool] = []
    accepted: list[Any] = []
    assert b.address is not None
    client.connect_deferred(b.address, port).addCallback(connected.append)
    server.accept_deferred().addCallback(accepted.append)
    net.run_until(lambda: connected and accepted, max_time=30)
    assert connected == [True]
    return client, accepted[0]


def transfer(net: SimNet, sender: TCPApplication, receiver: TCPApplication, data: bytes) -> bytes:
    got = bytearray()
    sent = 0

    def step() -> bool:
        nonlocal sent
        if sent < len(data):
            sent += sender.send(data[sent : sent + 65536])
        got.extend(receiver.fetch_data())
        return len(got) >= len(data)

    while not step():
        net.advance(0.05)
        assert net.clock.seconds() < 3600, "transfer took too long"
    return bytes(got)


def test_connect_exchange_close() -> None:
    net = SimNet(2, seed=1)
    client, server = open_pair(net)
    client.send(b"hello over ethernet")
    net.advance(0.5)
    assert server.fetch_data() == b"hello over ethernet"
    client.close()
    server.close()
    net.advance(1.0)
    assert server.close_reason is not None


def test_transitions_reach_the_stack_observer() -> None:
    seen: list[tuple[str, str, str]] = []

    def observer(obj: Any, old: str, trigger: str, new: str) -> None:
        if type(obj).__name__ == "TCPSession":
            seen.append((old, trigger, new))

    net = SimNet(2, seed=1, observer=observer)
    open_pair(net)
    assert ("SYN_SENT", "rcv_synack", "ESTABLISHED") in seen
    assert ("SYN_RECEIVED", "rcv_ack_of_syn", "ESTABLISHED") in seen


@pytest.mark.parametrize("direction", [0, 1])
def test_ten_megabytes_through_an_impaired_wire(direction: int) -> None:
    """issue 4: 10 MB through MemoryWire(loss=0.1, duplicate=0.05, reorder=0.1), exact."""
    # A 64 KiB window, as this test was written for: at 10 % loss without SACK a scaled
    # 256 KiB window loses several segments per window and NewReno falls back on RTOs (seed
    # 5 then hits R2). test_lossy_transfer.py runs the same impairments with scaling on.
    net = SimNet(2, seed=5 + direction, loss=0.1, duplicate=0.05, reorder=0.1,
                 tcp=TcpConfig(rcv_buf=65535))  # fmt: skip
    client, server = open_pair(net)
    data = random.Random(direction).randbytes(10_000_000)
    sender, receiver = (client, server) if direction == 0 else (server, client)
    got = transfer(net, sender, receiver, data)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest()


def test_connect_tcp_gives_both_ends_or_a_timeout() -> None:
    net = SimNet(2)
    client, served = net.connect_tcp(7)
    assert client.session is not None and client.session.state == "ESTABLISHED"
    client.send_packet(b"hello")
    net.advance(0.1)
    assert served.fetch_data() == b"hello"
    with pytest.raises(TimeoutError):
        SimNet(2, loss=1.0).connect_tcp(7, max_time=2)
