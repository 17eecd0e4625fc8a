"""ARP: never more than one request per address per second; every queued packet is sent
once after resolution or dropped with a counted reason."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.layers.arp import ARPProtocol
from pystack.layers.ethernet import EthernetProtocol
from pystack.testing import examples
from pystack.wire import arp as arp_wire
from pystack.wire import ethernet as eth_wire

ME, MY_MAC = "198.18.0.1", "02:00:00:00:00:01"
PEERS = ["198.18.0.2", "198.18.0.3", "198.18.0.4"]


class CaptureLink:
    """A link that records what the stack sends, with the time it was sent."""

    mtu = 1500
    mac = MY_MAC

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []
        self.receive: Any = None

    def set_receiver(self, receive: Any) -> None:
        self.receive = receive

    def send(self, frame: bytes) -> None:
        self.sent.append((self.clock.seconds(), frame))

    def start(self) -> None: ...
    def close(self) -> None: ...


def build(clock: Clock, **arp_options: Any) -> tuple[EthernetProtocol, ARPProtocol, CaptureLink]:
    link = CaptureLink(clock)
    eth = EthernetProtocol(link, ip=f"{ME}/24", clock=clock)
    arp = ARPProtocol(**arp_options)
    eth.register_layer(arp)
    return eth, arp, link


def peer_mac(ip: str) -> str:
    return f"02:00:00:00:00:{int(ip.rsplit('.', 1)[1]):02x}"


def arp_frame(op: int, sender_ip: str, target_ip: str, dst: str = MY_MAC) -> bytes:
    target_mac = MY_MAC if op == arp_wire.OP_REPLY else "00:00:00:00:00:00"
    pkt = arp_wire.ArpPacket(op, peer_mac(sender_ip), sender_ip, target_mac, target_ip)
    frame = eth_wire.EthernetFrame(dst, peer_mac(sender_ip), eth_wire.ETHERTYPE_ARP,
                                   arp_wire.emit(pkt))  # fmt: skip
    return eth_wire.emit(frame)


def step(clock: Clock, quarters: int) -> None:
    """Advance in exact quarter seconds, so timers fire at their own time."""
    for _ in range(quarters):
        clock.advance(0.25)


actions = st.one_of(
    st.tuples(st.just("send"), st.sampled_from(PEERS)),
    st.tuples(st.just("reply"), st.sampled_from(PEERS)),
    st.tuples(st.just("gratuitous"), st.sampled_from(PEERS)),
    st.tuples(st.just("wait"), st.integers(0, 12)),
)


@settings(max_examples=examples(ci=500, dev=80))
@given(st.lists(actions, max_size=60), st.integers(1, 4))
@pytest.mark.requirement("RFC1122:2.3.2.1-flood", "RFC1122:2.3.2.2-queue")
def test_request_rate_and_queued_packet_accounting(
    ops: list[tuple[str, Any]], retries: int
) -> None:
    clock = Clock()
    eth, arp, link = build(clock, retries=retries, reachable_time=2.0, max_pending=4)
    queued = 0
    for op, arg in ops:
        if op == "send":
            eth.send_packet(b"payload-%d" % queued, Ether={"next_hop": arg, "type": 0x0800})
            queued += 1
        elif op == "reply":
            link.receive(arp_frame(arp_wire.OP_REPLY, arg, ME))
        elif op == "gratuitous":
            link.receive(arp_frame(arp_wire.OP_REQUEST, arg, arg, dst=eth_wire.BROADCAST))
        else:
            step(clock, arg)
    step(clock, 40)
    frames = [(t, eth_wire.parse(f)) for t, f in link.sent]
    requests: dict[str, list[float]] = {}
    data = []
    for t, frame in frames:
        if frame.ethertype == eth_wire.ETHERTYPE_ARP:
            pkt = arp_wire.parse(frame.payload)
            if pkt.op == arp_wire.OP_REQUEST:
                requests.setdefault(pkt.target_ip, []).append(t)
        else:
            data.append(frame.payload.rstrip(b"\0"))
    for times in requests.values():
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    assert len(data) == len(set(data))  # each packet sent at most once
    dropped = arp.stats.dropped("ARP", "unresolved") + arp.stats.dropped("ARP", "pending_overflow")
    pending = sum(len(e.pending) for e in arp.cache.values())
    assert pending == 0  # after 10 s everything resolved or gave up
    assert len(data) + dropped == queued


def test_gives_up_after_retries_and_tells_the_sender() -> None:
    clock = Clock()
    eth, arp, link = build(clock, retries=3)
    told: list[bytes] = []

    class Sender:
        name = "IP"
        fast = True

        def next_hop_unreachable(self, payload: bytes) -> None:
            told.append(payload)

        def register_lower_layer(self, name: str, layer: Any) -> None: ...

    eth.register_layer(Sender())
    eth.send_packet(b"one", Ether={"next_hop": PEERS[0]})
    eth.send_packet(b"two", Ether={"next_hop": PEERS[0]})
    clock.advance(0.5)
    eth.send_packet(b"three", Ether={"next_hop": PEERS[0]})
    for _ in range(8):
        clock.advance(0.5)
    assert [t for t, _ in link.sent] == [0.0, 1.0, 2.0]
    assert [t.rstrip(b"\0") for t in told] == [b"one", b"two", b"three"]
    assert arp.stats.dropped("ARP", "unresolved") == 3
    assert PEERS[0] not in arp.cache


@pytest.mark.requirement("RFC1122:2.3.2.2-queue", "RFC826:packet", "RFC1122:2.3.3-arp")
def test_reply_flushes_queue_in_order_and_answers_requests() -> None:
    clock = Clock()
    eth, arp, link = build(clock)
    for i in range(3):
        eth.send_packet(b"p%d" % i, Ether={"next_hop": PEERS[0]})
    link.receive(arp_frame(arp_wire.OP_REPLY, PEERS[0], ME))
    sent = [eth_wire.parse(f) for _, f in link.sent]
    assert [f.payload[:2] for f in sent[1:]] == [b"p0", b"p1", b"p2"]
    assert all(f.dst == peer_mac(PEERS[0]) for f in sent[1:])
    assert arp.cache[PEERS[0]].state == "REACHABLE"
    link.receive(arp_frame(arp_wire.OP_REQUEST, PEERS[1], ME, dst=eth_wire.BROADCAST))
    reply = arp_wire.parse(eth_wire.parse(link.sent[-1][1]).payload)
    assert (reply.op, reply.sender_mac, reply.target_ip) == (2, MY_MAC, PEERS[1])
    assert arp.cache[PEERS[1]].state == "STALE"


@pytest.mark.requirement("RFC1122:2.3.2.1-flush", "RFC826:packet", "RFC1122:2.3.2.1-timeout-config")
def test_gratuitous_arp_updates_an_existing_entry_and_entries_expire() -> None:
    clock = Clock()
    eth, arp, link = build(clock, reachable_time=30, stale_time=60)
    eth.send_packet(b"x", Ether={"next_hop": PEERS[0]})
    link.receive(arp_frame(arp_wire.OP_REPLY, PEERS[0], ME))
    pkt = arp_wire.ArpPacket(1, "02:aa:aa:aa:aa:aa", PEERS[0], "00:00:00:00:00:00", PEERS[0])
    grat = eth_wire.EthernetFrame(eth_wire.BROADCAST, "02:aa:aa:aa:aa:aa", 0x0806,
                                  arp_wire.emit(pkt))  # fmt: skip
    link.receive(eth_wire.emit(grat))
    assert arp.get_mac(PEERS[0]) == "02:aa:aa:aa:aa:aa"
    assert arp.cache[PEERS[0]].state == "STALE"
    link.receive(arp_frame(arp_wire.OP_REQUEST, PEERS[2], PEERS[1], dst=eth_wire.BROADCAST))
    assert PEERS[2] not in arp.cache  # not for us, not known: not learned (RFC 826)
    clock.advance(61)
    assert PEERS[0] not in arp.cache


def test_cache_is_bounded() -> None:
    clock = Clock()
    eth, arp, _ = build(clock, max_entries=4)
    for i in range(10, 30):
        eth.send_packet(b"x", Ether={"next_hop": f"198.18.0.{i}"})
        assert len(arp.cache) <= 4
    assert arp.stats.get("ARP", "entries_evicted") == 16
    assert arp.stats.dropped("ARP", "unresolved") == 16
