"""Compact TIME_WAIT records (pystack.tcp.time_wait): the TCP layer keeps a few packed
bytes for a connection's 2*MSL wait and answers the peer exactly as a whole session would.

The server closes first, so TIME_WAIT is on side 1 (198.18.0.2:7), which listens on the
port (a SYN may reopen). The wire is then cut: segments from side 1 are recorded, not
delivered, and the test plays the peer by injecting segments.
"""

from __future__ import annotations

import gc
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from pystack.tcp.config import CloseReason, TcpConfig, TcpDrop
from pystack.tcp.session import TCPSession
from pystack.testing import examples
from pystack.testing.harness import TcpPair
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import NOP, Timestamp

CLIENT, SERVER = TcpPair.ADDRESSES
PORT = 7
MSL = 30.0


class Waiting:
    """A pair whose server side (1) is in TIME_WAIT, its wire cut, segments recorded."""

    def __init__(
        self, compact: bool, timestamps: bool = True, session_class: type[TCPSession] = TCPSession
    ) -> None:
        config = TcpConfig(compact_time_wait=compact, timestamps=timestamps, msl=MSL)
        self.pair = pair = TcpPair(config=config, seed=3, session_class=session_class)
        self.client_layer, self.layer = pair.layers
        self.seen: list[tuple[str, str, str]] = []
        assert self.layer.ctx is not None
        self.layer.ctx.observer = lambda obj, old, trigger, new: self.seen.append(
            (old, trigger, new)
        )
        self.layer.listen(PORT)
        self.client = self.client_layer.connect(SERVER, PORT, local_port=40000)
        self.key = (SERVER, PORT, CLIENT, 40000)
        pair.run_until(lambda: self.key in self.layer.connections)
        self.server = self.layer.connections[self.key]
        pair.run_until(lambda: self.server.state == "ESTABLISHED")
        self.server.close()
        pair.run_until(lambda: self.client.state == "CLOSE_WAIT")
        self.client.close()
        pair.run_until(lambda: self.client.state == "CLOSED")
        self.sent: list[bytes] = []
        self.ts_base = 0
        pair.wire.filter = self._cut

    def _cut(self, src: str, dst: str, data: bytes) -> bool:
        if src == SERVER:
            self.sent.append(data)
        return False

    def inject(self, seg: tcpwire.TcpSegment) -> None:
        data = tcpwire.emit(seg, CLIENT, SERVER)
        self.layer.packet_received(data, IP=ipv4.Ipv4Packet(CLIENT, SERVER, tcpwire.PROTO, data))

    def waiting(self) -> bool:
        """Whether the old connection is still in TIME_WAIT, whichever way it is kept."""
        if self.key in self.layer.time_wait:
            return True
        session = self.layer.connections.get(self.key)
        return session is self.server and session.state == "TIME_WAIT"

    def outcome(self) -> tuple[Any, ...]:
        """What the peer can tell: the segments sent and what holds the 4-tuple."""
        session = self.layer.connections.get(self.key)
        holder = "wait" if self.waiting() else (session.state if session else None)
        return (tuple(self.sent), holder)

    @property
    def rcv_nxt(self) -> int:
        return self.client.snd_max.value

    @property
    def snd_nxt(self) -> int:
        return self.client.rcv_nxt.value


def test_the_session_closes_cleanly_and_a_record_takes_the_wait() -> None:
    w = Waiting(compact=True)
    assert w.server.state == "CLOSED"
    assert w.server.close_reason is CloseReason.CLOSED
    assert w.seen[-2:] == [
        ("FIN_WAIT_2", "rcv_fin", "TIME_WAIT"),
        ("TIME_WAIT", "time_wait_handoff", "CLOSED"),
    ]
    assert w.key not in w.layer.connections
    (record,) = w.layer.time_wait_records()
    assert (record.remote_ip, record.remote_port) == (CLIENT, 40000)
    assert record.rcv_nxt == w.rcv_nxt and record.snd_nxt == w.snd_nxt
    now = w.pair.clock.seconds()
    assert now < record.deadline <= now + 2 * MSL


