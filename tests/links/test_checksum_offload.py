"""Checksums a device vouches for: a frame from a TAP or packet socket whose virtio-net
header (or auxiliary data) says its TCP/UDP checksum was checked by the kernel, or is left
partial because the frame comes from this host, reaches the stack without being summed
again; a wrapper or any other receiver gets the checksum completed, as a wire carries it."""

from __future__ import annotations

import errno
import struct

from twisted.internet.task import Clock

from pystack.links import PcapCapture, netdev
from pystack.links.base import (
    CHECKSUM_CHECK,
    CHECKSUM_PARTIAL,
    CHECKSUM_VALID,
    DescriptorLink,
)
from pystack.links.packet_socket import (
    PACKET_AUXDATA,
    SOL_PACKET,
    TP_STATUS_CSUM_VALID,
    TP_STATUS_CSUMNOTREADY,
    _checksum_state,
)
from pystack.links.vnet import (
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_F_NEEDS_CSUM,
    read_vnet_hdr,
    strip_vnet_hdr,
)
from pystack.stack import PyStack
from pystack.tcp.layer import TcpDrop

PEER, OURS = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
PEER_MAC, OUR_MAC = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"


def syn_frame(checksum: str) -> bytes:
    """A SYN from the peer to port 9 whose TCP checksum is ``"partial"`` (the
    pseudo-header sum only, as the kernel leaves it for the device), ``"right"`` or
    ``"wrong"``."""
    pseudo = netdev._sum16(PEER + OURS + struct.pack("!BBH", 0, 6, 20))
    tcp = struct.pack("!HHIIBBHHH", 40000, 9, 1000, 0, 5 << 4, 0x02, 65535, pseudo, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, PEER, OURS)
    ip = ip[:10] + struct.pack("!H", ~netdev._sum16(ip) & 0xFFFF) + ip[12:]
    frame = OUR_MAC + PEER_MAC + b"\x08\x00" + ip + tcp
    if checksum == "partial":
        return frame
    whole = netdev.complete_checksum(frame)
    return whole if checksum == "right" else whole[:-4] + b"\x12\x34" + whole[-2:]


def tcp_checksum_ok(frame: bytes) -> bool:
    pseudo = frame[26:34] + struct.pack("!BBH", 0, 6, len(frame) - 34)
    return netdev._sum16(pseudo + frame[34:]) == 0xFFFF


class _Reactor:
    def addReader(self, reader: object) -> None:
        pass

    def removeReader(self, reader: object) -> None:
        pass


class FrameLink(DescriptorLink):
    """A DescriptorLink fed from a list of (frame, checksum state), as a TAP with offloads
    reads them; what the stack sends is kept in ``sent``."""

    mtu = 1500
    mac = "02:00:00:00:00:02"

    def __init__(self) -> None:
        super().__init__("frames0", _Reactor())
        self.pending: list[tuple[bytes, int]] = []
        self.sent: list[bytes] = []
        self._open = True

    @property
    def closed(self) -> bool:
        return not self._open

    def fileno(self) -> int:
        return 3 if self._open else -1

    def _write(self, frame: bytes) -> None:
        self.sent.append(frame)

    def _read(self) -> tuple[bytes, int] | None:
        if not self.pending:
            raise OSError(errno.EAGAIN, "drained")
        return self.pending.pop(0)

    def _release(self) -> None:
        self._open = False


def test_a_plain_receiver_gets_partial_checksums_completed() -> None:
    link = FrameLink()
    got: list[bytes] = []
    link.set_receiver(got.append)
    wrong = syn_frame("wrong")
    link.pending = [(syn_frame("partial"), CHECKSUM_PARTIAL), (wrong, CHECKSUM_VALID),
                    (wrong, CHECKSUM_CHECK)]  # fmt: skip
    link.doRead()
    assert tcp_checksum_ok(got[0]) and got[0] == syn_frame("right")
    assert got[1:] == [wrong, wrong]  # nothing but a partial checksum is touched


