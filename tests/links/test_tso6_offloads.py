"""IPv6 TCP offloads without a device: TCPv6 super-frames received through the
virtio_net_hdr (validated, checksum completed), the header asking the kernel to cut the
stack's IPv6 super-segments, and where the IPv6 layer hands them to the link."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.layers.ndp import NdpDrop
from pystack.links import netdev, tap, vnet
from pystack.links.memory import MemoryWire
from pystack.links.tap import TapLink, VnetDrop, strip_vnet_hdr
from pystack.stack import PyStack
from pystack.testing.gso import SegmentingPort, cut_super_segment

SRC6 = socket.inet_pton(socket.AF_INET6, "2001:db8:1::1")
DST6 = socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
NEEDS_CSUM = vnet.VIRTIO_NET_HDR_F_NEEDS_CSUM
GSO_TCPV6 = vnet.VIRTIO_NET_HDR_GSO_TCPV6


def ipv6_frame(next_header: int, l4: bytes) -> bytes:
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(l4), next_header, 64, SRC6, DST6)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + l4


def pseudo6(length: int, next_header: int = 6) -> int:
    """The folded IPv6 pseudo-header sum (RFC 8200 §8.1), as a partial checksum holds."""
    return netdev._sum16(SRC6 + DST6 + struct.pack("!IxxxB", length, next_header))


def tcp6_frame(payload: bytes, options: bytes = b"") -> bytes:
    """An IPv6 TCP frame whose checksum field holds only the pseudo-header sum."""
    length = 20 + len(options) + len(payload)
    head = struct.pack("!HHIIBBHHH", 40000, 9, 1, 1, (5 + len(options) // 4) << 4, 0x18,
                       65535, pseudo6(length), 0)  # fmt: skip
    return ipv6_frame(6, head + options + payload)


def vnet_hdr(flags: int = 0, gso: int = 0, size: int = 0, start: int = 0, off: int = 0) -> bytes:
    return struct.pack("=BBHHHH", flags, gso, 74, size, start, off)


def l4_checksum_ok6(frame: bytes) -> bool:
    segment = frame[54:]
    pseudo = frame[22:54] + struct.pack("!IxxxB", len(segment), frame[20])
    return netdev._sum16(pseudo + segment) == 0xFFFF


# -- receive: GSO TCPv6 ---------------------------------------------------------------------


def test_a_tcpv6_super_frame_comes_out_whole_with_its_checksum_completed() -> None:
    frame = tcp6_frame(bytes(range(256)) * 250)
    got = strip_vnet_hdr(vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 1440, 54, 16) + frame)
    assert isinstance(got, bytes) and len(got) == len(frame)
    assert got[74:] == frame[74:] and l4_checksum_ok6(got)
    assert not l4_checksum_ok6(frame)


def test_the_largest_tcpv6_super_frame_the_payload_length_holds_is_taken() -> None:
    frame = tcp6_frame(b"m" * (0xFFFF - 20))
    got = strip_vnet_hdr(vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 1440, 54, 16) + frame)
    assert isinstance(got, bytes) and l4_checksum_ok6(got)


@pytest.mark.parametrize(
    ("header", "frame", "reason"),
    [
        # RFC 8200 §4: a Hop-by-Hop header between: not TCP behind the fixed header.
        (vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 1440, 54, 16), ipv6_frame(0, b"\x06" + bytes(27)),
         VnetDrop.BAD_GSO),
        (vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 1440, 54, 6), ipv6_frame(17, bytes(3000)),
         VnetDrop.BAD_GSO),  # UDP
        (vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 1440, 54, 16), ipv6_frame(6, bytes(10)),
         VnetDrop.BAD_GSO),  # shorter than a TCP header
        (vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 0, 54, 16), tcp6_frame(b"y" * 3000),
         VnetDrop.BAD_GSO),  # no segment size
        (vnet_hdr(0, GSO_TCPV6, 1440, 0, 0), tcp6_frame(b"y" * 3000),
         VnetDrop.BAD_GSO),  # a super-segment whose checksum is not partial
        (vnet_hdr(NEEDS_CSUM, vnet.VIRTIO_NET_HDR_GSO_TCPV4, 1440, 54, 16),
         tcp6_frame(b"y" * 3000), VnetDrop.BAD_GSO),  # TCPv4 on IPv6
        (vnet_hdr(NEEDS_CSUM, GSO_TCPV6 | 0x80, 1440, 54, 16), tcp6_frame(b"y" * 3000),
         VnetDrop.UNKNOWN_GSO),  # ECN, never enabled
    ],
)  # fmt: skip
def test_a_malformed_tcpv6_super_frame_is_dropped(header: bytes, frame: bytes,
                                                  reason: VnetDrop) -> None:  # fmt: skip
    assert strip_vnet_hdr(header + frame) is reason


@given(st.binary(min_size=10, max_size=10), st.binary(max_size=64), st.integers(0, 90))
def test_arbitrary_headers_on_ipv6_frames_never_raise(
    header: bytes, payload: bytes, cut: int
) -> None:
    frame = tcp6_frame(payload)
    frame = frame[: len(frame) - cut]
    got = strip_vnet_hdr(header + frame)
    assert isinstance(got, VnetDrop) or len(got) == len(frame)


@given(st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=80))
def test_a_tcpv6_header_on_any_frame_never_raises(next_header: int, size: int,
                                                   l4: bytes) -> None:  # fmt: skip
    header = vnet_hdr(NEEDS_CSUM, GSO_TCPV6, size, 54, 16)
    got = strip_vnet_hdr(header + ipv6_frame(next_header, l4))
    if isinstance(got, bytes):  # taken: a TCP header behind the fixed header, a size
        assert next_header == 6 and len(l4) >= 20 and size > 0


# -- send: the header asking the kernel to cut --------------------------------------------


def test_the_gso_header_of_an_ipv6_super_segment() -> None:
    options = b"\x01\x01\x08\x0a" + bytes(8)  # NOP, NOP, timestamps: a 32-byte header
    frame = tcp6_frame(b"z" * 5000, options)
    flags, gso_type, hdr_len, gso_size, start, offset = struct.unpack(
        "=BBHHHH", vnet.gso_header(frame, 1428)
    )
    assert (flags, gso_type, gso_size) == (NEEDS_CSUM, 4, 1428)
    # Ethernet + IPv6 + TCP with options; the checksum field of the TCP header.
    assert (hdr_len, start, offset) == (14 + 40 + 32, 54, 16)


def test_the_model_cuts_ipv6_with_each_segment_length_and_checksum() -> None:
    frame = tcp6_frame(bytes(range(200)) * 30)
    cut = cut_super_segment(frame, 1440)
    assert [len(piece) - 74 for piece in cut] == [1440, 1440, 1440, 1440, 240]
    for i, piece in enumerate(cut):
        assert struct.unpack_from("!H", piece, 18)[0] == len(piece) - 54
        assert piece[14:18] == frame[14:18] and piece[20:54] == frame[20:54]
        assert struct.unpack_from("!I", piece, 58)[0] == 1 + 1440 * i
        assert l4_checksum_ok6(piece)
    assert b"".join(piece[74:] for piece in cut) == frame[74:]


def test_offloads_enable_tcpv6_segmentation() -> None:
    assert tap.OFFLOADS & tap.TUN_F_TSO6 and tap.OFFLOADS & tap.TUN_F_TSO4


def test_a_tap_sends_an_ipv6_super_segment_behind_a_tcpv6_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    monkeypatch.setattr(netdev, "exists", lambda name: True)
    monkeypatch.setattr(TapLink, "_open", staticmethod(lambda *args: ours.detach()))
    link = TapLink("fake0", reactor=object(), mtu=1500, vnet_hdr=True,
                   offload_flags=tap.OFFLOADS)  # fmt: skip
    frame = tcp6_frame(b"z" * 4000)
    with theirs:
        link.send_gso(frame, 1000)
        wrote = theirs.recv(1 << 17)
        theirs.send(vnet_hdr(NEEDS_CSUM, GSO_TCPV6, 1440, 54, 16) + tcp6_frame(b"b" * 60000))
        got: list[bytes] = []
        link.set_receiver(got.append)
        link.doRead()
    assert struct.unpack_from("=BBHHHH", wrote) == (NEEDS_CSUM, 4, 74, 1000, 54, 16)
    assert wrote[10:] == frame and link.gso_frames == 1
    assert [len(f) for f in got] == [60074] and link.super_frames == 1
    link._release()


# -- the IPv6 layer ------------------------------------------------------------------------


def _pair(port: Any, **kwargs: Any) -> tuple[PyStack, PyStack, MemoryWire]:
    wire = MemoryWire(Clock())
    v6 = {"dad_transmits": 0, "router_solicitations": 0, "mld": False}
    a = PyStack(link=port(wire.attach()), ip6="2001:db8::1/64", clock=wire.clock, **v6)
    b = PyStack(link=wire.attach(), ip6="2001:db8::2/64", clock=wire.clock, **v6)
    return a, b, wire


def test_ipv6_super_segments_only_through_a_link_that_cuts_them() -> None:
    a, _, _ = _pair(SegmentingPort)
    assert a.tcp.tso_max6 == 65535 and a.ipv6.tso_max == 65535
    plain, _, _ = _pair(lambda link: link)
    assert plain.tcp.tso_max6 == 0
    # RFC 8200 §3: the Payload Length field bounds a datagram to 65535 bytes behind the
    # fixed header, whatever more the device would cut (no jumbograms).
    big, _, _ = _pair(lambda link: SegmentingPort(link, 1 << 20))
    assert big.ipv6.tso_max == 40 + 65535


def test_an_unresolved_neighbour_gets_no_super_segment_but_a_solicitation() -> None:
    a, _, wire = _pair(SegmentingPort)
    port = a.link
    payload = bytes(12) + b"\x50" + bytes(7) + b"q" * 6000  # a TCP header, 20 bytes
    a.ipv6.send_payload(payload, dst="2001:db8::2", proto=6, gso_size=1440)
    assert port.super_frames == []
    assert a.stats.dropped(a.ipv6.neighbors.name, NdpDrop.SUPER_SEGMENT_UNRESOLVED) == 1
    wire.clock.advance(0.01)  # the solicitation is answered
    assert a.ipv6.neighbors.lookup("2001:db8::2") is not None
    a.ipv6.send_payload(payload, dst="2001:db8::2", proto=6, gso_size=1440)
    assert len(port.super_frames) == 1 and port.super_frames[0][1] == 1440


def test_ipv6_super_segments_cross_a_wire_with_offloads_whole_and_intact() -> None:
    from pystack.sim import SimNet
    from pystack.tcp.config import TcpConfig

    net = SimNet(2, delay=0.0005, ipv6=True, offloads=True,
                 tcp=TcpConfig(rcv_buf=1 << 20, snd_buf=1 << 20))  # fmt: skip
    client, server = net.connect_tcp(9, far_address="2001:db8::2")
    data = bytes(i * 7 % 251 for i in range(1_000_000))
    got = bytearray()
    sent = 0
    while len(got) < len(data) and net.clock.seconds() < 30:
        if sent < len(data):
            sent += client.send(data[sent : sent + 65536])
        net.clock.advance(0.0005)
        got += server.fetch_data()
    assert bytes(got) == data
    assert net.wire.counters.super_segments > 5
    assert net.stacks[0].stats.get("tcp", "super_segments_out") == net.wire.counters.super_segments
