"""TCP segmentation offload: what a device cuts from the stack's super-segments is, frame
for frame, what the stack sends without offloads (pystack.testing.gso models the kernel)."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.apps.tcp_application import TCPApplication
from pystack.links.base import Link, LinkWrapper
from pystack.links.memory import MemoryWire
from pystack.stack import PyStack
from pystack.tcp.config import TcpConfig
from pystack.testing.gso import SegmentingPort, cut_super_segment

FIN, PSH = 0x01, 0x08


class Recorder(LinkWrapper):
    """Keeps every frame the stack's side puts on the wire."""

    def __init__(self, inner: Link) -> None:
        super().__init__(inner)
        self.frames: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.inner.send(frame)


@dataclass(frozen=True)
class Pattern:
    """What the application does and what the connection is like."""

    writes: tuple[tuple[float, int], ...]  # (seconds to wait first, bytes to write)
    close: bool
    sender: TcpConfig
    receiver: TcpConfig
    loss: float
    tso_max: int
    ipv6: bool = False


@dataclass
class Run:
    frames: list[bytes]
    received: bytes
    super_frames: list[tuple[bytes, int]]


def transfer(pattern: Pattern, tso: bool) -> Run:
    """Connect 198.18.0.1 to 198.18.0.2 (2001:db8::1 to 2001:db8::2 with ``ipv6``) on a
    simulated wire and play ``pattern``; the sender's link cuts super-segments when
    ``tso``."""
    clock = Clock()
    wire = MemoryWire(clock, delay=0.002, loss=pattern.loss, seed=7)
    recorder = Recorder(wire.attach())
    link = SegmentingPort(recorder, pattern.tso_max) if tso else recorder
    v6 = {"dad_transmits": 0, "router_solicitations": 0, "mld": False}
    a = PyStack(link=link, ip="198.18.0.1/24", clock=clock, rng=random.Random(1),
                tcp=pattern.sender, ip6="2001:db8::1/64", **v6)  # fmt: skip
    b = PyStack(link=wire.attach(), ip="198.18.0.2/24", clock=clock, rng=random.Random(2),
                tcp=pattern.receiver, ip6="2001:db8::2/64", **v6)  # fmt: skip
    server = TCPApplication()
    b.register_tcp_application(server)
    server.bind(7)
    server.listen(5)
    accepted: list[TCPApplication] = []
    server.accept_deferred().addCallback(accepted.append)
    client = TCPApplication()
    a.register_tcp_application(client)
    client.connect_deferred("2001:db8::2" if pattern.ipv6 else "198.18.0.2", 7)
    got = bytearray()
    while not accepted:
        assert clock.getDelayedCalls(), "no connection"
        _run(clock, 0.001, client, got)
    data = random.Random(5).randbytes(sum(n for _, n in pattern.writes))
    at = 0
    for wait, n in pattern.writes:
        _run(clock, wait, accepted[0], got)
        chunk = data[at : at + n]
        while chunk:  # a write larger than the send buffer waits for room
            taken = client.send(chunk)
            chunk = chunk[taken:]
            if chunk:
                _run(clock, 0.05, accepted[0], got)
        at += n
    if pattern.close:
        client.close()
    _run(clock, 120.0, accepted[0], got)
    assert bytes(got) == data, "the transfer did not complete"
    return Run(recorder.frames, bytes(got), link.super_frames if tso else [])


def _run(clock: Clock, seconds: float, receiver: TCPApplication, got: bytearray) -> None:
    """Advance protocol time by ``seconds``, event by event, the receiver reading as it goes."""
    end = clock.seconds() + seconds
    while True:
        got += receiver.fetch_data()
        due = [c.getTime() for c in clock.getDelayedCalls()]
        nxt = min(due) if due else end
        if nxt >= end:  # (nothing left to wait for: advancing by 0 would spin)
            clock.advance(end - clock.seconds())
            got += receiver.fetch_data()
            return
        clock.advance(max(nxt - clock.seconds(), 0.0))


