"""TAP receive offloads: the virtio_net_hdr checks, and super-segments from the kernel."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.benchmarks._tap_offloads import discard_server, kernel_sends, tap_stack
from pystack.lab import Lab
from pystack.links import netdev, tap
from pystack.links.memory import MemoryWire
from pystack.links.tap import TapLink, VnetDrop, strip_vnet_hdr
from pystack.reactor import blocking_call
from pystack.stack import PyStack
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab

SRC, DST = socket.inet_aton("198.18.1.1"), socket.inet_aton("198.18.1.2")
NEEDS_CSUM = tap.VIRTIO_NET_HDR_F_NEEDS_CSUM
GSO_TCPV4 = tap.VIRTIO_NET_HDR_GSO_TCPV4
GSO_TCPV6 = tap.VIRTIO_NET_HDR_GSO_TCPV6


def ipv4_frame(proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, SRC, DST)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + l4


def tcp_frame(payload: bytes) -> bytes:
    """An IPv4 TCP frame whose checksum field holds only the pseudo-header sum, as the
    kernel leaves it for the device (CHECKSUM_PARTIAL)."""
    length = 20 + len(payload)
    pseudo = netdev._sum16(SRC + DST + struct.pack("!BBH", 0, 6, length))
    tcp = struct.pack("!HHIIBBHHH", 40000, 9, 1, 1, 5 << 4, 0x18, 65535, pseudo, 0)
    return ipv4_frame(6, tcp + payload)


def vnet(flags: int = 0, gso: int = 0, gso_size: int = 0, start: int = 0, off: int = 0) -> bytes:
    return struct.pack("=BBHHHH", flags, gso, 54, gso_size, start, off)


def l4_checksum_ok(frame: bytes) -> bool:
    segment = frame[34:]
    pseudo = frame[26:34] + struct.pack("!BBH", 0, frame[23], len(segment))
    return netdev._sum16(pseudo + segment) == 0xFFFF


# -- the header, byte by byte -------------------------------------------------------------


def test_a_plain_header_leaves_the_frame_as_it_is() -> None:
    frame = tcp_frame(b"x" * 100)
    assert strip_vnet_hdr(vnet() + frame) == frame


def test_a_tcp_super_segment_comes_out_whole_with_its_checksum_completed() -> None:
    frame = tcp_frame(os.urandom(60000))
    got = strip_vnet_hdr(vnet(NEEDS_CSUM, GSO_TCPV4, 1460, 34, 16) + frame)
    assert isinstance(got, bytes) and len(got) == len(frame)
    assert got[54:] == frame[54:] and l4_checksum_ok(got)
    assert not l4_checksum_ok(frame)  # the partial sum alone is not a valid checksum


def test_a_partial_udp_checksum_is_completed() -> None:
    udp = struct.pack("!HHHH", 5000, 53, 8 + 5, 0) + b"hello"
    got = strip_vnet_hdr(vnet(NEEDS_CSUM, 0, 0, 34, 6) + ipv4_frame(17, udp))
    assert isinstance(got, bytes) and l4_checksum_ok(got)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (vnet(NEEDS_CSUM, 3, 1460, 34, 16), VnetDrop.UNKNOWN_GSO),  # UDP fragmentation
        (vnet(NEEDS_CSUM, 5, 1460, 34, 16), VnetDrop.UNKNOWN_GSO),  # UDP segmentation
        (vnet(NEEDS_CSUM, GSO_TCPV6, 1460, 34, 16), VnetDrop.BAD_GSO),  # TCPv6 on IPv4
        (vnet(NEEDS_CSUM, GSO_TCPV4 | 0x80, 1460, 34, 16), VnetDrop.UNKNOWN_GSO),  # ECN
        (vnet(NEEDS_CSUM, GSO_TCPV4, 0, 34, 16), VnetDrop.BAD_GSO),  # no segment size
        (vnet(0, GSO_TCPV4, 1460, 0, 0), VnetDrop.BAD_GSO),  # a super-segment, checksummed?
        (vnet(NEEDS_CSUM, 0, 0, 30, 16), VnetDrop.BAD_CSUM),  # start inside the IP header
        (vnet(NEEDS_CSUM, 0, 0, 34, 6), VnetDrop.BAD_CSUM),  # the UDP offset on TCP
        (vnet(NEEDS_CSUM, 0, 0, 34, 4000), VnetDrop.BAD_CSUM),  # past the frame
        (vnet(NEEDS_CSUM | 0x04), VnetDrop.UNKNOWN_FLAGS),
    ],
)
def test_a_header_the_link_cannot_honour_drops_the_frame(header: bytes, reason: VnetDrop) -> None:
    assert strip_vnet_hdr(header + tcp_frame(b"y" * 3000)) is reason


def test_tcp_segmentation_on_a_udp_frame_is_refused() -> None:
    udp = struct.pack("!HHHH", 5000, 53, 8 + 5, 0) + b"hello"
    header = vnet(NEEDS_CSUM, GSO_TCPV4, 1460, 34, 6)
    assert strip_vnet_hdr(header + ipv4_frame(17, udp)) is VnetDrop.BAD_GSO


def test_a_read_shorter_than_the_header_is_dropped() -> None:
    assert strip_vnet_hdr(b"\x01" * 9) is VnetDrop.SHORT_HEADER


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(strip_vnet_hdr(data), (bytes, VnetDrop))


@given(st.binary(min_size=10, max_size=10), st.binary(max_size=64), st.integers(0, 80))
def test_arbitrary_headers_on_real_frames_never_raise(
    header: bytes, payload: bytes, cut: int
) -> None:
    frame = tcp_frame(payload)
    frame = frame[: len(frame) - cut]
    got = strip_vnet_hdr(header + frame)
    # Completing a checksum rewrites two bytes, never the frame's length.
    assert isinstance(got, VnetDrop) or len(got) == len(frame)


def test_the_link_counts_drops_and_super_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # The device is replaced by one end of a datagram socket pair: the link reads what the
    # test writes, one frame per read, as from a TAP.
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    monkeypatch.setattr(netdev, "exists", lambda name: True)
    monkeypatch.setattr(TapLink, "_open", staticmethod(lambda *args: ours.detach()))
    link = TapLink("fake0", reactor=object(), mtu=1500, vnet_hdr=True)
    got: list[bytes] = []
    link.set_receiver(got.append)
    with theirs:
        theirs.send(vnet() + tcp_frame(b"a" * 1000))
        theirs.send(vnet(NEEDS_CSUM, GSO_TCPV4, 1460, 34, 16) + tcp_frame(b"b" * 20000))
        theirs.send(vnet(NEEDS_CSUM, 3, 1460, 34, 16) + tcp_frame(b"c" * 20000))
        theirs.send(b"\0" * 4)
        link.doRead()
    assert [len(f) for f in got] == [1054, 20054]
    assert link.super_frames == 1 and link.frames_in == 2
    assert link.rx_drops == {VnetDrop.UNKNOWN_GSO: 1, VnetDrop.SHORT_HEADER: 1}
    link._release()


def test_offloads_need_a_device() -> None:
    wire = MemoryWire(Clock())
    with pytest.raises(ValueError, match="needs a device"):
        PyStack(link=wire.attach(), ip="198.18.0.2/24", clock=Clock(), offloads=True)


@pytest.mark.root
def test_a_stack_that_fails_to_build_closes_its_tap(veth_lab: Lab) -> None:
    with veth_lab.kernel(), pytest.raises(TypeError, match="unknown PyStack options"):
        PyStack(tap="psleak0", ip="198.18.1.2/24", offloads=True, no_such_option=1)
    shown = subprocess.run(
        ["ip", "-n", veth_lab.info.kernel_ns, "link", "show", "psleak0"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert shown.returncode != 0, "the TAP device outlived the failed PyStack()"


# -- against the kernel -------------------------------------------------------------------

MiB = 1 << 20


@pytest.fixture
def offload_stack(veth_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A stack on a TAP in the lab's kernel namespace, attached with
    ``offloads=request.param`` (see pystack.benchmarks._tap_offloads)."""
    with tap_stack(veth_lab, offloads=request.param) as stack:
        yield stack


