"""Compact TIME_WAIT records: what the TCP layer keeps of a connection for its 2*MSL wait.

A connection that reaches TIME_WAIT has nothing left to send but ACKs and nothing to receive
but retransmitted FINs, yet a busy server holds 2*MSL x its connection rate of them (60 s x
3 000/s: 180 000). Kept whole, each is a session with buffers, timers and a dozen objects the
cyclic garbage collector walks on every full collection. Linux keeps a small
``inet_timewait_sock`` instead (``tcp_time_wait()``); so does the TCP layer here, when
``TcpConfig.compact_time_wait`` is on (the default):

- the session fires ``time_wait_handoff`` (TIME_WAIT -> CLOSED): its application is told the
  connection closed cleanly, as Linux closes the full socket;
- the layer keeps a `TimeWaitRecord`, stored as the bytes of its fields packed with
  `struct` (its key, the 4-tuple, holds the addresses), which the garbage collector never
  tracks: the wait costs no collector time at all, and about 300 bytes a record;
- a segment for a record's 4-tuple revives a session of the same class in TIME_WAIT from the
  record (`revive`), which runs the one TIME_WAIT code path (re-ACK a FIN and restart the
  wait, RFC 7323 PAWS, RFC 5961 challenge ACKs, RST, a reopening SYN per RFC 6191); if it
  is still in TIME_WAIT afterwards, it is retired again.

So TIME_WAIT behaves the same on the wire either way (a property test compares both); only
the session object's view differs (CLOSED at once instead of after 2*MSL).
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from pystack.fsm import SpecError
from pystack.wire.seqnum import SeqNum

if TYPE_CHECKING:
    from pystack.tcp.session import TCPSession

__all__ = ["TimeWaitRecord", "TimeWaitTable", "record_of", "revive"]

Key = tuple[str, int, str, int]


class TimeWaitRecord(NamedTuple):
    """The TCB fields a TIME_WAIT connection still needs (RFC 9293 §3.3.1 names; sequence
    numbers as ints). The table stores it as a plain tuple; `TimeWaitTable.records` gives
    these named views."""

    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    deadline: float
    """Clock time at which the 2*MSL wait ends."""
    kind: int
    """Index of the session class in the table's ``classes`` (revived as that class)."""
    passive: bool
    iss: int
    irs: int
    snd_nxt: int
    """SND.UNA = SND.NXT = SND.MAX: everything we sent, our FIN included, is acknowledged."""
    snd_wl1: int
    snd_wnd: int
    max_snd_wnd: int
    snd_fin: int
    snd_mss: int
    rcv_nxt: int
    rcv_adv: int
    """RCV.NXT + the window we last advertised: a TIME_WAIT ACK keeps that right edge."""
    snd_wscale: int
    rcv_wscale: int
    wscale_ok: bool
    ts_ok: bool
    ts_recent: int
    ts_offset: int
    last_ack_sent: int
    ts_recent_age: float
    """Clock time TS.Recent was set (PAWS, RFC 7323 §5.5)."""
    last_invalid_ack: float
    """Clock time of the last ACK to an out-of-window segment (rate limited, as Linux's
    time-wait sockets are)."""


# The fields after the 4-tuple: deadline, kind, passive, iss, irs, snd_nxt, snd_wl1,
# snd_wnd, max_snd_wnd, snd_fin, snd_mss, rcv_nxt, rcv_adv, snd_wscale, rcv_wscale,
# wscale_ok, ts_ok, ts_recent, ts_offset, last_ack_sent, ts_recent_age, last_invalid_ack.
# Sequence numbers, timestamps and windows are 32-bit; an MSS and a shift fit in 16 bits.
_PACKED = struct.Struct("=dI?IIIIIIIHIIBB??IIIdd")


def _pack(record: TimeWaitRecord) -> bytes | tuple[Any, ...]:
    """The stored form of ``record``: its fields after the 4-tuple, packed (a subclass
    that put a value out of those ranges in a field is kept as a tuple instead)."""
    try:
        return _PACKED.pack(*record[4:])
    except struct.error:
        return tuple(record[4:])


def _unpack(key: Key, stored: bytes | tuple[Any, ...]) -> TimeWaitRecord:
    fields = _PACKED.unpack(stored) if type(stored) is bytes else stored
    return TimeWaitRecord(*key, *fields)


def _deadline(stored: bytes | tuple[Any, ...]) -> float:
    return _PACKED.unpack_from(stored)[0] if type(stored) is bytes else stored[0]


def record_of(session: TCPSession, deadline: float, kind: int) -> TimeWaitRecord:
    """The record of ``session``, in TIME_WAIT with its wait ending at ``deadline``."""
    assert session.remote_ip is not None and session.remote_port is not None
    return TimeWaitRecord(
        session.local_ip, session.local_port, session.remote_ip, session.remote_port,
        deadline, kind, session.passive, session.iss.value, session.irs.value,
        session.snd_max.value, session.snd_wl1.value, session.snd_wnd, session.max_snd_wnd,
        session.snd_fin.value, session.snd_mss, session.rcv_nxt.value,
        session.rcv_adv.value, session.snd_wscale, session.rcv_wscale, session.wscale_ok,
        session.ts_ok, session.ts_recent, session.ts_offset, session.last_ack_sent,
        session.ts_recent_age, session.last_invalid_ack,
    )  # fmt: skip