def configs(**fixed: object) -> st.SearchStrategy[TcpConfig]:
    return st.builds(
        TcpConfig,
        mss=st.sampled_from([536, 1000, 1460]),
        nodelay=st.booleans(),
        timestamps=st.booleans(),
        sack=st.booleans(),
        rcv_buf=st.sampled_from([8 * 1024, 64 * 1024, 256 * 1024]),
        initial_window_segments=st.sampled_from([2, 10]),
        **{k: st.just(v) for k, v in fixed.items()},
    )


patterns = st.builds(
    Pattern,
    writes=st.lists(
        st.tuples(st.sampled_from([0.0, 0.0005, 0.01, 0.3]), st.integers(1, 120_000)),
        min_size=1,
        max_size=5,
    ).map(tuple),
    close=st.booleans(),
    sender=configs(),
    receiver=configs(),
    loss=st.sampled_from([0.0, 0.0, 0.03]),
    tso_max=st.sampled_from([65535, 8000]),
    ipv6=st.booleans(),
)


@given(patterns)
def test_the_device_cuts_what_the_stack_sends_without_offloads(pattern: Pattern) -> None:
    plain = transfer(pattern, tso=False)
    offloaded = transfer(pattern, tso=True)
    assert offloaded.frames == plain.frames
    tcp_at = 54 if pattern.ipv6 else 34  # TCP right behind the IPv6 fixed header
    for frame, gso_size in offloaded.super_frames:
        assert frame[12:14] == (b"\x86\xdd" if pattern.ipv6 else b"\x08\x00")
        text = frame[tcp_at + 20 :]  # a TCP header without options is the least
        assert len(frame) - 14 <= pattern.tso_max and len(text) > gso_size
        assert not frame[tcp_at + 13] & FIN, "a super-segment carried the FIN"
        if pattern.ipv6:  # RFC 8200 §3: the Payload Length field bounds it
            assert struct.unpack_from("!H", frame, 18)[0] == len(frame) - 54


def test_super_segments_are_whole_segments_of_the_mss_with_a_partial_checksum() -> None:
    pattern = Pattern(((0.0, 200_000),), True, TcpConfig(), TcpConfig(), 0.0, 65535)
    run = transfer(pattern, tso=True)
    assert run.super_frames, "no super-segment went out"
    for frame, gso_size in run.super_frames:
        # 1460 less the timestamps option (RFC 7323 §3.2): the text per cut segment.
        assert gso_size == 1448
        thl = (frame[46] >> 4) * 4
        assert (len(frame) - 34 - thl) % gso_size == 0
        pseudo = frame[26:34] + struct.pack("!BBH", 0, 6, len(frame) - 34)
        words = sum(struct.unpack("!6H", pseudo))
        while words >> 16:
            words = (words & 0xFFFF) + (words >> 16)
        assert struct.unpack_from("!H", frame, 50)[0] == words
        cut = cut_super_segment(frame, gso_size)
        assert all(not piece[47] & PSH for piece in cut[:-1])


def test_ipv6_super_segments_carry_the_pseudo_header_sum_and_are_cut_with_their_lengths() -> None:
    pattern = Pattern(((0.0, 200_000),), True, TcpConfig(), TcpConfig(), 0.0, 65535, True)
    run = transfer(pattern, tso=True)
    assert run.super_frames, "no IPv6 super-segment went out"
    for frame, gso_size in run.super_frames:
        # 1460 is IPv4's MSS default; over IPv6 the stack's MSS is 1500 - 60, less the
        # timestamps option (RFC 7323 §3.2).
        assert frame[12:14] == b"\x86\xdd" and frame[20] == 6
        length = len(frame) - 54
        assert struct.unpack_from("!H", frame, 18)[0] == length
        # RFC 8200 §8.1: addresses, the 32-bit upper-layer length and Next Header.
        pseudo = frame[22:54] + struct.pack("!IxxxB", length, 6)
        words = sum(struct.unpack("!20H", pseudo))
        while words >> 16:
            words = (words & 0xFFFF) + (words >> 16)
        assert struct.unpack_from("!H", frame, 70)[0] == words
        cut = cut_super_segment(frame, gso_size)
        for piece in cut:
            assert struct.unpack_from("!H", piece, 18)[0] == len(piece) - 54
            assert len(piece) - 54 - (piece[66] >> 4) * 4 <= gso_size
        assert all(not piece[67] & PSH for piece in cut[:-1])
