"""A MemoryWire with offloads is a veth between two namespaces: TCP super-segments travel
whole, the receiving stack takes each as one segment, and whatever is not a stack on the
wire (a capture) sees frames with complete checksums."""

from __future__ import annotations

import hashlib
import struct

import pytest
from twisted.internet.task import Clock

from pystack.links import netdev
from pystack.links.memory import MemoryWire
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig
from pystack.wire import ethernet as eth_wire


def _transfer(offloads: bool, size: int = 2_000_000) -> tuple[SimNet, bytes, float]:
    net = SimNet(2, delay=0.0005, tcp=TcpConfig(rcv_buf=1 << 20, snd_buf=1 << 20),
                 offloads=offloads)  # fmt: skip
    client, server = net.connect_tcp(9)
    data = bytes(i * 7 % 251 for i in range(size))
    got = bytearray()
    start = net.clock.seconds()
    sent = 0
    while len(got) < size and net.clock.seconds() - start < 30:
        if sent < size:
            sent += client.send(data[sent : sent + 65536])
        net.clock.advance(0.0005)
        got += server.fetch_data()
    return net, bytes(got), net.clock.seconds() - start


def test_super_segments_cross_the_wire_whole_and_arrive_intact() -> None:
    net, got, simulated = _transfer(offloads=True)
    _, plain_got, plain_simulated = _transfer(offloads=False)
    want = hashlib.sha256(bytes(i * 7 % 251 for i in range(2_000_000))).digest()
    assert hashlib.sha256(got).digest() == want == hashlib.sha256(plain_got).digest()
    counters = net.wire.counters
    assert counters.super_segments > 10 and counters.too_big == 0
    assert net.stacks[0].tcp.tso_max == 65535
    # Far fewer frames, and no slower in simulated time: super-segments are ACKed at once.
    assert counters.sent < 2_000_000 // 1448
    assert simulated <= plain_simulated * 1.5


def test_a_plain_wire_takes_no_super_segments() -> None:
    port = MemoryWire(Clock()).attach()
    assert port.tso_max == 0
    with pytest.raises(RuntimeError, match="offloads=False"):
        port.send_gso(b"x" * 100, 1448)


def test_a_receiver_that_is_not_a_stack_gets_complete_checksums() -> None:
    net = SimNet(2, delay=0.0005, offloads=True)
    listener = net.wire.attach()
    frames: list[bytes] = []
    listener.set_receiver(frames.append)
    client, _server = net.connect_tcp(9)
    client.send(bytes(200_000))
    net.clock.advance(0.2)
    supers = [f for f in frames if len(f) > 1514]
    assert supers, "no super-segment seen"
    for frame in supers:
        eth = eth_wire.parse(frame)
        ip = eth.payload
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, total - ihl)
        assert netdev._sum16(pseudo + ip[ihl:total]) == 0xFFFF
