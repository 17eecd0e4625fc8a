"""scapy_edge: what a person at the edge gets, and the corner cases of scapy's dissectors."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from pystack.wire import arp, ethernet, icmp, ipv4, tcp
from pystack.wire.scapy_edge import from_scapy, to_scapy
from pystack.wire.tcp import NOP, Mss, TcpSegment, Timestamp, UnknownOption

SRC, DST = "198.18.0.1", "198.18.0.2"


def _frame() -> ethernet.EthernetFrame:
    seg = TcpSegment(40000, 80, 1, 2, tcp.ACK | tcp.PSH, 512, b"hello", (NOP, NOP, Timestamp(5, 6)))
    packet = ipv4.Ipv4Packet(SRC, DST, ipv4.PROTO_TCP, tcp.emit(seg, SRC, DST), flags=2)
    return ethernet.EthernetFrame(
        "02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, ipv4.emit(packet)
    )


def test_to_scapy_gives_a_fully_dissected_packet() -> None:
    pkt = to_scapy(_frame())
    assert pkt.haslayer(IP) and pkt.haslayer(TCP)
    assert pkt[TCP].options == [("NOP", None), ("NOP", None), ("Timestamp", (5, 6))]
    assert bytes(pkt[Raw]) == b"hello"
    assert bytes(pkt) == ethernet.emit(_frame())


def test_from_scapy_reads_any_layer_of_a_scapy_built_packet() -> None:
    pkt = Ether(src="02:00:00:00:00:01") / IP(src=SRC, dst=DST) / UDP(sport=1, dport=2) / b"x"
    frame = from_scapy(pkt)
    assert isinstance(frame, ethernet.EthernetFrame) and frame.ethertype == 0x0800
    datagram = from_scapy(pkt[IP])
    assert isinstance(datagram, ipv4.Ipv4Packet) and datagram.proto == ipv4.PROTO_UDP
    assert from_scapy(pkt[UDP]).payload == b"x"  # type: ignore[union-attr]


def test_scapy_option_names_map_to_option_values() -> None:
    pkt = TCP(options=[("MSS", 1460), ("UTO", 300), (99, b"ab"), ("EOL", None), ("NOP", None)])
    seg = from_scapy(pkt)
    assert isinstance(seg, TcpSegment)
    # EOL ends the list, as on the wire; a kind without a repr keeps its bytes.
    assert seg.options == (Mss(1460), UnknownOption(28, b"\x01\x2c"), UnknownOption(99, b"ab"))


def test_802_3_length_field_is_read_as_the_ethertype() -> None:
    frame = ethernet.EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 46, bytes(46))
    assert from_scapy(to_scapy(frame)) == frame


def test_icmp_error_quotes_dissect_in_scapy() -> None:
    quoted = icmp.quote(ipv4.emit(_ip_with_payload()))
    msg = icmp.dest_unreachable(icmp.CODE_PORT_UNREACHABLE, quoted)
    pkt = to_scapy(msg)
    assert isinstance(pkt, ICMP) and pkt.type == 3
    assert bytes(pkt) == icmp.emit(msg)
    assert from_scapy(pkt) == msg


def _ip_with_payload() -> ipv4.Ipv4Packet:
    return ipv4.Ipv4Packet(SRC, DST, ipv4.PROTO_UDP, bytes(30))


def test_short_timestamp_request_falls_back_to_raw_bytes() -> None:
    msg = icmp.IcmpMessage(13, 0, 0x00010002, b"")
    pkt = to_scapy(msg)
    assert isinstance(pkt, Raw) and bytes(pkt) == icmp.emit(msg)


def test_arp_round_trip_through_scapy() -> None:
    packet = arp.ArpPacket(arp.OP_REPLY, "02:00:00:00:00:01", SRC, "02:00:00:00:00:02", DST)
    scapy_packet = to_scapy(packet)
    assert isinstance(scapy_packet, ARP) and scapy_packet.op == 2
    assert from_scapy(scapy_packet) == packet


def test_misuse_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        to_scapy("not a repr")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_scapy(Raw(b"x"))
    with pytest.raises(TypeError):
        from_scapy(b"bytes")  # type: ignore[arg-type]
