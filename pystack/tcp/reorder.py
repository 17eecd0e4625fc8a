"""The bounded out-of-order queue of a TCP receiver (RFC 9293 §3.10.7.4, "seventh, process
the segment text"; RFC 9293 §3.9 SHOULD keep out-of-order segments).

Segments that arrive ahead of RCV.NXT wait here until the hole before them is filled.
Overlapping and duplicate segments are reduced to the bytes not held yet (bytes that
arrived first win: a conforming peer retransmits the same bytes, and keeping the first
copy means a hostile overlap cannot rewrite data already accepted). The queue is bounded
in bytes; a segment that would exceed the bound is dropped whole and counted.

Internally sequence numbers are mapped to unbounded absolute stream offsets, so ordering
never depends on where the 2**32 wrap falls.
"""

from __future__ import annotations

import bisect
import enum

from pystack.wire.seqnum import SeqNum

__all__ = ["InsertResult", "ReorderQueue"]


class InsertResult(enum.Enum):
    """What `ReorderQueue.insert` did with a segment."""

    STORED = "stored"  # at least one byte not held before was kept
    DUPLICATE = "duplicate"  # every byte was already held (or the segment was empty)
    OVERFLOW = "overflow"  # keeping it would exceed the byte limit: dropped


_NO_STARTS: list[int] = []
_NO_DATA: list[bytes] = []


class ReorderQueue:
    """Out-of-order segments keyed by sequence number, holding at most ``limit`` bytes.

    The caller trims a segment to the receive window before `insert` (RFC 9293 §3.10.7.4);
    `pop_ready` then hands out the contiguous bytes starting at RCV.NXT.
    """

    __slots__ = (
        "_base_abs",
        "_base_seq",
        "_data",
        "_size",
        "_starts",
        "dropped_bytes",
        "dropped_segments",
        "limit",
    )

    def __init__(self, limit: int = 256 * 1024) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.limit = limit
        # Absolute offsets, sorted, chunks never overlap. Both lists are the shared empty
        # ones while nothing is held (most connections never hold anything): never grown.
        self._starts: list[int] = _NO_STARTS
        self._data: list[bytes] = _NO_DATA
        self._size = 0
        self._base_seq: SeqNum | None = None
        self._base_abs = 0
        self.dropped_segments = 0
        self.dropped_bytes = 0

    def __len__(self) -> int:
        """Bytes held."""
        return self._size

    def _abs(self, seq: SeqNum) -> int:
        if self._base_seq is None:
            self._base_seq = seq
            self._base_abs = 0
        return self._base_abs + (seq - self._base_seq)

    def _seq(self, offset: int) -> SeqNum:
        assert self._base_seq is not None
        return self._base_seq + (offset - self._base_abs)

    def _gaps(self, begin: int, end: int) -> list[tuple[int, int]]:
        """The parts of [begin, end) that no held chunk covers."""
        gaps = []
        i = max(bisect.bisect_right(self._starts, begin) - 1, 0)
        cursor = begin
        while i < len(self._starts) and cursor < end:
            c_begin = self._starts[i]
            c_end = c_begin + len(self._data[i])
            if c_begin >= end:
                break
            if c_begin > cursor:
                gaps.append((cursor, c_begin))
            cursor = max(cursor, c_end)
            i += 1
        if cursor < end:
            gaps.append((cursor, end))
        return gaps

    def insert(self, seq: SeqNum, data: bytes) -> InsertResult:
        """Keep the bytes of ``data`` (starting at ``seq``) that are not held yet."""
        if not data:
            return InsertResult.DUPLICATE
        begin = self._abs(seq)
        gaps = self._gaps(begin, begin + len(data))
        new = sum(e - b for b, e in gaps)
        if new == 0:
            return InsertResult.DUPLICATE
        if self._size + new > self.limit:
            self.dropped_segments += 1
            self.dropped_bytes += len(data)
            return InsertResult.OVERFLOW
        if not self._starts:
            self._starts, self._data = [], []
        for b, e in gaps:
            i = bisect.bisect_left(self._starts, b)
            self._starts.insert(i, b)
            self._data.insert(i, data[b - begin : e - begin])
        self._size += new
        return InsertResult.STORED

    def pop_ready(self, rcv_nxt: SeqNum) -> bytes:
        """Remove and return the bytes contiguous from ``rcv_nxt`` (possibly none).

        Bytes before ``rcv_nxt`` were received by other means and are discarded.
        """
        cursor = self._abs(rcv_nxt)
        self._base_seq, self._base_abs = rcv_nxt, cursor  # keep offsets near the window
        out: list[bytes] = []
        n = 0
        while n < len(self._starts) and self._starts[n] <= cursor:
            start, chunk = self._starts[n], self._data[n]
            end = start + len(chunk)
            if end > cursor:
                out.append(chunk[cursor - start :])
                cursor = end
            self._size -= len(chunk)
            n += 1
        if n == len(self._starts):
            self._starts, self._data = _NO_STARTS, _NO_DATA
        elif n:
            del self._starts[:n]
            del self._data[:n]
        return b"".join(out)

    def blocks(self) -> list[tuple[SeqNum, SeqNum]]:
        """The held ranges as (left edge, right edge) pairs, merged, in order (for SACK)."""
        merged: list[tuple[int, int]] = []
        for start, chunk in zip(self._starts, self._data, strict=True):
            end = start + len(chunk)
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return [(self._seq(b), self._seq(e)) for b, e in merged]

    def clear(self) -> None:
        """Forget every held byte (the connection was reset or closed)."""
        self._starts, self._data = _NO_STARTS, _NO_DATA
        self._size = 0
