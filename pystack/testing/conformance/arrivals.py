"""Properties of SEGMENT ARRIVES (RFC 9293 §3.10.7, RFC 5961) and of the timeouts
(RFC 9293 §3.8.1, §3.8.3, §3.10.8, RFC 6298), and the two-stack machine as one property."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from pystack.layers.tcp_session import TCPSession
from pystack.tcp.config import CloseReason, TcpConfig
from pystack.testing.conformance.recording import RecordedHarness
from pystack.testing.conformance.registry import (
    PROPERTIES,
    SEQUENCE,
    Property,
    expect,
    prop,
    segment_lines,
)
from pystack.testing.conformance.segment import (
    ALL_STATES,
    RECEIVING,
    SYNCHRONIZED,
    Before,
    Recorder,
    check_one_segment,
    in_order_segment,
    segments,
    two_stack_machine,
)
from pystack.testing.harness import LOCAL
from pystack.wire import tcp as tcpwire

FIN, SYN, RST, PSH, ACK = tcpwire.FIN, tcpwire.SYN, tcpwire.RST, tcpwire.PSH, tcpwire.ACK
MOD = 1 << 32
Shape = Callable[[st.DataObject, Before, tcpwire.TcpSegment], tcpwire.TcpSegment]


def _arrives(cls: type[TCPSession], data: st.DataObject, state: str, iss: int, irs: int,
             shape: Shape | None = None) -> None:  # fmt: skip
    """Inject one drawn segment (``shape`` may rewrite it) into ``cls`` in ``state`` and
    check the answer against the RFC (`check_one_segment`)."""

    def seg_of(before: Before) -> tcpwire.TcpSegment:
        seg = data.draw(segments(before.rcv_nxt, before.snd_una, before.snd_max))
        return seg if shape is None else shape(data, before, seg)

    check_one_segment(cls, state, iss, irs, seg_of)


def _arrival(name: str, section: str, checks: str, states: tuple[str, ...],
             shape: Shape | None = None) -> None:  # fmt: skip
    def check(cls: type[TCPSession], data: st.DataObject, state: str, iss: int,
              irs: int) -> None:  # fmt: skip
        _arrives(cls, data, state, iss, irs, shape)

    prop(name, section, checks, state=st.sampled_from(states), iss=SEQUENCE, irs=SEQUENCE)(check)


def _flags(flags: int, keep: int = 0) -> Shape:
    """Force ``flags`` on (and keep only the ``keep`` bits of the drawn ones)."""
    return lambda data, before, seg: dataclasses.replace(seg, flags=flags | (seg.flags & keep))


def _outside(data: st.DataObject, before: Before) -> int:
    """A sequence number outside [RCV.NXT, RCV.NXT + RCV.WND)."""
    offset = data.draw(st.integers(max(before.rcv_wnd, 1), MOD - 1))
    return (before.rcv_nxt + offset) % MOD


def _rst_outside(data: st.DataObject, before: Before, seg: tcpwire.TcpSegment) -> Any:
    return dataclasses.replace(seg, flags=RST | (seg.flags & ACK), seq=_outside(data, before))


def _rst_inside(data: st.DataObject, before: Before, seg: tcpwire.TcpSegment) -> Any:
    offset = data.draw(st.integers(0, max(before.rcv_wnd - 1, 0)))
    return dataclasses.replace(seg, flags=RST | (seg.flags & ACK),
                               seq=(before.rcv_nxt + offset) % MOD)  # fmt: skip


def _unacceptable(data: st.DataObject, before: Before, seg: tcpwire.TcpSegment) -> Any:
    flags = (seg.flags & (ACK | PSH | FIN)) | ACK
    return dataclasses.replace(seg, flags=flags, seq=_outside(data, before), payload=b"")


def _ack_unsent(data: st.DataObject, before: Before, seg: tcpwire.TcpSegment) -> Any:
    ack = (before.snd_max + data.draw(st.integers(1, 2**30))) % MOD
    return dataclasses.replace(seg, flags=ACK, seq=before.rcv_nxt, ack=ack, payload=b"")


def _in_order(data: st.DataObject, before: Before, seg: tcpwire.TcpSegment) -> Any:
    return data.draw(in_order_segment(before.rcv_nxt, before.snd_una, before.snd_max))


_arrival("segment_arrives.closed_answers_rst", "RFC 9293 §3.10.7.1",
         "a segment to a CLOSED connection is answered by an RST (none for an RST)",
         ("CLOSED",))  # fmt: skip
_arrival("segment_arrives.listen_rst_ignored", "RFC 9293 §3.10.7.2",
         "an RST to a LISTEN socket is ignored: nothing sent, still LISTEN",
         ("LISTEN",), _flags(RST, ACK | SYN | FIN))  # fmt: skip
_arrival("segment_arrives.listen_ack_answered_with_rst", "RFC 9293 §3.10.7.2",
         "an ACK to a LISTEN socket is answered by <SEQ=SEG.ACK><CTL=RST>, still LISTEN",
         ("LISTEN",), _flags(ACK, SYN | FIN | PSH))  # fmt: skip
_arrival("segment_arrives.syn_sent_checks_ack", "RFC 9293 §3.10.7.3",
         "in SYN_SENT, an unacceptable ACK is answered by RST, an RST is honoured only with "
         "an acceptable ACK, a segment without SYN or RST is dropped", ("SYN_SENT",))  # fmt: skip
_arrival("segment_arrives.rst_outside_window_ignored", "RFC 5961 §3.2, RFC 9293 §3.10.7.4",
         "in a synchronized state, an RST outside the receive window is dropped silently",
         SYNCHRONIZED, _rst_outside)  # fmt: skip
_arrival("segment_arrives.rst_in_window_challenged", "RFC 5961 §3.2, RFC 9293 §3.10.7.4",
         "in a synchronized state, an RST at RCV.NXT resets; elsewhere in the window it is "
         "answered by a challenge ACK", SYNCHRONIZED, _rst_inside)  # fmt: skip
_arrival("segment_arrives.syn_challenged", "RFC 5961 §4.2, RFC 9293 §3.10.7.4",
         "in a synchronized state, a SYN is answered by a challenge ACK, the state unchanged",
         SYNCHRONIZED, _flags(SYN, ACK | FIN | PSH))  # fmt: skip
_arrival("segment_arrives.unacceptable_answered_with_ack", "RFC 9293 §3.10.7.4 (first)",
         "in a synchronized state, a segment outside the window is answered by an ACK "
         "<SEQ=SND.NXT><ACK=RCV.NXT>", SYNCHRONIZED, _unacceptable)  # fmt: skip
_arrival("segment_arrives.ack_of_unsent_data_answered", "RFC 5961 §5.2, RFC 9293 §3.10.7.4",
         "an ACK of data never sent is answered by an ACK and otherwise dropped",
         ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING"),
         _ack_unsent)  # fmt: skip
_arrival("segment_arrives.in_order_text_delivered_once", "RFC 9293 §3.10.7.4 (seventh)",
         "acceptable in-order text is delivered to the application exactly once",
         RECEIVING, _in_order)  # fmt: skip
_arrival("segment_arrives.any_segment_any_state", "RFC 9293 §3.10.7, RFC 5961",
         "any segment (any flags, numbers, options) in any state is answered as the RFCs "
         "require, never raises, and takes only declared transitions", ALL_STATES)  # fmt: skip


@prop(
    "segment_arrives.listen_syn_answered_with_syn_ack", "RFC 9293 §3.10.7.2",
    "a SYN to a LISTEN socket is answered by <SEQ=ISS><ACK=SEG.SEQ+1><CTL=SYN,ACK> and "
    "the new connection enters SYN_RECEIVED",
    iss=SEQUENCE, irs=SEQUENCE,
)  # fmt: skip
def listen_syn(cls: type[TCPSession], data: st.DataObject, iss: int, irs: int) -> None:
    h = RecordedHarness("LISTEN", iss=iss, irs=irs, session_class=cls)
    h.take()
    h.send("S", seq=irs, mss=1460)
    sent = h.take()
    own = h.session.snapshot()["iss"]
    want = f"one SYN,ACK seq {own} ack {(irs + 1) % MOD}"
    expect(len(sent) == 1 and (sent[0].flags, sent[0].seq, sent[0].ack)
           == (SYN | ACK, own, (irs + 1) % MOD), want, segment_lines(sent))  # fmt: skip
    expect(h.state == "SYN_RECEIVED", "state SYN_RECEIVED", f"state {h.state}")


# -------------------------------------------------------------------------- timeouts


def _first_unacked(h: RecordedHarness, state: str) -> RecordedHarness:
    if state == "ESTABLISHED":
        h.session.send(b"x" * 100)
    elif state == "FIN_WAIT_1":
        h.session.close()
    return h


@prop(
    "timeout.retransmission_backs_off", "RFC 6298 §5.4-§5.6, RFC 9293 §3.8.1 (MUST-19)",
    "an unanswered SYN, data or FIN is retransmitted when the RTO expires, each wait "
    "twice the one before (up to the maximum RTO)",
    iss=SEQUENCE, state=st.sampled_from(["SYN_SENT", "ESTABLISHED", "FIN_WAIT_1"]),
    rto=st.sampled_from([0.2, 0.5, 1.0, 3.0]),
)  # fmt: skip
def backoff(cls: type[TCPSession], data: st.DataObject, iss: int, state: str,
            rto: float) -> None:  # fmt: skip
    config = TcpConfig(initial_rto=rto, min_rto=min(rto, 1.0), max_rto=60.0)
    if state == "SYN_SENT":
        h = RecordedHarness("CLOSED", iss=iss, session_class=cls, config=config)
        h.session.open_active()
    else:
        h = _first_unacked(RecordedHarness("ESTABLISHED", iss=iss, session_class=cls,
                                           config=config, user=Recorder()), state)  # fmt: skip
    h.advance(15 * rto + 0.5)  # the first send and four retransmissions: 1+2+4+8 RTOs
    first = next((e for e in h.trace.events if e.seg is not None and e.src == LOCAL[0]), None)
    expect(first is not None, "a segment sent", "nothing sent")
    assert first is not None and first.seg is not None
    times = [e.time for e in h.trace.events if e.seg is not None and e.src == LOCAL[0]
             and e.seg.seq == first.seg.seq and not e.seg.flags & RST]  # fmt: skip
    waits = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    expect(len(waits) >= 3, f"at least 3 retransmissions within {15 * rto + 0.5:g} s",
           f"waits {waits}")  # fmt: skip
    short = [(a, b) for a, b in itertools.pairwise(waits) if b < 2 * a - 1e-6]
    expect(not short, "each wait twice the one before", f"waits {waits} s")


@prop(
    "timeout.time_wait_lasts_2msl", "RFC 9293 §3.10.7.4 (FIN in FIN_WAIT_2), §3.4.2",
    "the FIN that ends FIN_WAIT_2 is acknowledged, and TIME_WAIT lasts 2*MSL, no less "
    "and not much more",
    irs=SEQUENCE, msl=st.sampled_from([0.5, 1.0, 5.0, 30.0]),
)  # fmt: skip
def time_wait(cls: type[TCPSession], data: st.DataObject, irs: int, msl: float) -> None:
    h = RecordedHarness("FIN_WAIT_2", irs=irs, session_class=cls, config=TcpConfig(msl=msl),
                        user=Recorder())  # fmt: skip
    h.take()
    h.send("F.", seq=h.remote(1), ack=h.local(2))
    sent = h.take()
    expect([(s.flags & ~PSH, s.ack) for s in sent] == [(ACK, h.remote(2))],
           f"one ACK {h.remote(2)}", segment_lines(sent))  # fmt: skip
    expect(h.state == "TIME_WAIT", "state TIME_WAIT", f"state {h.state}")
    h.advance(2 * msl - 0.01)
    expect(h.state == "TIME_WAIT", f"TIME_WAIT still {2 * msl - 0.01:g} s later",
           f"state {h.state}")  # fmt: skip
    h.advance(0.02 + 0.05 * msl)
    expect(h.state == "CLOSED", f"CLOSED {2 * msl + 0.01 + 0.05 * msl:g} s later",
           f"state {h.state}")  # fmt: skip


@prop(
    "timeout.user_timeout_gives_up", "RFC 9293 §3.8.3 (MUST-20), §3.10.8",
    "data unacknowledged for R2 seconds makes the connection give up: CLOSED, the "
    "application told it timed out; not before R2",
    r2=st.sampled_from([5.0, 10.0, 20.0]), max_rto=st.sampled_from([2.0, 8.0]),
)  # fmt: skip
def user_timeout(cls: type[TCPSession], data: st.DataObject, r2: float, max_rto: float) -> None:
    user = Recorder()
    config = TcpConfig(r2=r2, max_rto=max_rto)
    h = RecordedHarness("ESTABLISHED", session_class=cls, config=config, user=user)
    h.session.send(b"x" * 100)
    h.advance(r2 - 0.01)
    expect(h.state == "ESTABLISHED", f"still ESTABLISHED after {r2 - 0.01:g} s",
           f"state {h.state}")  # fmt: skip
    h.advance(2 * max_rto + 1.0)
    expect(h.state == "CLOSED" and CloseReason.TIMED_OUT in user.reasons,
           f"CLOSED by {r2 + 2 * max_rto + 1:g} s, the application told {CloseReason.TIMED_OUT}",
           f"state {h.state}, the application told {user.reasons}")  # fmt: skip


# ------------------------------------------------------------------------ two stacks

PROPERTIES["connection.two_stacks_keep_invariants"] = Property(
    "connection.two_stacks_keep_invariants",
    "RFC 9293 §3.3.1, §3.4, §3.8.6, §3.10; RFC 7323 §2.3",
    "two stacks of the class exchanging data while the wire drops, duplicates and "
    "reorders: no ACK of unsent data, no data beyond the window, bytes delivered as sent, "
    "only declared transitions, and both end CLOSED (through TIME_WAIT after a close)",
    lambda *a, **k: None,
    machine=two_stack_machine,
)
