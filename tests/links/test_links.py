"""Links: the simulated wire's impairments, the pcap capture, the lossy wrapper, and the
reader/drain/close logic the real links share."""

from __future__ import annotations

import errno
import shutil
import socket
import struct
import subprocess

import pytest
from twisted.internet.task import Clock

from pystack.links import LossyLink, MemoryLink, MemoryWire, PcapCapture
from pystack.links.base import DescriptorLink


def _pair(
    **kw: float,
) -> tuple[Clock, MemoryWire, list[bytes], list[bytes], MemoryLink, MemoryLink]:
    clock = Clock()
    wire = MemoryWire(clock, **kw)  # type: ignore[arg-type]
    a, b = wire.attach(), wire.attach()
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    a.set_receiver(got_a.append)
    b.set_receiver(got_b.append)
    return clock, wire, got_a, got_b, a, b


def test_frames_reach_other_ports_through_the_clock() -> None:
    clock, _, got_a, got_b, a, _ = _pair(delay=0.01)
    a.send(b"x" * 60)
    assert got_b == []
    clock.advance(0.01)
    assert got_b == [b"x" * 60]
    assert got_a == []


def test_loss_is_seeded_and_about_right() -> None:
    results = []
    for _ in range(2):
        clock, wire, _, got_b, a, _ = _pair(loss=0.2, seed=7)
        for i in range(1000):
            a.send(i.to_bytes(2, "big") * 30)
        clock.advance(0)
        results.append(list(got_b))
        assert 150 < wire.counters.lost < 250
    assert results[0] == results[1]


def test_reordering_lets_later_frames_overtake() -> None:
    clock, _, _, got_b, a, _ = _pair(reorder=0.5, seed=3)
    frames = [bytes([i]) * 60 for i in range(50)]
    for f in frames:
        a.send(f)
    clock.advance(1)
    assert sorted(got_b) == sorted(frames)
    assert got_b != frames


def test_duplicates_and_oversized_frames() -> None:
    clock, wire, _, got_b, a, _ = _pair(duplicate=1.0, mtu=100)
    a.send(b"y" * 114)
    a.send(b"z" * 115)
    clock.advance(0)
    assert got_b == [b"y" * 114, b"y" * 114]
    assert wire.counters.too_big == 1


def test_bad_probability_is_rejected() -> None:
    with pytest.raises(ValueError):
        MemoryWire(Clock(), loss=1.5)


def test_closed_port_gets_nothing() -> None:
    clock, _, _, got_b, a, b = _pair()
    b.close()
    a.send(b"q" * 60)
    clock.advance(0)
    assert got_b == []


def _records(path: str) -> list[tuple[int, int, bytes]]:
    with open(path, "rb") as fh:
        data = fh.read()
    magic, major, minor, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    out, pos = [], 24
    while pos < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[pos : pos + 16])
        out.append((sec, usec, data[pos + 16 : pos + 16 + incl]))
        assert incl == orig
        pos += 16 + incl
    return out


def test_pcap_records_both_directions_with_clock_time(tmp_path: object) -> None:
    clock = Clock()
    clock.advance(1.5)
    wire = MemoryWire(clock, delay=0.25)
    path = f"{tmp_path}/cap.pcap"
    a = PcapCapture(wire.attach(), path, clock)
    b = wire.attach()
    a.set_receiver(lambda f: None)
    b.set_receiver(lambda f: None)
    a.send(b"\x01" * 60)
    b.send(b"\x02" * 60)
    clock.advance(0.25)
    a.close()
    assert _records(path) == [(1, 500000, b"\x01" * 60), (1, 750000, b"\x02" * 60)]
    if shutil.which("tcpdump"):
        out = subprocess.run(["tcpdump", "-r", path, "-nn"], capture_output=True, check=True)
        assert out.stdout.count(b"00:00:01.") == 2


def test_lossy_wrapper_drops_and_delays_both_directions() -> None:
    clock = Clock()
    wire = MemoryWire(clock)
    inner = wire.attach()
    lossy = LossyLink(inner, clock, loss=0.5, delay=0.1, seed=1)
    peer = wire.attach()
    got: list[bytes] = []
    mine: list[bytes] = []
    peer.set_receiver(got.append)
    lossy.set_receiver(mine.append)
    for i in range(200):
        lossy.send(bytes([i % 256]) * 60)
        peer.send(bytes([i % 256]) * 61)
    clock.advance(0.05)
    assert got == [] and mine == []
    clock.advance(0.1)
    assert 60 < len(got) < 140
    assert 60 < len(mine) < 140
    assert lossy.lost == 400 - len(got) - len(mine)
    assert lossy.mtu == 1500 and lossy.closed is False


class _Reactor:
    """Records readers, as the real reactor would select on them."""

    def __init__(self) -> None:
        self.readers: list[object] = []

    def addReader(self, reader: object) -> None:
        self.readers.append(reader)

    def removeReader(self, reader: object) -> None:
        self.readers.remove(reader)


class _PairLink(DescriptorLink):
    """A DescriptorLink on one end of a datagram socketpair; frames starting b"!" are
    skipped, as a packet socket skips its own outgoing frames."""

    lost_errnos = frozenset({errno.EAGAIN})

    def __init__(self, sock: socket.socket) -> None:
        super().__init__("pair0", _Reactor())
        sock.setblocking(False)
        self.sock: socket.socket | None = sock

    @property
    def closed(self) -> bool:
        return self.sock is None

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def _write(self, frame: bytes) -> None:
        assert self.sock is not None
        self.sock.send(frame)

    def _read(self) -> bytes | None:
        assert self.sock is not None
        data = self.sock.recv(2048)
        return None if data.startswith(b"!") else data

    def _release(self) -> None:
        assert self.sock is not None
        self.sock.close()
        self.sock = None


def test_descriptor_link_drains_skips_counts_and_closes_once() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with theirs:
        link = _PairLink(ours)
        got: list[bytes] = []
        link.set_receiver(got.append)
        link.start()
        link.start()
        assert link.reactor.readers == [link]
        for frame in (b"one", b"!own", b"two"):
            theirs.send(frame)
        link.doRead()  # one wake-up reads everything pending, then stops at EAGAIN
        assert got == [b"one", b"two"] and link.frames_in == 2
        link.send(b"out")
        assert theirs.recv(100) == b"out" and link.frames_out == 1
        assert link.logPrefix() == "_PairLink(pair0)"
        link.close()
        link.close()
        assert link.closed and link.reactor.readers == [] and link.fileno() == -1
        link.send(b"lost")  # a closed link drops frames silently
        assert link.frames_out == 1
        with pytest.raises(RuntimeError, match="start\\(\\) after close\\(\\)"):
            link.start()


def test_descriptor_link_counts_a_full_queue_as_a_lost_frame() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with theirs:
        link = _PairLink(ours)
        sent = 0
        while link.send_errors == 0 and sent < 100_000:  # the peer never reads
            link.send(b"x" * 1000)
            sent += 1
        assert link.send_errors == 1 and link.frames_out == sent - 1
        link.close()
