"""Reassembly: every policy reassembles disjoint fragments in any order; linux matches a
transcription of the kernel's logic; the trimming policies match a per-byte model; rfc5722
never delivers after an overlap; exactly-once delivery; bounded memory."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.layers.ip_reassembly import OverlapPolicy, Reassembler, ReassemblyDrop
from pystack.testing import examples
from pystack.wire.ipv4 import Ipv4Packet

SRC, DST = "198.18.0.2", "198.18.0.1"


def frag(data: bytes, start: int, end: int, ident: int = 7) -> Ipv4Packet:
    last = end >= len(data)
    return Ipv4Packet(
        SRC, DST, 17, data[start:end], ident=ident, flags=0 if last else 1, frag_offset=start
    )


def run(
    frags: list[Ipv4Packet], policy: OverlapPolicy | str = "linux", **kw: Any
) -> tuple[list[Ipv4Packet], Reassembler, list[ReassemblyDrop]]:
    out: list[Ipv4Packet] = []
    drops: list[ReassemblyDrop] = []
    r = Reassembler(Clock(), deliver=out.append, count=drops.append, policy=policy, **kw)
    for f in frags:
        r.add(f)
    return out, r, drops


@st.composite
def fragment_sets(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    """A datagram and fragment extents (8-byte aligned starts; ends aligned unless last)."""
    units = draw(st.integers(1, 40))
    size = draw(st.integers(units * 8 - 7, units * 8))
    data = draw(st.binary(min_size=size, max_size=size))
    n = draw(st.integers(1, 12))
    spans = []
    for _ in range(n):
        a = draw(st.integers(0, units - 1))
        b = draw(st.integers(a + 1, units))
        spans.append((a * 8, min(b * 8, size)))
    extra = draw(st.lists(st.sampled_from(spans), max_size=4))  # duplicates
    spans = draw(st.permutations(spans + extra))
    return data, spans


def covered(spans: list[tuple[int, int]], size: int) -> bool:
    pos = 0
    for s, e in sorted(spans):
        if s > pos:
            return False
        pos = max(pos, e)
    return pos >= size


TRIMMING = [p for p in OverlapPolicy if not p.discards_overlaps]


@settings(max_examples=examples(ci=1000, dev=100))
@given(fragment_sets(), st.sampled_from(TRIMMING))
def test_trimming_policies_deliver_exactly_once_iff_covered(
    case: tuple[bytes, list], policy: OverlapPolicy
) -> None:
    data, spans = case
    out, r, _ = run([frag(data, s, e) for s, e in spans], policy)
    if covered(spans, len(data)):
        assert [p.payload for p in out] == [data]
        assert out[0].src == SRC and out[0].frag_offset == 0 and not out[0].more_fragments
    else:
        assert out == []
    assert r.buffered >= 0


@st.composite
def partitions(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]], int]:
    """A datagram cut into disjoint fragments that cover it, plus exact duplicates, in any
    order; also how many of the arrivals are duplicates."""
    units = draw(st.integers(1, 40))
    size = draw(st.integers(units * 8 - 7, units * 8))
    data = draw(st.binary(min_size=size, max_size=size))
    cuts = draw(st.sets(st.integers(1, units - 1), max_size=12)) if units > 1 else set()
    bounds = [0, *sorted(c * 8 for c in cuts), size]
    spans = list(itertools.pairwise(bounds))
    extra = draw(st.lists(st.sampled_from(spans), max_size=4))
    return data, draw(st.permutations(spans + extra)), len(extra)


@settings(max_examples=examples(ci=1000, dev=100))
@given(partitions(), st.sampled_from(list(OverlapPolicy)))
@pytest.mark.requirement("RFC1122:3.2.1.4-reassemble", "RFC1122:3.3.2-reassemble")
def test_every_policy_reassembles_disjoint_fragments_in_any_order(
    case: tuple[bytes, list[tuple[int, int]], int], policy: OverlapPolicy
) -> None:
    data, spans, _ = case
    out, r, drops = run([frag(data, s, e) for s, e in spans], policy)
    assert [p.payload for p in out] == [data]
    assert ReassemblyDrop.REASSEMBLY_OVERLAP not in drops
    assert r.buffered == 0


@settings(max_examples=examples(ci=1000, dev=100))
@given(partitions(), st.sampled_from(["linux", "rfc5722"]))
def test_discarding_policies_drop_exact_duplicates_alone(
    case: tuple[bytes, list[tuple[int, int]], int], policy: str
) -> None:
    data, spans, n_dups = case
    out, _, drops = run([frag(data, s, e) for s, e in spans], policy)
    assert [p.payload for p in out] == [data]
    # A copy that arrives after the datagram completed meets the completed entry instead.
    after = drops.count(ReassemblyDrop.FRAGMENT_AFTER_DONE)
    assert drops.count(ReassemblyDrop.REASSEMBLY_DUPLICATE) + after == n_dups


@settings(max_examples=examples(ci=1000, dev=100))
@given(fragment_sets())
def test_rfc5722_never_delivers_after_an_overlap(case: tuple[bytes, list]) -> None:
    data, spans = case
    out, _, drops = run([frag(data, s, e) for s, e in spans], "rfc5722")
    distinct = sorted(set(spans))
    disjoint = all(a[1] <= b[0] for a, b in itertools.pairwise(distinct))
    if disjoint and covered(spans, len(data)):
        assert [p.payload for p in out] == [data]
    assert len(out) <= 1
    if out:
        assert out[0].payload == data
    if not disjoint and not out:
        assert ReassemblyDrop.REASSEMBLY_OVERLAP in drops or not covered(spans, len(data))


def test_rfc5722_keeps_absorbing_after_an_overlap() -> None:
    data = bytes(range(48))
    out, r, drops = run([frag(data, 0, 16), frag(data, 8, 24), frag(data, 0, 24),
                         frag(data, 24, 48)], "rfc5722")  # fmt: skip
    assert out == [] and len(r.table) == 1
    assert drops == [ReassemblyDrop.REASSEMBLY_OVERLAP] + [ReassemblyDrop.FRAGMENT_AFTER_DONE] * 2


# -- linux: a transcription of the kernel's logic, run against the stack's ----------------


class KernelRun:
    """A run of adjacent fragments: the head's offset and the run's length (FRAG_CB)."""

    def __init__(self, offset: int, length: int) -> None:
        self.offset, self.run_len = offset, length


class KernelQueue:
    """net/ipv4/ip_fragment.c ip_frag_queue() and inet_fragment.c inet_frag_queue_insert()
    (Linux 4.19+), as written there: the fast path at the tail, else a search of the run
    heads ordered by offset (the rb-tree, here a sorted list searched by bisection)."""

    def __init__(self) -> None:
        self.heads: list[KernelRun] = []
        self.last_run_head: KernelRun | None = None
        self.tail: tuple[int, int] | None = None  # fragments_tail: (offset, len)
        self.accepted: list[tuple[int, int, int]] = []  # (offset, end, label)

    def insert(self, offset: int, end: int) -> str:
        if self.tail is None:
            return self._create(offset, end)
        tail_end = self.tail[0] + self.tail[1]
        if tail_end < end:
            if offset < tail_end:
                return "overlap"
            if offset != tail_end:
                return self._create(offset, end)
            assert self.last_run_head is not None
            self.last_run_head.run_len += end - offset
            self.tail = (offset, end - offset)
            return "ok"
        lo, hi = 0, len(self.heads)
        while lo < hi:
            mid = (lo + hi) // 2
            curr = self.heads[mid]
            if end <= curr.offset:
                hi = mid
            elif offset >= curr.offset + curr.run_len:
                lo = mid + 1
            elif offset >= curr.offset and end <= curr.offset + curr.run_len:
                return "dup"
            else:
                return "overlap"
        self.heads.insert(lo, KernelRun(offset, end - offset))
        return "ok"

    def _create(self, offset: int, end: int) -> str:
        self.last_run_head = KernelRun(offset, end - offset)
        self.heads.append(self.last_run_head)
        self.tail = (offset, end - offset)
        return "ok"


def kernel_model(spans: list[tuple[int, int]], size: int) -> tuple[bytes | None, list[str]]:
    """What Linux delivers for fragment i carrying byte i, and its verdict per fragment.
    After an overlap the queue is killed and unhashed: the next fragment makes a new one.
    Unlike Linux, a completed datagram keeps its entry (so "done" once delivered)."""
    queue, verdicts = KernelQueue(), []
    for label, (s, e) in enumerate(spans):
        if verdicts and verdicts[-1] in ("delivered", "done"):
            verdicts.append("done")
            continue
        verdict = queue.insert(s, e)
        if verdict == "overlap":
            queue = KernelQueue()
        elif verdict == "ok":
            queue.accepted.append((s, e, label))
            if sum(b - a for a, b, _ in queue.accepted) == size:
                verdict = "delivered"
        verdicts.append(verdict)
    if verdicts[-1] not in ("delivered", "done"):
        return None, verdicts
    payload = bytearray(size)
    for a, b, label in queue.accepted:
        payload[a:b] = bytes([label]) * (b - a)
    return bytes(payload), verdicts


@pytest.mark.slow
@settings(max_examples=examples(ci=2000, dev=200))
@given(fragment_sets())
def test_linux_matches_the_kernel(case: tuple[bytes, list]) -> None:
    """Fragment i carries byte i, so the payload shows which copy of each byte won."""
    data, spans = case
    size = len(data)
    frags = [
        Ipv4Packet(SRC, DST, 17, bytes([i]) * (e - s), ident=7, flags=int(e < size),
                   frag_offset=s)
        for i, (s, e) in enumerate(spans)
    ]  # fmt: skip
    out, r, drops = run(frags, "linux")
    expected, verdicts = kernel_model(spans, size)
    assert [p.payload for p in out] == ([expected] if expected is not None else [])
    assert drops.count(ReassemblyDrop.REASSEMBLY_OVERLAP) == verdicts.count("overlap")
    assert drops.count(ReassemblyDrop.REASSEMBLY_DUPLICATE) == verdicts.count("dup")
    if out and "overlap" in verdicts:
        # Once discarded, nothing held before counts: every byte is from a later fragment.
        last_kill = len(verdicts) - 1 - verdicts[::-1].index("overlap")
        assert min(out[0].payload) > last_kill
    assert r.buffered >= 0


def test_linux_discards_an_overlapped_datagram_and_forgets_it() -> None:
    clock = Clock()
    out: list[Ipv4Packet] = []
    drops: list[ReassemblyDrop] = []
    r = Reassembler(clock, deliver=out.append, count=drops.append)  # the default: linux
    data = bytes(range(48))
    r.add(frag(data, 0, 16))
    r.add(frag(data, 8, 24))  # overlaps [8, 16): the datagram goes, its entry too
    assert drops == [ReassemblyDrop.REASSEMBLY_OVERLAP]
    assert not r.table and r.buffered == 0 and clock.getDelayedCalls() == []
    r.add(frag(data, 24, 48))  # a later fragment starts a new datagram ...
    assert out == [] and len(r.table) == 1
    r.add(frag(data, 0, 24))  # ... which the whole datagram sent again completes
    assert [p.payload for p in out] == [data]


def test_linux_duplicate_is_judged_by_runs_not_bytes() -> None:
    data = bytes(range(64))
    forged = frag(b"\xee" * 64, 8, 16)
    # In order, [0,16) and [16,32) form one run: a fragment inside it is a duplicate,
    # dropped alone whatever it carries, even across the boundary of two fragments.
    out, _, drops = run([frag(data, 0, 16), frag(data, 16, 32), forged,
                         frag(data, 8, 24), frag(data, 32, 64)])  # fmt: skip
    assert [p.payload for p in out] == [data]
    assert drops == [ReassemblyDrop.REASSEMBLY_DUPLICATE] * 2
    # Out of order, [16,32) then [0,16) are two runs: the same [8,24) is an overlap.
    out, _, drops = run([frag(data, 16, 32), frag(data, 0, 16), frag(data, 8, 24),
                         frag(data, 32, 64)])  # fmt: skip
    assert out == [] and drops == [ReassemblyDrop.REASSEMBLY_OVERLAP]


# -- the trimming policies against a per-byte model ----------------------------------------

# Whether the new fragment's copy wins over a held piece, per policy, from the module
# docstring: (n_start, n_end, o_start, o_end) with O the piece as held now.
NEW_WINS: dict[str, Callable[[int, int, int, int], bool]] = {
    "first": lambda ns, ne, os, oe: False,
    "last": lambda ns, ne, os, oe: True,
    "bsd": lambda ns, ne, os, oe: ns < os,
    "linux-legacy": lambda ns, ne, os, oe: ns <= os,
    "windows": lambda ns, ne, os, oe: ns < os and ne > oe,
}


def trimming_model(policy: str, frags: list[tuple[int, int]], size: int) -> bytes | None:
    """Fragment i holds byte i. ``owner[b]`` is the fragment whose copy of byte b is held;
    a held piece is a maximal stretch of bytes with one owner. The datagram is delivered
    as it stands when every byte is held and the last fragment (ending at ``size``) came."""
    owner: list[int | None] = [None] * size
    for i, (ns, ne) in enumerate(frags):
        pieces, b = [], 0
        while b < size:
            if owner[b] is None:
                b += 1
                continue
            e = b
            while e < size and owner[e] == owner[b]:
                e += 1
            pieces.append((b, e))
            b = e
        new = owner[:]
        new[ns:ne] = [i] * (ne - ns)
        for os, oe in pieces:
            if os < ne and ns < oe and not NEW_WINS[policy](ns, ne, os, oe):
                new[os:oe] = owner[os:oe]
        owner = new
        if None not in owner and any(e == size for _, e in frags[: i + 1]):
            return bytes(owner)  # type: ignore[arg-type]
    return None


@settings(max_examples=examples(ci=1000, dev=100))
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(1, 12)), min_size=1, max_size=30),
    st.sampled_from(sorted(NEW_WINS)),
    st.data(),
)
def test_trimming_policies_match_a_byte_model(
    pieces: list[tuple[int, int]], policy: str, data: st.DataObject
) -> None:
    size = max(s + n for s, n in pieces) * 8 + 8
    spans = [(s * 8, (s + n) * 8) for s, n in pieces]
    spans.insert(data.draw(st.integers(0, len(spans))), (size - 8, size))  # the last one
    frags = [
        Ipv4Packet(SRC, DST, 17, bytes([i]) * (e - s), flags=int(e < size), frag_offset=s)
        for i, (s, e) in enumerate(spans)
    ]
    out, _, _ = run(frags, policy)
    expected = trimming_model(policy, spans, size)
    assert [p.payload for p in out] == ([expected] if expected is not None else [])


# Fragments whose overlaps tell the policies apart; offsets and lengths in 8-byte units,
# each fragment's bytes are its letter. Arrival order as listed.
#   A [1,3)  B [1,4) same start as A, longer    C [0,2) starts before A, ends inside it
#   D [5,7)  E [4,8) starts before D, ends after F [2,3) starts where a stored piece starts
#   H [5,6) starts after E's start               G [8,9) the last fragment (MF=0)
OVERLAP_CASE = [("A", 1, 3), ("B", 1, 4), ("C", 0, 2), ("D", 5, 7), ("E", 4, 8), ("F", 2, 3),
                ("H", 5, 6), ("G", 8, 9)]  # fmt: skip
EXPECTED = {
    "first": "CAABEDDEG",
    "last": "CCFBEHEEG",
    "bsd": "CCABEEEEG",
    "linux-legacy": "CCFBEEEEG",
    "windows": "CAABEEEEG",
}


def test_each_policy_gives_its_documented_result() -> None:
    frags = [
        Ipv4Packet(SRC, DST, 17, c.encode() * 8 * (b - a), flags=int(c != "G"), frag_offset=a * 8)
        for c, a, b in OVERLAP_CASE
    ]
    results = {}
    for policy, expected in EXPECTED.items():
        out, _, _ = run(frags, policy)
        results[policy] = out[0].payload if out else None
        assert results[policy] == b"".join(c.encode() * 8 for c in expected), policy
    assert len(set(results.values())) == len(EXPECTED)
    for policy in ("linux", "rfc5722"):
        out, _, drops = run(frags, policy)
        assert out == [] and ReassemblyDrop.REASSEMBLY_OVERLAP in drops, policy


@settings(max_examples=examples(ci=300, dev=50))
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 1000)), min_size=1, max_size=200))
def test_buffered_memory_stays_bounded(frags: list[tuple[int, int]]) -> None:
    limit = 4096
    out: list[Ipv4Packet] = []
    r = Reassembler(Clock(), deliver=out.append, memory_limit=limit)
    for ident, off in frags:
        r.add(Ipv4Packet(SRC, DST, 17, b"x" * 512, ident=ident, flags=1, frag_offset=off * 8))
        assert r.buffered <= limit


def test_timeout_frees_and_reports_only_when_fragment_zero_came() -> None:
    clock = Clock()
    exceeded: list[Ipv4Packet] = []
    r = Reassembler(clock, deliver=lambda p: None, time_exceeded=exceeded.append)
    r.add(frag(b"x" * 64, 0, 16, ident=1))
    r.add(frag(b"x" * 64, 16, 32, ident=2))
    clock.advance(29.9)
    assert exceeded == [] and r.buffered > 0
    clock.advance(0.1)
    assert [p.ident for p in exceeded] == [1]
    assert r.buffered == 0 and not r.table


def test_late_duplicate_after_completion_is_not_delivered_again() -> None:
    data = bytes(range(48))
    frags = [frag(data, 0, 24), frag(data, 24, 48)]
    out, _, drops = run(frags + frags)
    assert [p.payload for p in out] == [data]
    assert drops.count(ReassemblyDrop.FRAGMENT_AFTER_DONE) == 2
