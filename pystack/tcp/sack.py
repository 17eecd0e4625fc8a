"""The SACK sender's scoreboard (RFC 6675 §3, §4): which bytes above SND.UNA the peer
holds, what is lost, what is still in flight ("pipe") and what to resend next (NextSeg).

Ranges are kept as 32-bit sequence number ints, but every comparison is made on offsets
from SND.UNA, which the caller passes in: the scoreboard then never depends on where the
2**32 wrap falls. The scoreboard only records; the session decides when to send. SACKed
bytes stay in the send buffer until cumulatively acknowledged, since a receiver may renege
(RFC 2018 §8).
"""

from __future__ import annotations

__all__ = ["DUPTHRESH", "Scoreboard"]

_MASK = 0xFFFFFFFF
# RFC 6675 §2: DupThresh, as RFC 5681's three duplicate ACKs.
DUPTHRESH = 3


_NO_RANGES: list[tuple[int, int]] = []
"""The ranges of every scoreboard that holds none: shared, never grown (`update` and
`clear` assign a list rather than change one in place)."""


class Scoreboard:
    """SACKed ranges above SND.UNA, merged and in order, plus RFC 6675's HighRxt.

    ``ranges`` holds ``(left, right)`` sequence number ints (right edge exclusive);
    ``high_rxt`` is one past the highest byte retransmitted in this recovery (None when
    nothing was).
    """

    __slots__ = ("high_rxt", "ranges")

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = _NO_RANGES
        self.high_rxt: int | None = None

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def clear(self) -> None:
        """Forget every SACKed range (after a timeout, RFC 2018 §8, RFC 6675 §5.1)."""
        self.ranges = _NO_RANGES
        self.high_rxt = None

    def update(self, una: int, snd_max: int, blocks: tuple[tuple[int, int], ...]) -> int:
        """Record the blocks of an ACK whose SND.UNA (after it) is ``una``; returns how
        many bytes were newly SACKed. Blocks not inside (SND.UNA, SND.MAX] are ignored:
        stale, forged, or D-SACK reports (RFC 2883, which we do not use)."""
        top = (snd_max - una) & _MASK
        spans = self._offsets(una)
        before = sum(e - b for b, e in spans)
        for left, right in blocks:
            b, e = (left - una) & _MASK, (right - una) & _MASK
            if 0 < b < e <= top:
                spans.append((b, e))
        merged = _merge(spans)
        self.ranges = [((una + b) & _MASK, (una + e) & _MASK) for b, e in merged]
        return sum(e - b for b, e in merged) - before

    def _offsets(self, una: int) -> list[tuple[int, int]]:
        """The ranges as offsets from ``una``, clipped to what lies above it."""
        out = []
        for left, right in self.ranges:
            b, e = (left - una + (1 << 31)) & _MASK, (right - una + (1 << 31)) & _MASK
            b, e = b - (1 << 31), e - (1 << 31)
            if e > 0:
                out.append((max(b, 0), e))
        return out

    def sacked_bytes(self, una: int) -> int:
        """Bytes above ``una`` the peer reported holding."""
        return sum(e - b for b, e in self._offsets(una))

    def highest_sacked(self, una: int) -> int | None:
        """One past the highest SACKed byte, as a sequence number int (None: none)."""
        spans = self._offsets(una)
        return (una + spans[-1][1]) & _MASK if spans else None

    def holes(self, una: int, smss: int) -> list[tuple[int, int, bool]]:
        """The un-SACKed ranges between ``una`` and the highest SACKed byte, in order, as
        ``(left, right, lost)``: ``lost`` is RFC 6675 §4's IsLost for a sender MSS of
        ``smss`` (DupThresh discontiguous SACKed ranges above the hole, or more than
        DupThresh - 1 segments of SACKed bytes)."""
        return [(b, e, lost) for b, e, lost, _ in self._holes(una, smss)]

    def _holes(self, una: int, smss: int) -> list[tuple[int, int, bool, int]]:
        spans = self._offsets(una)
        out = []
        cursor = 0
        for i, (b, e) in enumerate(spans):
            if b > cursor:
                above = spans[i:]
                sacked_above = sum(y - x for x, y in above)
                lost = len(above) >= DUPTHRESH or sacked_above > (DUPTHRESH - 1) * smss
                out.append(((una + cursor) & _MASK, (una + b) & _MASK, lost, b - cursor))
            cursor = e
        return out

    def pipe(self, una: int, high_data: int, smss: int) -> int:
        """RFC 6675 §4 SetPipe: the sender's estimate of bytes in flight. Every un-SACKed
        byte in [SND.UNA, HighData) counts once unless IsLost, and once more if it was
        retransmitted (below HighRxt)."""
        rxt = self._rxt_offset(una)
        top = (high_data - una) & _MASK
        spans = self._offsets(una)
        total = top - sum(e - b for b, e in spans)
        for left, _right, lost, size in self._holes(una, smss):
            b = (left - una) & _MASK
            if lost:
                total -= size
            total += max(min(rxt, b + size) - b, 0)
        tail = spans[-1][1] if spans else 0
        total += max(min(rxt, top) - tail, 0)
        return total

    def next_retransmission(self, una: int, smss: int) -> tuple[int, int, bool] | None:
        """RFC 6675 §4 NextSeg rules (1) and (3): the first un-SACKed range above HighRxt
        and below the highest SACKed byte, a lost one first; at most ``smss`` bytes, as
        ``(seq, length, lost)``. None when every such byte was retransmitted (rule (2),
        new data, is the session's)."""
        rxt = self._rxt_offset(una)
        candidates = []
        for left, _right, lost, size in self._holes(una, smss):
            b = (left - una) & _MASK
            start = max(b, rxt)
            if start < b + size:
                candidates.append((not lost, start, b + size))
        if not candidates:
            return None
        not_lost, start, end = min(candidates)
        return (una + start) & _MASK, min(end - start, smss), not not_lost

    def retransmitted(self, seq: int, length: int, una: int) -> None:
        """Record that [seq, seq + length) was resent: HighRxt moves up to its end."""
        end = (seq + length) & _MASK
        if (end - una) & _MASK > self._rxt_offset(una):
            self.high_rxt = end

    def _rxt_offset(self, una: int) -> int:
        """HighRxt as an offset from ``una``; 0 when unset or at or below ``una`` (what it
        covered is acknowledged)."""
        if self.high_rxt is None:
            return 0
        off = (self.high_rxt - una) & _MASK
        return 0 if off >= 1 << 31 else off

    def is_sacked(self, seq: int, una: int) -> bool:
        """Whether the byte at ``seq`` was SACKed."""
        off = (seq - una) & _MASK
        return any(b <= off < e for b, e in self._offsets(una))

    def sacked_end(self, seq: int, una: int) -> int:
        """One past the SACKed range holding ``seq``, or ``seq`` if it is not SACKed (the
        go-back-N after a timeout skips what the peer has reported since)."""
        off = (seq - una) & _MASK
        for b, e in self._offsets(una):
            if b <= off < e:
                return (una + e) & _MASK
        return seq


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge overlapping or adjacent ranges."""
    out: list[tuple[int, int]] = []
    for b, e in sorted(spans):
        if out and b <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((b, e))
    return out
