"""Ethernet: frames for other stations and unknown ethertypes are dropped and counted;
short frames are padded to the 60-byte minimum."""

from __future__ import annotations

import pytest

from pystack.sim import SimNet, WireTap
from pystack.wire import ethernet as eth_wire


def _frame(dst: str, ethertype: int = 0x0800, payload: bytes = bytes(40)) -> bytes:
    return eth_wire.emit(eth_wire.EthernetFrame(dst, "02:00:00:00:00:99", ethertype, payload))


@pytest.mark.requirement("RFC1122:2.3.3-ethernet")
def test_frames_not_for_us_and_unknown_ethertypes_are_dropped() -> None:
    net = SimNet(2)
    eth = net.a.ethernet
    eth.packet_received(_frame("02:12:34:56:78:9a"))
    eth.packet_received(_frame("01:00:5e:00:00:01"))
    eth.packet_received(_frame(net.a.mac, ethertype=0x88B5))  # IEEE local experimental
    eth.packet_received(b"\x00" * 5)
    drops = net.a.stats.drops("Ether")
    assert drops == {"not_for_us": 2, "unknown_ethertype": 1, "malformed": 1}


def test_short_frames_are_padded_and_carry_our_mac() -> None:
    net = SimNet(2)
    tap = WireTap(net)
    net.a.arp.announce()  # a gratuitous ARP: 42 bytes before padding
    net.advance(0.01)
    (frame,) = tap.frames
    assert frame.src == net.a.mac and frame.dst == eth_wire.BROADCAST
    assert len(eth_wire.emit(frame)) == 60
    assert net.b.arp.get_mac(net.a.address or "") is None  # B did not know A: nothing learned
