"""Links: the simulated wire's impairments, the pcap capture and the lossy wrapper."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from twisted.internet.task import Clock

from pystack.links import LossyLink, MemoryLink, MemoryWire, PcapCapture


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
