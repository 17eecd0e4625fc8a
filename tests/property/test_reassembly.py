"""Reassembly: exactly-once delivery iff every byte is covered; each overlap policy's result;
bounded memory."""

from __future__ import annotations

import itertools
from typing import Any

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


@settings(max_examples=examples(ci=1000, dev=100))
@given(fragment_sets(), st.sampled_from([p for p in OverlapPolicy if p.value != "rfc5722"]))
def test_delivers_exactly_once_iff_covered(case: tuple[bytes, list], policy: OverlapPolicy) -> None:
    data, spans = case
    out, r, _ = run([frag(data, s, e) for s, e in spans], policy)
    if covered(spans, len(data)):
        assert [p.payload for p in out] == [data]
        assert out[0].src == SRC and out[0].frag_offset == 0 and not out[0].more_fragments
    else:
        assert out == []
    assert r.buffered >= 0


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


@settings(max_examples=examples(ci=1000, dev=100))
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)), min_size=1, max_size=40))
def test_first_and_last_match_a_byte_model(pieces: list[tuple[int, int]]) -> None:
    """Each fragment carries its own arrival number as data: the result is checkable per byte."""
    size = max(s * 8 + n * 8 for s, n in pieces) + 8
    frags: list[Ipv4Packet] = []
    first: list[int | None] = [None] * size
    last: list[int | None] = [None] * size
    for i, (s, n) in enumerate(pieces):
        start, end = s * 8, s * 8 + n * 8
        frags.append(
            Ipv4Packet(SRC, DST, 17, bytes([i]) * (end - start), flags=1, frag_offset=start)
        )
        for b in range(start, end):
            first[b] = i if first[b] is None else first[b]
            last[b] = i
    tail = Ipv4Packet(SRC, DST, 17, b"\xff" * 8, flags=0, frag_offset=size - 8)
    for policy, model in (("first", first), ("last", last)):
        out, _, _ = run([*frags, tail], policy)
        if all(m is not None for m in model[:-8]):
            assert out[0].payload[:-8] == bytes(model[:-8])  # type: ignore[arg-type]
        else:
            assert out == []


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
    "linux": "CCFBEEEEG",
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
    out, _, drops = run(frags, "rfc5722")
    assert out == [] and ReassemblyDrop.REASSEMBLY_OVERLAP in drops


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