def test_a_record_revives_its_session_through_the_declared_edge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = Waiting(compact=True, timestamps=False)

    def no_set_state(self: TCPSession, state: str) -> None:
        raise AssertionError(f"set_state({state!r}) bypasses the machine")

    monkeypatch.setattr(TCPSession, "set_state", no_set_state)
    w.seen.clear()
    fin = tcpwire.TcpSegment(40000, PORT, w.rcv_nxt - 1, w.snd_nxt, tcpwire.FIN | tcpwire.ACK, 500)
    w.inject(fin)
    assert w.seen == [
        ("CLOSED", "revive_time_wait", "TIME_WAIT"),
        ("TIME_WAIT", "rcv_fin", "TIME_WAIT"),
        ("TIME_WAIT", "time_wait_handoff", "CLOSED"),
    ]
    assert w.layer.stats.counters("tcp").get("time_wait_revived") == 1


def test_the_record_costs_the_garbage_collector_nothing() -> None:
    w = Waiting(compact=True)
    # A collection untracks tuples of untracked items; a heap entry holds the key tuple,
    # which the first collection may reach only after the entry.
    gc.collect()
    gc.collect()
    table = w.layer.time_wait
    assert len(table) == 1
    assert not any(gc.is_tracked(fields) for fields in table._records.values())
    assert not any(gc.is_tracked(entry) for entry in table._heap)


def test_a_retransmitted_fin_is_acknowledged_and_restarts_the_wait() -> None:
    w = Waiting(compact=True, timestamps=False)
    (before,) = w.layer.time_wait_records()
    w.pair.clock.advance(20)
    fin = tcpwire.TcpSegment(40000, PORT, w.rcv_nxt - 1, w.snd_nxt, tcpwire.FIN | tcpwire.ACK, 500)
    w.inject(fin)
    (ack,) = (tcpwire.parse(d) for d in w.sent)
    assert (ack.flags, ack.seq, ack.ack) == (tcpwire.ACK, w.snd_nxt, w.rcv_nxt)
    (after,) = w.layer.time_wait_records()
    assert after.deadline == w.pair.clock.seconds() + 2 * MSL > before.deadline  # restarted
    w.pair.clock.advance(2 * MSL - 0.1)
    assert w.waiting()
    w.pair.clock.advance(0.2)
    assert not w.waiting()


def test_an_exact_rst_ends_the_wait_and_an_old_syn_gets_a_challenge_ack() -> None:
    w = Waiting(compact=True, timestamps=False)
    syn = tcpwire.TcpSegment(40000, PORT, w.rcv_nxt - 1000, 0, tcpwire.SYN, 500)
    w.inject(syn)  # SEG.SEQ <= RCV.NXT: no reopen (RFC 6191), RFC 5961 §4 challenge ACK
    assert [tcpwire.parse(d).flags for d in w.sent] == [tcpwire.ACK]
    assert w.waiting()
    w.inject(tcpwire.TcpSegment(40000, PORT, w.rcv_nxt, 0, tcpwire.RST, 0))
    assert not w.waiting() and w.key not in w.layer.connections


def test_a_new_syn_reopens_and_the_port_is_free_for_connect_after_the_wait() -> None:
    w = Waiting(compact=True)
    syn = tcpwire.TcpSegment(40000, PORT, w.rcv_nxt + 100_000, 0, tcpwire.SYN, 500)
    w.inject(syn)
    child = w.layer.connections[w.key]
    assert child.state == "SYN_RECEIVED" and child is not w.server
    assert w.key not in w.layer.time_wait


def test_a_reopening_syn_goes_to_the_listener_without_reviving_a_session() -> None:
    w = Waiting(compact=True)
    w.inject(tcpwire.TcpSegment(40000, PORT, w.rcv_nxt + 1, 0, tcpwire.SYN, 500))
    counters = w.layer.stats.counters("tcp")
    assert counters.get("time_wait_reopened") == 1
    assert counters.get("time_wait_revived") is None
    (synack,) = (tcpwire.parse(d) for d in w.sent)
    assert synack.flags == tcpwire.SYN | tcpwire.ACK
    # RFC 6191 §2: the new ISS lies beyond the old connection's sequence space.
    assert 0 < (synack.seq - w.snd_nxt) % 2**32 < 2**31


class CountingReopens(TCPSession):
    reopens = 0
    compact_time_wait_syn_path = False  # it overrides reopen_from_time_wait

    def reopen_from_time_wait(self, seg: tcpwire.TcpSegment) -> bool:
        CountingReopens.reopens += 1
        return super().reopen_from_time_wait(seg)


