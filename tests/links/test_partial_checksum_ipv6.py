"""A partial TCP/UDP checksum in an IPv6 frame (a TAP or packet socket with checksum
offload hands such frames over) is completed over the IPv6 pseudo-header."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pystack.links import netdev
from pystack.wire import ethernet, ipv6, tcp, udp

SRC, DST = "2001:db8::1", "2001:db8::2"


def _frame(proto: int, payload: bytes) -> bytes:
    if proto == 6:
        data = tcp.emit(tcp.TcpSegment(80, 5000, 1, 2, tcp.ACK, 1000, payload), SRC, DST)
    else:
        data = udp.emit(udp.UdpDatagram(53, 5000, payload), SRC, DST)
    pkt = ipv6.emit(ipv6.Ipv6Packet(SRC, DST, proto, data))
    return ethernet.emit(ethernet.EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01",
                                                0x86DD, pkt))  # fmt: skip


@given(st.sampled_from([6, 17]), st.binary(max_size=300), st.binary(min_size=2, max_size=2))
def test_partial_checksum_is_completed(proto: int, payload: bytes, partial: bytes) -> None:
    frame = _frame(proto, payload)
    field = 54 + (16 if proto == 6 else 6)
    broken = frame[:field] + partial + frame[field + 2 :]
    fixed = netdev.complete_checksum(broken)
    pkt = ipv6.parse(fixed[14:])
    check = tcp.checksum_ok if proto == 6 else udp.checksum_ok
    assert check(pkt.payload, SRC, DST)
    assert fixed == frame or (proto == 17 and fixed[field : field + 2] == b"\xff\xff")


def test_other_ipv6_frames_are_unchanged() -> None:
    frame = _frame(6, b"x")
    icmp = frame[:20] + bytes([58]) + frame[21:]
    assert netdev.complete_checksum(icmp) == icmp
    assert netdev.complete_checksum(frame[:40]) == frame[:40]
