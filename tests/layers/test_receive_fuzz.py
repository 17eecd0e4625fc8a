"""Random bytes fed into the receive path never raise, and every frame that goes nowhere is
counted as a drop under a named reason."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.apps.udp_application import UDPApplication
from pystack.sim import SimNet
from pystack.testing import examples
from pystack.wire import ethernet as eth_wire
from pystack.wire import ipv4
from pystack.wire.checksum import internet_checksum

# What a frame may end up as, other than a drop.
ACCEPTED = [("ARP", "packets_received"), ("ICMP", "messages_received"),
            ("UDP", "datagrams_received"), ("IP", "fragments_received")]  # fmt: skip


def _ipv4_header(draw: st.DrawFn, payload: bytes) -> bytes:
    ihl = draw(st.sampled_from([5, 5, 5, 6, 4, 15]))
    total = draw(st.one_of(st.just(ihl * 4 + len(payload)), st.integers(0, 0xFFFF)))
    frag = draw(st.sampled_from([0, 0, 0x2000, 0x2001, 0x0003, 0x4000]))
    proto = draw(st.sampled_from([1, 17, 17, 2, 99]))
    src = draw(st.sampled_from(["198.18.0.2", "198.18.0.255", "224.0.0.1", "127.0.0.1"]))
    dst = draw(st.sampled_from(["198.18.0.1", "198.18.0.1", "255.255.255.255", "198.18.0.9"]))
    options = bytes(max(0, ihl * 4 - 20))
    addrs = bytes(map(int, src.split("."))), bytes(map(int, dst.split(".")))
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag, 64, proto, 0, *addrs)
    header += options
    if draw(st.booleans()):
        csum = internet_checksum(header)
        header = header[:10] + csum.to_bytes(2, "big") + header[12:]
    return header


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["raw", "ether", "ip", "udp", "icmp"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    dst = draw(st.sampled_from([MY_MAC, eth_wire.BROADCAST, "02:99:99:99:99:99"]))
    ethertype = draw(st.sampled_from([0x0800, 0x0806, 0x86DD]))
    payload = draw(st.binary(max_size=120))
    if kind == "udp":
        length = draw(st.one_of(st.just(8 + len(payload)), st.integers(0, 0xFFFF)))
        port = draw(st.sampled_from([7, 9, 53]))
        payload = struct.pack("!HHHH", 1234, port, length, 0) + payload
    elif kind == "icmp":
        type_ = draw(st.sampled_from([0, 3, 8, 11, 12, 5, 42]))
        body = struct.pack("!BBHI", type_, 0, 0, 0) + payload
        csum = internet_checksum(body)
        payload = body[:2] + csum.to_bytes(2, "big") + body[4:]
    if kind in ("ip", "udp", "icmp"):
        ethertype = 0x0800
        payload = _ipv4_header(draw, payload) + payload
    return eth_wire.emit(eth_wire.EthernetFrame(dst, "02:00:00:00:00:02", ethertype, payload))


NET = SimNet(2)
MY_MAC = NET.a.mac
SERVER = UDPApplication()
NET.a.register_udp_application(SERVER)
SERVER.bind(7)


def _tally() -> tuple[int, int]:
    stats = NET.a.stats
    return stats.total_drops(), sum(stats.get(layer, name) for layer, name in ACCEPTED)


@settings(max_examples=examples(ci=1000, dev=200))
@given(st.lists(frames(), min_size=1, max_size=5))
def test_random_frames_never_raise_and_every_drop_is_counted(batch: list[bytes]) -> None:
    for frame in batch:
        drops, accepted = _tally()
        NET.a.ethernet.packet_received(frame)
        after_drops, after_accepted = _tally()
        assert after_drops > drops or after_accepted > accepted, frame.hex()
        assert all(isinstance(k, str) and n > 0 for k, n in NET.a.stats.drops().items())
    NET.advance(1)  # timers (reassembly, ARP) run without raising either


def test_reasons_are_named() -> None:
    assert ipv4.PROTO_UDP == 17
    for key in NET.a.stats.drops():
        layer, reason = key.split(".")
        assert layer in {"Ether", "Arp", "Ip", "Icmp", "Udp", "Ipv6", "Icmpv6", "Ndp"}
        assert reason.isidentifier()