def test_a_class_that_overrides_the_time_wait_path_is_revived_to_run_it() -> None:
    assert TCPSession.compact_time_wait_syn_path
    assert not CountingReopens.compact_time_wait_syn_path
    w = Waiting(compact=True, session_class=CountingReopens)
    w.inject(tcpwire.TcpSegment(40000, PORT, w.rcv_nxt + 1, 0, tcpwire.SYN, 500))
    assert CountingReopens.reopens == 1
    assert w.layer.stats.counters("tcp").get("time_wait_revived") == 1
    assert w.layer.connections[w.key].state == "SYN_RECEIVED"


def test_connect_does_not_pick_a_four_tuple_in_time_wait() -> None:
    w = Waiting(compact=True)
    other = TcpPair.ADDRESSES[0]
    w.layer.time_wait.add(w.layer.time_wait_records()[0]._replace(local_port=45000))
    try:
        w.layer.connect(other, 40000, local_port=45000)
    except OSError as exc:
        assert exc.errno == 98
    else:
        raise AssertionError("connect reused a 4-tuple in TIME_WAIT")


def test_stop_forgets_the_records_and_their_timer() -> None:
    w = Waiting(compact=True)
    w.layer.clear_time_wait()
    assert w.layer.time_wait_records() == []
    assert not [c for c in w.pair.clock.getDelayedCalls() if c.active()]


# A peer's segment relative to the connection: which flags, and how far SEQ / ACK lie from
# RCV.NXT / SND.NXT (small offsets hit every edge of the acceptability test).
offsets = st.one_of(st.integers(-3, 3), st.integers(-70_000, 70_000), st.integers(0, 2**32 - 1))
flag_sets = st.sampled_from(
    [
        tcpwire.ACK, tcpwire.FIN | tcpwire.ACK, tcpwire.RST, tcpwire.RST | tcpwire.ACK,
        tcpwire.SYN, tcpwire.SYN | tcpwire.ACK, tcpwire.ACK | tcpwire.PSH, 0,
    ]
)  # fmt: skip
peer_segments = st.tuples(
    flag_sets, offsets, offsets, st.binary(max_size=3), st.booleans(), st.floats(0, 70)
)


def _segment(w: Waiting, step: tuple[Any, ...]) -> tcpwire.TcpSegment:
    flags, dseq, dack, payload, with_ts, _ = step
    options = (NOP, NOP, Timestamp(1_000_000 + dseq % 1000, 0)) if with_ts else ()
    seq, ack = (w.rcv_nxt + dseq) % 2**32, (w.snd_nxt + dack) % 2**32
    return tcpwire.TcpSegment(40000, PORT, seq, ack, flags, 1000, payload, options)


@settings(max_examples=examples(ci=500, dev=60), deadline=None)
@given(script=st.lists(peer_segments, min_size=1, max_size=6), timestamps=st.booleans())
def test_records_answer_exactly_as_whole_sessions(
    script: list[tuple[Any, ...]], timestamps: bool
) -> None:
    """Differential: the same segments at the same times to a record and to a whole
    session in TIME_WAIT give the same replies, byte for byte, and the same fate."""
    whole, compact = Waiting(compact=False, timestamps=timestamps), Waiting(True, timestamps)
    for step in script:
        for w in (whole, compact):
            w.pair.clock.advance(step[-1])
            w.inject(_segment(w, step))
        assert compact.outcome() == whole.outcome()


# ------------------------------------------------ RFC 6191 §2 with timestamps, and PAWS


def _ts_recent(w: Waiting) -> int:
    """TS.Recent of the connection in TIME_WAIT (the client's last TSval)."""
    return w.server.ts_recent


def _syn(w: Waiting, dseq: int, tsval: int | None) -> tcpwire.TcpSegment:
    options = () if tsval is None else (NOP, NOP, Timestamp(tsval % 2**32, 0))
    seq = (w.rcv_nxt + dseq) % 2**32
    return tcpwire.TcpSegment(40000, PORT, seq, 0, tcpwire.SYN, 500, b"", options)


