"""IPv4 reassembly (RFC 791 §3.2, RFC 815), one ``ipv4_reassembly`` machine per datagram.

Overlapping fragments are resolved by the stack's :class:`OverlapPolicy`. The policies are
the target-based ones of Novak's "Target-Based Fragmentation Reassembly" (2005), as IDSes
(Snort's frag3, Suricata's defrag) model end hosts. When a new fragment N overlaps data
already held from an earlier fragment O (compared with what is stored of O, after any
earlier trimming), the bytes in the overlap come from:

``first``   O, always (the first copy of each byte wins).
``last``    N, always (the latest copy of each byte wins).
``bsd``     N if N starts before O (N.start < O.start), else O. 4.4BSD ``ip_reass``: a new
            fragment is trimmed against the one that begins at or before it, and trims the
            ones that begin after it.
``linux``   N if N starts at or before O (N.start <= O.start), else O. Classic Linux
            ``ip_fragment.c`` (before 4.19 dropped overlaps): as bsd, except that a new
            fragment at the same offset replaces the old one. The default.
``windows`` N only if N starts before O and ends after it (N.start < O.start and
            N.end > O.end, so N covers O on both sides), else O.
``rfc5722`` any overlap drops the whole datagram, and its later fragments too (RFC 5722
            §4); an exact duplicate of a fragment (same offset, length and bytes) is only
            ignored, as RFC 8200 §4.5 permits.

``OVERLAP_CASE`` in tests/property/test_reassembly.py is one arrival sequence on which all
six policies give different results.

A datagram is delivered once, when the fragment just stored closes its last hole. Its entry
then stays, without data, until the timeout so that late duplicates are not delivered again.
Buffered bytes (plus a fixed overhead per stored piece) are bounded by ``memory_limit``:
beyond it, the oldest incomplete datagrams are dropped (RFC 1122 §3.3.2 leaves this to us).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pystack.fsm import StateMachine
from pystack.wire.ipv4 import MAX_LEN, Ipv4Packet

PIECE_OVERHEAD = 64
DatagramKey = tuple[str, str, int, int]


class OverlapPolicy(enum.Enum):
    """How bytes covered by two fragments are chosen; see the module docstring."""

    FIRST = "first"
    LAST = "last"
    BSD = "bsd"
    LINUX = "linux"
    WINDOWS = "windows"
    RFC5722 = "rfc5722"


class ReassemblyDrop(enum.Enum):
    """Why fragments were dropped (counted under the "IP" layer)."""

    REASSEMBLY_OVERLAP = "overlap"
    REASSEMBLY_TOO_BIG = "too_big"
    REASSEMBLY_TIMEOUT = "timeout"
    REASSEMBLY_MEMORY = "memory"
    FRAGMENT_BAD_LENGTH = "bad_fragment_length"
    FRAGMENT_AFTER_DONE = "after_done"


def new_wins(policy: OverlapPolicy, n_start: int, n_end: int, o_start: int, o_end: int) -> bool:
    """Whether the new fragment's bytes replace the old ones where they overlap."""
    if policy is OverlapPolicy.LAST:
        return True
    if policy is OverlapPolicy.BSD:
        return n_start < o_start
    if policy is OverlapPolicy.LINUX:
        return n_start <= o_start
    if policy is OverlapPolicy.WINDOWS:
        return n_start < o_start and n_end > o_end
    return False


def _subtract(spans: list[tuple[int, int]], cut_s: int, cut_e: int) -> list[tuple[int, int]]:
    out = []
    for s, e in spans:
        if e <= cut_s or s >= cut_e:
            out.append((s, e))
            continue
        if s < cut_s:
            out.append((s, cut_s))
        if e > cut_e:
            out.append((cut_e, e))
    return out


