"""The TCP layer's demultiplexing and its answers for closed ports (RFC 9293 §3.10.7.1)."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.tcp.config import TcpDrop
from pystack.testing.harness import TcpPair
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire

A, B = TcpPair.ADDRESSES


def inject(pair: TcpPair, seg: tcpwire.TcpSegment, *, corrupt: bool = False) -> list[bytes]:
    """Give ``seg`` (from A) to B's TCP layer; return what B sent back."""
    out: list[bytes] = []

    def keep(src: Any, dst: Any, data: bytes) -> bool:
        out.append(data)
        return False

    pair.wire.filter = keep
    data = tcpwire.emit(seg, A, B)
    if corrupt:
        data = (
            data[:-1] + bytes([data[-1] ^ 0xFF]) if seg.payload else data[:16] + b"\0\0" + data[18:]
        )
    pair.layers[1].packet_received(data, IP=ipv4.Ipv4Packet(A, B, 6, data))
    return out


def test_syn_to_closed_port_gets_rst_ack() -> None:
    pair = TcpPair()
    (reply,) = inject(pair, tcpwire.TcpSegment(1234, 80, 100, 0, tcpwire.SYN, 1000))
    rst = tcpwire.parse(reply)
    assert rst.flags == tcpwire.RST | tcpwire.ACK and rst.seq == 0 and rst.ack == 101
    assert pair.layers[1].stats.dropped("tcp", TcpDrop.NO_LISTENER) == 1


def test_ack_to_closed_port_gets_rst_with_its_ack() -> None:
    pair = TcpPair()
    (reply,) = inject(pair, tcpwire.TcpSegment(1234, 80, 100, 777, tcpwire.ACK, 1000, b"x"))
    rst = tcpwire.parse(reply)
    assert rst.flags == tcpwire.RST and rst.seq == 777


def test_rst_to_closed_port_is_not_answered() -> None:
    pair = TcpPair()
    assert inject(pair, tcpwire.TcpSegment(1234, 80, 100, 0, tcpwire.RST, 0)) == []


@pytest.mark.requirement("RFC9293:MUST-3")
def test_bad_checksum_and_garbage_are_dropped_and_counted() -> None:
    pair = TcpPair()
    seg = tcpwire.TcpSegment(1234, 80, 100, 0, tcpwire.SYN, 1000, b"data")
    assert inject(pair, seg, corrupt=True) == []
    assert pair.layers[1].stats.dropped("tcp", TcpDrop.BAD_CHECKSUM) == 1
    pair.layers[1].packet_received(b"\x01\x02", IP=ipv4.Ipv4Packet(A, B, 6, b"\x01\x02"))
    assert pair.layers[1].stats.total_drops() == 2


def test_connections_are_found_by_four_tuple() -> None:
    from helpers.tcp_pairs import connect_pair

    pair = TcpPair()
    c1, s1 = connect_pair(pair, 7)
    c2, s2 = connect_pair(pair, 8)
    c1.send(b"one")
    c2.send(b"two")
    pair.run(0.5)
    assert (s1.fetch_data(), s2.fetch_data()) == (b"one", b"two")


@pytest.mark.requirement("RFC9293:MUST-54", "RFC9293:SHLD-26", "RFC1122:3.2.2.1-act-on-unreach")
def test_icmp_port_unreachable_aborts_a_connection_in_syn_sent() -> None:
    from pystack.apps.tcp_application import TCPApplication
    from pystack.tcp.config import CloseReason

    pair = TcpPair(loss=1.0)
    client = TCPApplication()
    pair.register(client, 0)
    result: list[bool] = []
    client.connect_deferred(B, 7).addCallback(result.append)
    session = client.session
    assert session is not None and session.state == "SYN_SENT"
    syn = tcpwire.emit(session.syn_segment(), A, B)
    quoted = ipv4.Ipv4Packet(A, B, 6, syn[:8])
    pair.layers[0].icmp_error_received("time_exceeded", 0, quoted)  # soft: kept
    assert session.state == "SYN_SENT"
    pair.layers[0].icmp_error_received("unreachable", 3, quoted)  # port unreachable: hard
    assert session.state == "CLOSED"
    assert result == [False] and client.close_reason is CloseReason.UNREACHABLE
