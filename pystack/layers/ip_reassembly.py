"""IPv4 reassembly (RFC 791 §3.2, RFC 815), one ``ipv4_reassembly`` machine per datagram.

Overlapping fragments are resolved by the stack's :class:`OverlapPolicy`. ``linux`` (the
default) and ``rfc5722`` discard a datagram with any overlap; the others are the
target-based policies of Novak's "Target-Based Fragmentation Reassembly" (2005), as IDSes
(Snort's frag3, Suricata's defrag) model end hosts, kept for probing how a target would
read an ambiguous datagram. When a new fragment N overlaps data already held from an
earlier fragment O (compared with what is stored of O, after any earlier trimming), the
bytes in the overlap come from:

``first``        O, always (the first copy of each byte wins).
``last``         N, always (the latest copy of each byte wins).
``bsd``          N if N starts before O (N.start < O.start), else O. 4.4BSD ``ip_reass``: a
                 new fragment is trimmed against the one that begins at or before it, and
                 trims the ones that begin after it.
``linux-legacy`` N if N starts at or before O (N.start <= O.start), else O. Linux before
                 4.19 (``ip_fragment.c``): as bsd, except that a new fragment at the same
                 offset replaces the old one.
``windows``      N only if N starts before O and ends after it (N.start < O.start and
                 N.end > O.end, so N covers O on both sides), else O.

The two discarding policies:

``linux``    Linux since 4.19 ("ip: discard IPv4 datagrams with overlapping segments",
             2018, after FragmentSmack, CVE-2018-5391), ``inet_frag_queue_insert`` in
             ``net/ipv4/inet_fragment.c``. The fragments held form "runs": a fragment that
             starts exactly where the highest run ends extends it, any other starts a run of
             its own. A fragment lying inside one run is a duplicate: it alone is dropped
             (its bytes are not compared) and the datagram is kept. Any other overlap
             discards the datagram and its entry is forgotten at once (``inet_frag_kill``),
             so a later fragment with the same key starts a new datagram. An impossible
             length discards and forgets the same way. The default.
``rfc5722``  any overlap discards the datagram, and its entry stays until the timeout so
             that its later fragments are discarded too (RFC 5722 §4 as first published);
             an exact duplicate (same offset and bytes) is dropped alone (RFC 8200 §4.5
             permits it).

``OVERLAP_CASE`` in tests/layers/test_reassembly.py is one arrival sequence on which the
five trimming policies give five different results and both discarding policies drop it.

A datagram is delivered once, when the fragment just stored closes its last hole. Its entry
then stays, without data, until the timeout so that late duplicates are not delivered again
(Linux forgets a completed datagram too; we keep this guard for every policy). Buffered
bytes (plus a fixed overhead per stored piece) are bounded by ``memory_limit``: beyond it,
the oldest incomplete datagrams are dropped (RFC 1122 §3.3.2 leaves this to us).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from pystack.fsm import StateMachine, bind_states, load_spec
from pystack.wire.ipv4 import MAX_LEN, Ipv4Packet

PIECE_OVERHEAD = 64
DatagramKey = tuple[str, str, int, int]


class OverlapPolicy(enum.Enum):
    """How bytes covered by two fragments are chosen; see the module docstring."""

    FIRST = "first"
    LAST = "last"
    BSD = "bsd"
    LINUX_LEGACY = "linux-legacy"
    WINDOWS = "windows"
    LINUX = "linux"
    RFC5722 = "rfc5722"

    @property
    def discards_overlaps(self) -> bool:
        """Whether any overlap (not a duplicate) discards the whole datagram."""
        return self in (OverlapPolicy.LINUX, OverlapPolicy.RFC5722)


class ReassemblyDrop(enum.Enum):
    """Why fragments were dropped (counted under the "IP" layer)."""

    REASSEMBLY_OVERLAP = "overlap"
    REASSEMBLY_DUPLICATE = "duplicate"
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
    if policy is OverlapPolicy.LINUX_LEGACY:
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


class DatagramState:
    """The states of ``machines/ipv4_reassembly.toml`` (checked against it at import)."""

    COLLECTING: Final = "COLLECTING"
    COMPLETE: Final = "COMPLETE"
    TIMED_OUT: Final = "TIMED_OUT"
    DROPPED: Final = "DROPPED"
    DISCARDED: Final = "DISCARDED"


bind_states(load_spec("ipv4_reassembly"), DatagramState)


class Datagram(StateMachine, machine="ipv4_reassembly"):
    """One datagram being reassembled; ``pieces`` are disjoint (offset, bytes), sorted."""

    def __init__(self, owner: Reassembler, key: DatagramKey) -> None:
        self.owner = owner
        self.key = key
        self.pieces: list[tuple[int, bytes]] = []
        self.total_len: int | None = None
        self.first: Ipv4Packet | None = None
        self.cost = 0
        self.runs: list[list[int]] = []  # linux policy: [start, end] of each run, sorted
        self.timer: Any = None

    # -- storing (plain code: the machine only records the outcome) ------------------------

    def add(self, frag: Ipv4Packet) -> None:
        start, data = frag.frag_offset, frag.payload
        end = start + len(data)
        if not self._length_consistent(frag, end):
            self.owner.count(ReassemblyDrop.REASSEMBLY_TOO_BIG)
            self.fire("too_big")
            return
        verdict = self._verdict(start, end, data)
        if verdict is not None:
            self.owner.count(verdict)
            self.fire("overlap" if verdict is ReassemblyDrop.REASSEMBLY_OVERLAP else "duplicate")
            return
        if start == 0:
            self.first = frag
        self._store(start, end, data)
        if self._covered():
            self.fire("last_byte_covered")

    def _length_consistent(self, frag: Ipv4Packet, end: int) -> bool:
        if end + self.owner.overhead(frag) > MAX_LEN:
            # RFC 791 §3.1: a datagram is at most 65535 bytes; RFC 8200 §4.5: the payload.
            return False
        if not frag.more_fragments:
            if self.total_len is not None and self.total_len != end:
                return False
            if any(s + len(d) > end for s, d in self.pieces):
                return False
            self.total_len = end
        elif self.total_len is not None and end > self.total_len:
            return False
        return True

    def _verdict(self, start: int, end: int, data: bytes) -> ReassemblyDrop | None:
        """Why a discarding policy refuses this fragment; None to store it."""
        policy = self.owner.policy
        if policy is OverlapPolicy.LINUX:
            return self._linux_insert(start, end)
        if policy is OverlapPolicy.RFC5722:
            for s, d in self.pieces:
                if s == start and d == data:
                    return ReassemblyDrop.REASSEMBLY_DUPLICATE  # RFC 8200 §4.5: MAY drop alone
                if s < end and start < s + len(d):
                    return ReassemblyDrop.REASSEMBLY_OVERLAP  # RFC 5722 §4: MUST discard all
        return None

    def _linux_insert(self, start: int, end: int) -> ReassemblyDrop | None:
        """Linux's ``inet_frag_queue_insert`` (net/ipv4/inet_fragment.c, 4.19 and later):
        IPFRAG_DUP when [start, end) lies inside one run, IPFRAG_OVERLAP when it meets any
        other held byte; else the fragment is recorded in the runs."""
        runs = self.runs
        if runs and runs[-1][1] < end:  # ends past everything held: the common, in-order case
            tail = runs[-1]
            if start < tail[1]:
                return ReassemblyDrop.REASSEMBLY_OVERLAP
            if start == tail[1]:
                tail[1] = end  # appended to the highest run (fragrun_append_to_last)
            else:
                runs.append([start, end])
            return None
        for run_start, run_end in runs:
            if start < run_end and run_start < end:
                if run_start <= start and end <= run_end:
                    return ReassemblyDrop.REASSEMBLY_DUPLICATE
                return ReassemblyDrop.REASSEMBLY_OVERLAP
        runs.append([start, end])  # a run of its own, even when adjacent to another
        runs.sort()
        return None

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
        if self.owner.rebuild is not None:
            self.owner.deliver(self.owner.rebuild(self.first, payload))
            return
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

    def forget(self, **kw: Any) -> None:
        """Leave the table and stop the timer, as Linux's ``inet_frag_kill``: a later
        fragment with the same key starts a new datagram."""
        self.owner.forget(self)

    def forgets_discarded(self, **kw: Any) -> bool:
        """Condition: the policy forgets a discarded datagram at once (linux)."""
        return self.owner.policy is OverlapPolicy.LINUX

    def send_time_exceeded(self, **kw: Any) -> None:
        """ICMP time exceeded, code 1, only if fragment 0 arrived (RFC 1122 §3.3.2)."""
        self.owner.count(ReassemblyDrop.REASSEMBLY_TIMEOUT)
        if self.first is not None:
            self.owner.time_exceeded(self.first)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        super().on_state_change(old, trigger, new)
        if self.owner.observer is not None:
            self.owner.observer(self, old, trigger, new)


def _ipv4_overhead(frag: Any) -> int:
    return 20 + len(frag.options)


class Reassembler:
    """All datagrams being reassembled by one IP layer."""

    def __init__(
        self,
        clock: Any,
        *,
        deliver: Callable[[Any], None],
        time_exceeded: Callable[[Any], None] = lambda first: None,
        count: Callable[[ReassemblyDrop], None] = lambda reason: None,
        policy: OverlapPolicy | str = OverlapPolicy.LINUX,
        timeout: float = 30.0,
        memory_limit: int = 1 << 20,
        max_datagrams: int = 4096,
        observer: Callable[[Datagram, str, str, str], None] | None = None,
        rebuild: Callable[[Any, bytes], Any] | None = None,
        overhead: Callable[[Any], int] = _ipv4_overhead,
    ) -> None:
        self.clock = clock
        # IPv6 reuses this machine (RFC 8200 §4.5): its fragments are views with the same
        # fields (src, dst, proto, ident, frag_offset, more_fragments, payload); ``rebuild``
        # makes the whole datagram from fragment 0 and the payload (None: an IPv4 one),
        # ``overhead`` is what counts against 65535 bytes besides the fragment data.
        self.rebuild = rebuild
        self.overhead = overhead
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

    def add(self, frag: Any) -> None:
        """Take one fragment (MF set or offset nonzero): an ``Ipv4Packet``, or a view with
        the same fields (``pystack.layers.ipv6.Ipv6Fragment``)."""
        if frag.more_fragments and len(frag.payload) % 8:
            # RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes.
            self.count(ReassemblyDrop.FRAGMENT_BAD_LENGTH)
            return
        key = (frag.src, frag.dst, frag.proto, frag.ident)
        dgram = self.table.get(key)
        if dgram is None:
            dgram = self._create(key)
        if dgram.state != DatagramState.COLLECTING:
            self.count(ReassemblyDrop.FRAGMENT_AFTER_DONE)
            return
        dgram.add(frag)
        self._enforce_memory(dgram)

    def _create(self, key: DatagramKey) -> Datagram:
        while len(self.table) >= self.max_datagrams:
            _, oldest = self.table.popitem(last=False)
            if oldest.state == DatagramState.COLLECTING:
                self.count(ReassemblyDrop.REASSEMBLY_MEMORY)
                oldest.fire("evict")
        dgram = Datagram(self, key)
        self.table[key] = dgram
        dgram.timer = self.clock.callLater(self.timeout, self._expire, key, dgram)
        return dgram

    def forget(self, dgram: Datagram) -> None:
        """Remove ``dgram`` from the table now and cancel its timer."""
        if self.table.get(dgram.key) is dgram:
            del self.table[dgram.key]
        if dgram.timer is not None and dgram.timer.active():
            dgram.timer.cancel()

    def _expire(self, key: DatagramKey, dgram: Datagram) -> None:
        if self.table.get(key) is dgram:
            del self.table[key]
        if dgram.state == DatagramState.COLLECTING:
            dgram.fire("reassembly_timeout")

    def _enforce_memory(self, current: Datagram) -> None:
        for dgram in list(self.table.values()):
            if self.buffered <= self.memory_limit:
                return
            if dgram.state == DatagramState.COLLECTING and dgram is not current:
                self.count(ReassemblyDrop.REASSEMBLY_MEMORY)
                dgram.fire("evict")
        if self.buffered > self.memory_limit and current.state == DatagramState.COLLECTING:
            self.count(ReassemblyDrop.REASSEMBLY_MEMORY)
            current.fire("evict")
