"""Every repr is a frozen, slotted dataclass, however it was built (constructor or parser)."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest

from pystack.wire import ethernet, ipv4, tcp
from pystack.wire.arp import ArpPacket
from pystack.wire.icmp import IcmpMessage
from pystack.wire.tcp_options import Mss, Sack, SackPermitted, Timestamp, UnknownOption, WindowScale
from pystack.wire.udp import UdpDatagram

SEG = tcp.TcpSegment(1, 2, 3, 4, tcp.ACK, 5, b"x", (tcp.NOP, tcp.NOP, Timestamp(7, 8)))
PACKET = ipv4.Ipv4Packet("198.18.0.1", "198.18.0.2", 6, tcp.emit(SEG, "198.18.0.1", "198.18.0.2"))
FRAME = ethernet.EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 0x800, ipv4.emit(PACKET))
PARSED_SEG = tcp.parse(PACKET.payload)
PARSED: list[Any] = [ethernet.parse(ethernet.emit(FRAME)), ipv4.parse(FRAME.payload), PARSED_SEG]
BUILT: list[Any] = [
    FRAME, PACKET, SEG, SEG.options[2], ArpPacket(1, "a", "b", "c", "d"), IcmpMessage(8, 0),
    UdpDatagram(1, 2, b""), Mss(1), WindowScale(1), SackPermitted(), Sack(((1, 2),)),
    UnknownOption(99, b""),
]  # fmt: skip


@pytest.mark.parametrize("rep", BUILT + PARSED + [PARSED_SEG.options[2]], ids=repr)
def test_frozen_slotted_and_picklable(rep: Any) -> None:
    assert dataclasses.is_dataclass(rep)
    assert getattr(type(rep), "__dataclass_params__").frozen  # noqa: B009
    assert not hasattr(rep, "__dict__")
    name = dataclasses.fields(rep)[0].name if dataclasses.fields(rep) else "x"
    with pytest.raises((dataclasses.FrozenInstanceError, AttributeError, TypeError)):
        setattr(rep, name, 0)
    assert pickle.loads(pickle.dumps(rep)) == rep
    assert hash(rep) == hash(pickle.loads(pickle.dumps(rep)))


def test_parsed_and_constructed_reprs_are_the_same_class_and_equal() -> None:
    assert [type(p) for p in PARSED] == [type(FRAME), type(PACKET), type(SEG)]
    assert PARSED == [FRAME, PACKET, SEG]
    assert dataclasses.replace(PARSED_SEG, seq=9).seq == 9