def test_a_trusting_receiver_is_told_and_nothing_is_summed() -> None:
    link = FrameLink()
    got: list[tuple[bytes, dict[str, bool]]] = []
    link.set_trusting_receiver(lambda frame, **kw: got.append((frame, kw)))
    partial = syn_frame("partial")
    link.pending = [(partial, CHECKSUM_PARTIAL), (partial, CHECKSUM_VALID),
                    (partial, CHECKSUM_CHECK)]  # fmt: skip
    link.doRead()
    assert got == [(partial, {"checksum_valid": True}), (partial, {"checksum_valid": True}),
                   (partial, {})]  # fmt: skip


def test_the_stack_takes_a_vouched_for_segment_without_summing_it() -> None:
    link = FrameLink()
    stack = PyStack(link=link, ip="198.18.0.2/24", clock=Clock())
    link.pending = [(syn_frame("partial"), CHECKSUM_PARTIAL)]
    link.doRead()
    assert stack.stats.dropped("tcp", TcpDrop.BAD_CHECKSUM) == 0
    assert stack.stats.get("tcp", "segments_in") == 1  # a SYN to a closed port: reset


def test_the_stack_still_checks_a_checksum_no_device_vouched_for() -> None:
    link = FrameLink()
    stack = PyStack(link=link, ip="198.18.0.2/24", clock=Clock())
    link.pending = [(syn_frame("partial"), CHECKSUM_CHECK), (syn_frame("wrong"), CHECKSUM_CHECK)]
    link.doRead()
    assert stack.stats.dropped("tcp", TcpDrop.BAD_CHECKSUM) == 2
    link.pending = [(syn_frame("right"), CHECKSUM_CHECK)]
    link.doRead()
    assert stack.stats.get("tcp", "segments_in") == 1


def test_a_capture_between_device_and_stack_records_complete_checksums(tmp_path) -> None:  # type: ignore[no-untyped-def]
    link = FrameLink()
    capture = PcapCapture(link, str(tmp_path / "in.pcap"))
    stack = PyStack(link=capture, ip="198.18.0.2/24", clock=Clock())
    link.pending = [(syn_frame("partial"), CHECKSUM_PARTIAL)]
    link.doRead()
    capture.close()
    data = (tmp_path / "in.pcap").read_bytes()
    assert syn_frame("right") in data and syn_frame("partial") not in data
    assert stack.stats.get("tcp", "segments_in") == 1


def test_a_virtio_header_says_what_it_knows_of_the_checksum() -> None:
    partial = syn_frame("partial")

    def header(flags: int) -> bytes:
        return struct.pack("=BBHHHH", flags, 0, 54, 0, 34, 16)

    assert read_vnet_hdr(header(VIRTIO_NET_HDR_F_NEEDS_CSUM) + partial) == (
        partial,
        CHECKSUM_PARTIAL,
    )
    assert read_vnet_hdr(header(VIRTIO_NET_HDR_F_DATA_VALID) + partial) == (
        partial,
        CHECKSUM_VALID,
    )
    assert read_vnet_hdr(header(0) + partial) == (partial, CHECKSUM_CHECK)
    assert strip_vnet_hdr(header(VIRTIO_NET_HDR_F_NEEDS_CSUM) + partial) == syn_frame("right")


def test_a_packet_sockets_auxiliary_data_says_what_it_knows_of_the_checksum() -> None:
    def aux(status: int) -> list[tuple[int, int, bytes]]:
        return [(SOL_PACKET, PACKET_AUXDATA, struct.pack("=IIIHHHH", status, 60, 60, 14, 0, 0, 0))]

    assert _checksum_state(aux(TP_STATUS_CSUMNOTREADY)) == CHECKSUM_PARTIAL
    assert _checksum_state(aux(TP_STATUS_CSUM_VALID)) == CHECKSUM_VALID
    assert _checksum_state(aux(0)) == CHECKSUM_CHECK
    assert _checksum_state([]) == CHECKSUM_CHECK
