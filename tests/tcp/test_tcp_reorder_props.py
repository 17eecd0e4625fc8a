"""Property: the reorder queue delivers exactly the covered prefix of a stream, whatever
the order, overlaps, duplicates and position of the 2**32 wrap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pystack.tcp.reorder import InsertResult, ReorderQueue
from pystack.wire.seqnum import SeqNum

STREAM = bytes(range(256)) * 8


@st.composite
def segment_scripts(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]], list[int]]:
    """A stream start, its length, segments (offset, length) in arrival order, and the
    points at which the receiver pops."""
    start = draw(st.integers(0, 2**32 - 1) | st.integers(2**32 - 600, 2**32 - 1))
    length = draw(st.integers(1, len(STREAM)))
    segs = draw(
        st.lists(
            st.tuples(st.integers(0, length - 1), st.integers(1, 300)).map(
                lambda t: (t[0], min(t[1], length - t[0]))
            ),
            max_size=40,
        )
    )
    pops = draw(st.lists(st.integers(0, len(segs)), max_size=5))
    return start, length, segs, pops


def covered_prefix(length: int, segs: list[tuple[int, int]]) -> int:
    have = bytearray(length)
    for off, n in segs:
        have[off : off + n] = b"\x01" * n
    return have.find(0) if 0 in have else length


@given(segment_scripts())
def test_delivers_exactly_the_covered_prefix(
    script: tuple[int, int, list[tuple[int, int]], list[int]],
) -> None:
    start, length, segs, pops = script
    q = ReorderQueue(limit=10**6)
    base = SeqNum(start)
    rcv_nxt = base
    delivered = b""
    for i, (off, n) in enumerate(segs):
        q.insert(base + off, STREAM[off : off + n])
        if i in pops:
            got = q.pop_ready(rcv_nxt)
            rcv_nxt += len(got)
            delivered += got
    got = q.pop_ready(rcv_nxt)
    delivered += got
    prefix = covered_prefix(length, segs)
    assert delivered == STREAM[:prefix]
    assert rcv_nxt + len(got) == base + prefix
    assert q.pop_ready(base + prefix) == b""


@given(segment_scripts(), st.integers(0, 2000))
def test_memory_stays_within_the_limit_and_drops_are_counted(
    script: tuple[int, int, list[tuple[int, int]], list[int]], limit: int
) -> None:
    start, _length, segs, _pops = script
    q = ReorderQueue(limit=limit)
    overflows = 0
    for off, n in segs:
        # Never pop: everything stays queued, so the bound is what keeps memory in check.
        result = q.insert(SeqNum(start) + off + 1, STREAM[off : off + n])
        overflows += result is InsertResult.OVERFLOW
        assert len(q) <= limit
    assert q.dropped_segments == overflows


@given(segment_scripts())
def test_blocks_describe_exactly_the_held_bytes(
    script: tuple[int, int, list[tuple[int, int]], list[int]],
) -> None:
    start, _length, segs, _pops = script
    q = ReorderQueue(limit=10**6)
    held: set[int] = set()
    for off, n in segs:
        q.insert(SeqNum(start) + off, STREAM[off : off + n])
        held.update(range(off, off + n))
    from_blocks: set[int] = set()
    previous_end = None
    for left, right in q.blocks():
        assert right - left > 0
        if previous_end is not None:
            assert left - previous_end > 0  # sorted, disjoint, not adjacent
        from_blocks.update(range(left - SeqNum(start), right - SeqNum(start)))
        previous_end = right
    assert from_blocks == held
    assert len(q) == len(held)