@pytest.mark.root
@pytest.mark.parametrize("offload_stack", [True], indirect=True)
def test_kernel_bulk_arrives_intact_in_super_segments(veth_lab: Lab, offload_stack: Any) -> None:
    sink = discard_server(offload_stack)
    payload = os.urandom(20 * MiB)
    kernel_sends(veth_lab, payload)
    assert sink.done.wait(60), f"only {sink.count} bytes arrived"
    assert blocking_call(lambda: sink.count) == len(payload)
    assert sink.digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    link = offload_stack.link
    assert link.super_frames > 0, "the kernel never sent a frame larger than the MTU"
    assert link.rx_drops == {}


@pytest.mark.root
@pytest.mark.parametrize("offload_stack", [False], indirect=True)
def test_without_offloads_every_frame_fits_the_mtu(veth_lab: Lab, offload_stack: Any) -> None:
    sink = discard_server(offload_stack)
    payload = os.urandom(4 * MiB)
    kernel_sends(veth_lab, payload)
    assert sink.done.wait(60), f"only {sink.count} bytes arrived"
    assert sink.digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert offload_stack.link.super_frames == 0 and not offload_stack.link.vnet_hdr


# -- transmit: super-segments the kernel cuts ---------------------------------------------


def _fake_tap(monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[TapLink, socket.socket]:
    """A TapLink whose device is one end of a datagram socket pair (the other returned)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    monkeypatch.setattr(netdev, "exists", lambda name: True)
    monkeypatch.setattr(TapLink, "_open", staticmethod(lambda *args: ours.detach()))
    return TapLink("fake0", reactor=object(), mtu=1500, **kwargs), theirs


def test_a_super_segment_goes_out_behind_a_gso_header(monkeypatch: pytest.MonkeyPatch) -> None:
    link, theirs = _fake_tap(monkeypatch, vnet_hdr=True, offload_flags=tap.OFFLOADS)
    assert link.tso_max == tap.TSO_MAX
    frame = tcp_frame(b"z" * 4000)  # a 20-byte TCP header, no options
    with theirs:
        link.send_gso(frame, 1000)
        link.send(tcp_frame(b"p" * 10))
        wrote = theirs.recv(1 << 17)
        plain = theirs.recv(1 << 17)
    flags, gso_type, hdr_len, gso_size, start, offset = struct.unpack_from("=BBHHHH", wrote)
    assert (flags, gso_type, gso_size) == (NEEDS_CSUM, GSO_TCPV4, 1000)
    assert (hdr_len, start, offset) == (54, 34, 16)  # Ethernet + IPv4 + TCP; the TCP checksum
    assert wrote[10:] == frame
    assert plain[:10] == bytes(10)  # a plain frame asks for nothing
    assert link.gso_frames == 1 and link.frames_out == 2
    link._release()


def test_without_segmentation_offload_the_link_takes_no_super_segment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link, theirs = _fake_tap(monkeypatch, vnet_hdr=True, offload_flags=tap.TUN_F_CSUM)
    theirs.close()
    assert link.tso_max == 0
    with pytest.raises(RuntimeError, match="tso_max"):
        link.send_gso(tcp_frame(b"z" * 4000), 1000)
    link._release()


def test_a_device_that_refuses_offloads_gets_plain_frames(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    opened: list[tuple[bool, int]] = []

    def open_device(name: str, vnet_hdr: bool, offload_flags: int) -> int:
        opened.append((vnet_hdr, offload_flags))
        if vnet_hdr:
            raise tap.OffloadRefused(errno.EINVAL, "Invalid argument")
        return ours.detach()

    monkeypatch.setattr(netdev, "exists", lambda name: True)
    monkeypatch.setattr(TapLink, "_open", staticmethod(open_device))
    with caplog.at_level("WARNING", logger="pystack.links.tap"):
        link = TapLink("fake0", reactor=object(), mtu=1500, vnet_hdr=True,
                       offload_flags=tap.OFFLOADS)  # fmt: skip
    assert opened == [(True, tap.OFFLOADS), (False, 0)]
    assert not link.vnet_hdr and link.tso_max == 0
    assert [r.getMessage() for r in caplog.records] == [
        "TAP fake0 refuses offloads (Invalid argument): plain frames"
    ]
    with theirs:
        link.send(tcp_frame(b"q" * 10))
        assert theirs.recv(2048) == tcp_frame(b"q" * 10)
    link._release()


@pytest.mark.root
def test_a_real_device_refusing_an_offload_falls_back(veth_lab: Lab) -> None:
    # The kernel refuses flags it does not know (so that a caller can probe for them).
    with veth_lab.kernel():
        link = TapLink("psrefuse0", reactor=object(), vnet_hdr=True, offload_flags=0x7FFFFFF0)
    try:
        assert not link.vnet_hdr and link.tso_max == 0
    finally:
        link._release()


def test_the_stack_sends_super_segments_only_through_a_link_that_cuts_them() -> None:
    from pystack.testing.gso import SegmentingPort

    wire = MemoryWire(Clock())
    plain = PyStack(link=wire.attach(), ip="198.18.0.1/24", clock=wire.clock)
    cutting = PyStack(link=SegmentingPort(wire.attach()), ip="198.18.0.2/24", clock=wire.clock)
    assert plain.tcp.tso_max == 0 and cutting.tcp.tso_max == 65535
    captured = PyStack(link=SegmentingPort(wire.attach()), ip="198.18.0.3/24",
                       clock=wire.clock, pcap=os.devnull)  # fmt: skip
    assert captured.tcp.tso_max == 65535  # a capture records super-segments whole