@pytest.mark.parametrize("compact", [True, False], ids=["record", "session"])
@pytest.mark.requirement("RFC9293:SHLD-4")
def test_a_syn_with_a_newer_tsval_reopens_even_below_rcv_nxt(compact: bool) -> None:
    w = Waiting(compact=compact)
    w.inject(_syn(w, -1000, _ts_recent(w) + 1))
    child = w.layer.connections[w.key]
    assert child.state == "SYN_RECEIVED" and child is not w.server
    assert not w.waiting()
    (synack,) = (tcpwire.parse(d) for d in w.sent)
    assert synack.flags == tcpwire.SYN | tcpwire.ACK


@pytest.mark.parametrize("compact", [True, False], ids=["record", "session"])
@pytest.mark.parametrize(
    ("dseq", "dts"), [(-1000, 0), (+1000, -1), (-1000, None)], ids=["equal", "paws", "no-ts"]
)
def test_a_syn_neither_newer_nor_paws_safe_does_not_reopen(
    compact: bool, dseq: int, dts: int | None
) -> None:
    """Not reopened: a TSval equal to TS.Recent and SEG.SEQ <= RCV.NXT; an old TSval,
    whatever SEG.SEQ (PAWS, as Linux's paws_reject); no TSopt and SEG.SEQ <= RCV.NXT.
    Each gets an ACK and the wait goes on."""
    w = Waiting(compact=compact)
    w.inject(_syn(w, dseq, None if dts is None else _ts_recent(w) + dts))
    assert w.waiting()
    (ack,) = (tcpwire.parse(d) for d in w.sent)
    assert (ack.flags, ack.ack) == (tcpwire.ACK, w.rcv_nxt)
    paws = w.layer.stats.dropped("tcp", TcpDrop.PAWS_REJECTED)
    assert paws == (1 if dts == -1 else 0)


def _segment_near_ts_recent(w: Waiting, step: tuple[Any, ...]) -> tcpwire.TcpSegment:
    flags, dseq, dack, payload, dts, _ = step
    options = () if dts is None else (NOP, NOP, Timestamp((w.ts_base + dts) % 2**32, 0))
    seq, ack = (w.rcv_nxt + dseq) % 2**32, (w.snd_nxt + dack) % 2**32
    return tcpwire.TcpSegment(40000, PORT, seq, ack, flags, 1000, payload, options)


ts_offsets = st.one_of(st.none(), st.integers(-3, 3), st.integers(-(2**31), 2**31 - 1))
segments_near_ts_recent = st.tuples(
    flag_sets, offsets, offsets, st.binary(max_size=3), ts_offsets, st.floats(0, 70)
)


@settings(max_examples=examples(ci=500, dev=60), deadline=None)
@given(script=st.lists(segments_near_ts_recent, min_size=1, max_size=6))
def test_records_answer_as_whole_sessions_around_ts_recent(script: list[Any]) -> None:
    """The differential above with TSvals at and around TS.Recent: PAWS and the
    timestamp reopen decide the same for a record and for a whole session."""
    whole, compact = Waiting(compact=False), Waiting(compact=True)
    for w in (whole, compact):
        w.ts_base = _ts_recent(w)
    for step in script:
        for w in (whole, compact):
            w.pair.clock.advance(step[-1])
            w.inject(_segment_near_ts_recent(w, step))
        assert compact.outcome() == whole.outcome()


def test_a_record_comes_back_as_it_was_kept() -> None:
    w = Waiting(compact=True)
    (record,) = w.layer.time_wait_records()
    table = w.layer.time_wait
    assert type(table._records[w.key]) is bytes  # packed: about 100 bytes, never tracked
    assert table.take(w.key) == record
    table.add(record)
    assert w.layer.time_wait_records() == [record]


@pytest.mark.parametrize("field", ["snd_mss", "kind", "ts_offset"])
def test_a_field_out_of_the_packed_range_is_kept_too(field: str) -> None:
    w = Waiting(compact=True)
    (record,) = w.layer.time_wait_records()
    odd = record._replace(**{field: -1 if field == "kind" else 1 << 40})
    table = w.layer.time_wait
    table.add(odd)
    assert type(table._records[w.key]) is tuple  # kept as it is, not packed
    assert table.take(w.key) == odd
    table.add(odd)
    w.pair.run(2 * MSL + 1)  # and it expires as a packed one does
    assert w.layer.time_wait_records() == []
