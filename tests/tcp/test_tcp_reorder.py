"""The bounded out-of-order queue of a TCP receiver."""

from __future__ import annotations

import pytest

from pystack.tcp.reorder import InsertResult, ReorderQueue
from pystack.wire.seqnum import SeqNum

NEAR_WRAP = SeqNum(2**32 - 3)


def test_in_order_segment_is_ready_at_once() -> None:
    q = ReorderQueue()
    assert q.insert(SeqNum(100), b"abc") is InsertResult.STORED
    assert q.pop_ready(SeqNum(100)) == b"abc"
    assert len(q) == 0


def test_segment_after_a_hole_waits_for_it() -> None:
    q = ReorderQueue()
    q.insert(SeqNum(105), b"fgh")
    assert q.pop_ready(SeqNum(100)) == b""
    assert len(q) == 3
    q.insert(SeqNum(100), b"abcde")
    assert q.pop_ready(SeqNum(100)) == b"abcdefgh"


def test_bytes_before_rcv_nxt_are_trimmed() -> None:
    q = ReorderQueue()
    q.insert(SeqNum(100), b"abcdef")
    assert q.pop_ready(SeqNum(103)) == b"def"
    q.insert(SeqNum(200), b"xy")
    assert q.pop_ready(SeqNum(202)) == b""
    assert len(q) == 0


def test_overlap_keeps_the_first_copy_and_fills_the_gaps() -> None:
    q = ReorderQueue()
    q.insert(SeqNum(10), b"BBBB")  # 10..13
    assert q.insert(SeqNum(8), b"aaXXXXcc") is InsertResult.STORED
    assert len(q) == 8
    assert q.pop_ready(SeqNum(8)) == b"aaBBBBcc"


def test_exact_duplicate_is_reported() -> None:
    q = ReorderQueue()
    q.insert(SeqNum(10), b"abcd")
    assert q.insert(SeqNum(11), b"bc") is InsertResult.DUPLICATE
    assert q.insert(SeqNum(10), b"") is InsertResult.DUPLICATE
    assert len(q) == 4


def test_wraparound_orders_segments_correctly() -> None:
    q = ReorderQueue()
    q.insert(NEAR_WRAP + 3, b"def")  # sequence 0..2 after the wrap
    q.insert(NEAR_WRAP, b"abc")
    assert q.blocks() == [(NEAR_WRAP, NEAR_WRAP + 6)]
    assert q.pop_ready(NEAR_WRAP) == b"abcdef"


def test_limit_drops_whole_segments_and_counts_them() -> None:
    q = ReorderQueue(limit=10)
    assert q.insert(SeqNum(10), b"x" * 8) is InsertResult.STORED
    assert q.insert(SeqNum(30), b"y" * 4) is InsertResult.OVERFLOW
    assert (q.dropped_segments, q.dropped_bytes) == (1, 4)
    # Overlap with held bytes counts only the new ones against the limit.
    assert q.insert(SeqNum(8), b"z" * 10) is InsertResult.STORED
    assert len(q) == 10
    assert q.pop_ready(SeqNum(8)) == b"zz" + b"x" * 8


def test_blocks_merge_adjacent_chunks() -> None:
    q = ReorderQueue()
    q.insert(SeqNum(10), b"ab")
    q.insert(SeqNum(12), b"cd")
    q.insert(SeqNum(20), b"e")
    assert q.blocks() == [(SeqNum(10), SeqNum(14)), (SeqNum(20), SeqNum(21))]


def test_clear_forgets_everything() -> None:
    q = ReorderQueue()
    q.insert(SeqNum(10), b"ab")
    q.clear()
    assert len(q) == 0
    assert q.pop_ready(SeqNum(10)) == b""


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        ReorderQueue(limit=-1)