class Datagram(StateMachine, machine="ipv4_reassembly"):
    """One datagram being reassembled; ``pieces`` are disjoint (offset, bytes), sorted."""

    def __init__(self, owner: Reassembler, key: DatagramKey) -> None:
        self.owner = owner
        self.key = key
        self.pieces: list[tuple[int, bytes]] = []
        self.total_len: int | None = None
        self.first: Ipv4Packet | None = None
        self.cost = 0

    # -- storing (plain code: the machine only records the outcome) ------------------------

    def add(self, frag: Ipv4Packet) -> None:
        start, data = frag.frag_offset, frag.payload
        end = start + len(data)
        if not self._length_consistent(frag, end):
            self.owner.count(ReassemblyDrop.REASSEMBLY_TOO_BIG)
            self.fire("too_big")
            return
        if start == 0:
            self.first = frag
        if self.owner.policy is OverlapPolicy.RFC5722 and self._overlaps(start, data):
            self.owner.count(ReassemblyDrop.REASSEMBLY_OVERLAP)
            self.fire("overlap")
            return
        self._store(start, end, data)
        if self._covered():
            self.fire("last_byte_covered")

    def _length_consistent(self, frag: Ipv4Packet, end: int) -> bool:
        if end + 20 + len(frag.options) > MAX_LEN:
            return False  # RFC 791 §3.1: a datagram is at most 65535 bytes.
        if not frag.more_fragments:
            if self.total_len is not None and self.total_len != end:
                return False
            if any(s + len(d) > end for s, d in self.pieces):
                return False
            self.total_len = end
        elif self.total_len is not None and end > self.total_len:
            return False
        return True

    def _overlaps(self, start: int, data: bytes) -> bool:
        end = start + len(data)
        for s, d in self.pieces:
            if s == start and d == data:
                return False  # an exact duplicate is not an overlap (RFC 8200 §4.5)
            if s < end and start < s + len(d):
                return True
        return False

    def _store(self, start: int, end: int, data: bytes) -> None:
        policy = self.owner.policy
        keep_new = [(start, end)]
        kept: list[tuple[int, bytes]] = []
        for s, d in self.pieces:
            e = s + len(d)
            if e <= start or s >= end:
                kept.append((s, d))
            elif new_wins(policy, start, end, s, e):
                kept.extend((a, d[a - s : b - s]) for a, b in _subtract([(s, e)], start, end))
            else:
                kept.append((s, d))
                keep_new = _subtract(keep_new, s, e)
        kept.extend((a, data[a - start : b - start]) for a, b in keep_new)
        kept.sort(key=lambda p: p[0])
        self.pieces = kept
        cost = sum(len(d) + PIECE_OVERHEAD for _, d in kept)
        self.owner.buffered += cost - self.cost
        self.cost = cost

    def _covered(self) -> bool:
        if self.total_len is None:
            return False
        pos = 0
        for s, d in self.pieces:
            if s > pos:
                return False
            pos = max(pos, s + len(d))
        return pos >= self.total_len

    # -- hooks named in machines/ipv4_reassembly.toml --------------------------------------

    def deliver_datagram(self, **kw: Any) -> None:
        """Pass the whole datagram up, with the header of fragment 0."""
        assert self.first is not None
        payload = b"".join(d for _, d in self.pieces)
        whole = Ipv4Packet(
            self.first.src, self.first.dst, self.first.proto, payload,
            ttl=self.first.ttl, tos=self.first.tos, ident=self.first.ident,
            flags=self.first.flags & ~1, frag_offset=0, options=self.first.options,
        )  # fmt: skip
        self.owner.deliver(whole)

    def release_buffers(self, **kw: Any) -> None:
        """Free the stored fragments (the entry stays as a tombstone until the timeout)."""
        self.owner.buffered -= self.cost
        self.cost = 0
        self.pieces = []

    def send_time_exceeded(self, **kw: Any) -> None:
        """ICMP time exceeded, code 1, only if fragment 0 arrived (RFC 1122 §3.3.2)."""
        self.owner.count(ReassemblyDrop.REASSEMBLY_TIMEOUT)
        if self.first is not None:
            self.owner.time_exceeded(self.first)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        super().on_state_change(old, trigger, new)
        if self.owner.observer is not None:
            self.owner.observer(self, old, trigger, new)


class Reassembler:
    """All datagrams being reassembled by one IP layer."""

    def __init__(
        self,
        clock: Any,
        *,
        deliver: Callable[[Ipv4Packet], None],
        time_exceeded: Callable[[Ipv4Packet], None] = lambda first: None,
        count: Callable[[ReassemblyDrop], None] = lambda reason: None,
        policy: OverlapPolicy | str = OverlapPolicy.LINUX,
        timeout: float = 30.0,
        memory_limit: int = 1 << 20,
        max_datagrams: int = 4096,
        observer: Callable[[Datagram, str, str, str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.deliver = deliver
        self.time_exceeded = time_exceeded
        self.count = count
        self.policy = OverlapPolicy(policy)
        if timeout <= 0 or memory_limit <= 0 or max_datagrams <= 0:
            raise ValueError("timeout, memory_limit and max_datagrams must be positive")
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.max_datagrams = max_datagrams
        self.observer = observer
        self.buffered = 0
        self.table: OrderedDict[DatagramKey, Datagram] = OrderedDict()

    def add(self, frag: Ipv4Packet) -> None:
        """Take one fragment (MF set or offset nonzero)."""
        if frag.more_fragments and len(frag.payload) % 8:
            # RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes.
            self.count(ReassemblyDrop.FRAGMENT_BAD_LENGTH)
            return
        key = (frag.src, frag.dst, frag.proto, frag.ident)
        dgram = self.table.get(key)
        if dgram is None:
            dgram = self._create(key)
        if dgram.state != "COLLECTING":
            self.count(ReassemblyDrop.FRAGMENT_AFTER_DONE)
            return
        dgram.add(frag)
        self._enforce_memory(dgram)

    def _create(self, key: DatagramKey) -> Datagram:
        while len(self.table) >= self.max_datagrams:
            _, oldest = self.table.popitem(last=False)
            if oldest.state == "COLLECTING":
                self.count(ReassemblyDrop.REASSEMBLY_MEMORY)
                oldest.fire("evict")
        dgram = Datagram(self, key)
        self.table[key] = dgram
        self.clock.callLater(self.timeout, self._expire, key, dgram)
        return dgram

    def _expire(self, key: DatagramKey, dgram: Datagram) -> None:
        if self.table.get(key) is dgram:
            del self.table[key]
        if dgram.state == "COLLECTING":
            dgram.fire("reassembly_timeout")

    def _enforce_memory(self, current: Datagram) -> None:
        for dgram in list(self.table.values()):
            if self.buffered <= self.memory_limit:
                return
            if dgram.state == "COLLECTING" and dgram is not current:
                self.count(ReassemblyDrop.REASSEMBLY_MEMORY)
                dgram.fire("evict")
        if self.buffered > self.memory_limit and current.state == "COLLECTING":
            self.count(ReassemblyDrop.REASSEMBLY_MEMORY)
            current.fire("evict")