def revive(cls: type[TCPSession], host: Any, record: TimeWaitRecord, config: Any) -> TCPSession:
    """A session of class ``cls`` in TIME_WAIT, rebuilt from ``record`` through the declared
    ``revive_time_wait`` edge (CLOSED -> TIME_WAIT, which calls no hook); its 2*MSL
    deadline is the record's, kept by the host rather than armed."""
    session = cls(
        host, local_ip=record.local_ip, local_port=record.local_port,
        remote_ip=record.remote_ip, remote_port=record.remote_port, config=config,
    )  # fmt: skip
    session.passive = record.passive
    session.iss, session.irs = SeqNum(record.iss), SeqNum(record.irs)
    session.snd_una = session.snd_nxt = session.snd_max = session.snd_wl2 = SeqNum(record.snd_nxt)
    session.snd_wl1, session.snd_fin = SeqNum(record.snd_wl1), SeqNum(record.snd_fin)
    session.snd_wnd, session.max_snd_wnd = record.snd_wnd, record.max_snd_wnd
    session.snd_mss = record.snd_mss
    session.rcv_nxt, session.rcv_adv = SeqNum(record.rcv_nxt), SeqNum(record.rcv_adv)
    session.snd_wscale, session.rcv_wscale = record.snd_wscale, record.rcv_wscale
    session.wscale_ok, session.ts_ok = record.wscale_ok, record.ts_ok
    session.ts_recent, session.ts_offset = record.ts_recent, record.ts_offset
    session.last_ack_sent, session.ts_recent_age = record.last_ack_sent, record.ts_recent_age
    session.last_invalid_ack = record.last_invalid_ack
    session.fin_queued = session.fin_received = True
    if not session.fire("revive_time_wait"):
        raise SpecError(f"{cls.__qualname__}: its machine has no revive_time_wait from CLOSED")
    session.time_wait_timer.deadline = record.deadline
    session.release_for_time_wait()
    return session


class TimeWaitTable:
    """The TCP layer's TIME_WAIT records by 4-tuple, and one delayed call that expires them.

    Records are bytes (`_pack`) and heap entries tuples of a float and the key, a tuple
    of ints and strings, so the garbage collector tracks none of them; a stale heap entry
    (a record restarted or taken) is skipped.
    """

    def __init__(self, clock: Any, on_expire: Any = None) -> None:
        self.clock = clock
        self.classes: list[type[TCPSession]] = []
        self._records: dict[Key, bytes | tuple[Any, ...]] = {}
        self._heap: list[tuple[float, Key]] = []
        self._call: Any = None
        self._on_expire = on_expire

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def kind_of(self, cls: type[TCPSession]) -> int:
        """The index recorded for session class ``cls``."""
        try:
            return self.classes.index(cls)
        except ValueError:
            self.classes.append(cls)
            return len(self.classes) - 1

    def add(self, record: TimeWaitRecord) -> None:
        """Keep ``record`` until its deadline (replacing one for the same 4-tuple)."""
        key = (record.local_ip, record.local_port, record.remote_ip, record.remote_port)
        self._records[key] = _pack(record)
        heapq.heappush(self._heap, (record.deadline, key))
        call = self._call
        if call is not None and call.getTime() <= record.deadline:
            return
        if call is not None:
            call.cancel()
        self._call = self.clock.callLater(max(record.deadline - self.clock.seconds(), 0), self._run)

    def take(self, key: Key) -> TimeWaitRecord | None:
        """Remove and return the record of ``key``, or None."""
        stored = self._records.pop(key, None)
        return None if stored is None else _unpack(key, stored)

    def records(self) -> Iterator[TimeWaitRecord]:
        """Every record held, as named tuples."""
        return (_unpack(key, stored) for key, stored in self._records.items())

    def ports(self) -> Iterator[int]:
        """The local ports of the records held."""
        return (key[1] for key in self._records)

    def clear(self) -> None:
        """Forget every record and stop the delayed call (the stack stops)."""
        self._records.clear()
        self._heap.clear()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _run(self) -> None:
        self._call = None
        heap, records, now = self._heap, self._records, self.clock.seconds()
        expired = []
        while heap and heap[0][0] - now <= 1e-9:
            deadline, key = heapq.heappop(heap)
            stored = records.get(key)
            if stored is not None and _deadline(stored) == deadline:  # else restarted or taken
                del records[key]
                expired.append(key)
        if heap:
            self._call = self.clock.callLater(max(heap[0][0] - now, 0), self._run)
        if self._on_expire is not None:
            for key in expired:
                self._on_expire(key)
