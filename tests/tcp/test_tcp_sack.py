"""Properties of SACK: the sender's scoreboard against a set-of-bytes model, and the
receiver's blocks against its reorder queue, wherever the 2**32 wrap falls."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.tcp.sack import Scoreboard
from pystack.testing import examples
from pystack.testing.harness import TcpHarness

MASK = 0xFFFFFFFF
FLIGHT = 3000  # bytes between SND.UNA and SND.MAX at the start

starts = st.integers(0, MASK) | st.integers(2**32 - 2000, MASK)
# A block as offsets from the initial SND.UNA, some of them outside (SND.UNA, SND.MAX].
blocks = st.tuples(st.integers(-500, FLIGHT + 500), st.integers(1, 1500)).map(
    lambda t: (t[0], t[0] + t[1])
)
steps = st.lists(
    st.tuples(st.lists(blocks, max_size=4), st.integers(0, 400)),  # an ACK: blocks, advance
    max_size=25,
)


@settings(max_examples=examples(ci=500, dev=60), deadline=None)
@given(start=starts, script=steps)
def test_scoreboard_matches_a_byte_set_model(
    start: int, script: list[tuple[list[tuple[int, int]], int]]
) -> None:
    board = Scoreboard()
    held: set[int] = set()  # SACKed offsets from the initial SND.UNA
    una, top = 0, FLIGHT
    for acked_blocks, advance in script:
        una = min(una + advance, top)
        held = {o for o in held if o >= una}
        wire = tuple(((start + b) & MASK, (start + e) & MASK) for b, e in acked_blocks)
        before = len(held)
        for b, e in acked_blocks:
            if una < b < e <= top:
                held |= set(range(b, e))
        newly = board.update((start + una) & MASK, (start + top) & MASK, wire)
        assert newly == len(held) - before
        check(board, start, una, top, held)


def check(board: Scoreboard, start: int, una: int, top: int, held: set[int]) -> None:
    ranges = [((b - start) & MASK, (e - start) & MASK) for b, e in board.ranges]
    # Merged and sorted: each range ends strictly before the next begins.
    assert all(e1 < b2 for (_, e1), (b2, _) in itertools.pairwise(ranges))
    # Within [SND.UNA, SND.MAX): a block is taken only above SND.UNA, but a later ACK
    # may move SND.UNA up to a range's left edge.
    assert all(una <= b < e <= top for b, e in ranges)
    assert {o for b, e in ranges for o in range(b, e)} == held
    una_seq = (start + una) & MASK
    assert board.sacked_bytes(una_seq) == len(held)
    # Holes: exactly the complement of the SACKed bytes below the highest one.
    holes = board.holes(una_seq, 100)
    covered = {o for b, e, _ in holes for o in range((b - start) & MASK, (e - start) & MASK)}
    highest = max(held) + 1 if held else una
    assert covered == set(range(una, highest)) - held
    # Nothing retransmitted yet: pipe counts every un-SACKed byte not deemed lost.
    lost = sum((e - b) & MASK for b, e, is_lost in holes if is_lost)
    assert board.pipe(una_seq, (start + top) & MASK, 100) == top - una - len(held) - lost


def sack_session(irs: int) -> TcpHarness:
    h = TcpHarness("ESTABLISHED", irs=irs)
    h.session.sack_ok = True
    return h


@settings(max_examples=examples(ci=500, dev=60), deadline=None)
@given(
    irs=starts,
    segments=st.lists(st.tuples(st.integers(0, 6000), st.integers(1, 1400)), max_size=30),
)
def test_receiver_blocks_describe_the_reorder_queue(
    irs: int, segments: list[tuple[int, int]]
) -> None:
    h = sack_session(irs)
    s = h.session
    for offset, size in segments:
        seq = h.remote(1 + offset)
        h.send(".", seq=seq, ack=h.local(1), payload=bytes(size))
        acks = [seg for seg in h.take() if not seg.payload]
        if not acks:
            continue  # in-order data under the delayed-ACK timer
        reported = acks[-1].sack_blocks
        held = [(b.value, e.value) for b, e in s.reorder.blocks()]
        if not held:
            assert reported == ()
            continue
        assert 1 <= len(reported) <= 4
        rcv_nxt = s.rcv_nxt.value
        rel = [((b - rcv_nxt) & MASK, (e - rcv_nxt) & MASK) for b, e in reported]
        assert all(0 < b < e < 2**31 for b, e in rel)  # above RCV.NXT, never covering it
        assert all(block in held for block in reported)  # whole ranges of queued data
        assert len(set(reported)) == len(reported)  # no block twice (held ones are disjoint)
        end = (seq + size) & MASK
        if (end - rcv_nxt) & MASK < 2**31 and end != rcv_nxt:
            # The segment left data in the queue: the first block holds its last byte.
            b, e = rel[0]
            assert b <= (end - 1 - rcv_nxt) & MASK < e
