"""The session's hooks receive the same values whether or not they are overridden, and
no behaviour changes because a method is overridden: the receive fast path and the
compact TIME_WAIT SYN path are explicit class settings."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pystack.apps.tcp_application import TCPApplication
from pystack.layers.ip_meta import IpMeta
from pystack.sim import SimNet
from pystack.stack import PyStack
from pystack.tcp.session import TCPSession
from pystack.testing.harness import TcpHarness, flags_of
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import NOP, Timestamp

A, C = "198.18.0.1", "198.18.0.3"


class Watching(TCPSession):
    seen: list[tuple[type, type]] = []

    def on_segment_in(self, segment: tcpwire.TcpSegment, meta: IpMeta) -> None:
        Watching.seen.append((type(segment), type(meta)))

    def on_segment_out(self, segment: tcpwire.TcpSegment) -> Any:
        Watching.seen.append((type(segment), type(None)))
        return segment


def test_an_overridden_segment_hook_gets_the_segment_repr_and_its_meta() -> None:
    Watching.seen = []
    h = TcpHarness(session_class=Watching)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"hi")
    assert Watching.seen[0] == (tcpwire.TcpSegment, IpMeta)
    h.session.send(b"yo")
    assert Watching.seen[1] == (tcpwire.TcpSegment, type(None))
    assert h.session.read() == b"hi"


def test_an_overridden_on_segment_out_sends_what_the_default_sends() -> None:
    plain, watched = TcpHarness(), TcpHarness(session_class=Watching)
    for h in (plain, watched):
        h.session.send(b"data")
        h.send(".", seq=h.remote(1), ack=h.local(5), payload=b"more")
    assert plain.take() == watched.take()


def test_a_session_overriding_on_segment_out_sends_with_the_stacks_ttl_and_tos() -> None:
    """The IP header of its segments is IP's (the stack's TTL 33 and TOS 0x28), not a
    scapy view's defaults."""
    net = SimNet(2)
    peer = PyStack(link=net.wire.attach(), ip=f"{C}/24", clock=net.clock, ttl=33, tos=0x28)
    peer.tcp.session_class = Watching
    seen: list[tuple[str, int, int]] = []

    class Listening(TCPSession):
        def on_segment_in(self, segment: tcpwire.TcpSegment, meta: IpMeta) -> None:
            seen.append((meta.src, meta.ttl, meta.tos))

    net.a.tcp.listen(80, session_class=Listening)
    client = TCPApplication()
    peer.register_tcp_application(client)
    client.connect_deferred(A, 80)
    assert net.run_until(lambda: len(seen) >= 2)
    assert set(seen) == {(C, 33, 0x28)}


def test_to_scapy_shows_an_incoming_segment_with_its_ip_fields() -> None:
    h = TcpHarness()
    meta = IpMeta("198.18.0.9", "198.18.0.1", 17, 0x10)
    packet = h.session.to_scapy(h.segment("S", seq=5), meta)
    assert (packet["IP"].src, packet["IP"].ttl, packet["IP"].tos) == ("198.18.0.9", 17, 0x10)
    assert packet["TCP"].seq == 5 and str(packet["TCP"].flags) == "S"


class Overriding(TCPSession):
    """Overrides the TIME_WAIT SYN path but keeps the compact path allowed."""

    reopens = 0

    def reopen_from_time_wait(self, seg: tcpwire.TcpSegment) -> bool:
        Overriding.reopens += 1
        return super().reopen_from_time_wait(seg)


def test_overriding_a_time_wait_method_alone_does_not_change_the_path() -> None:
    """The class setting decides: left True, a reopening SYN takes the compact path even
    though the class overrides a method on the revived path."""
    from tests.tcp.test_time_wait_records import PORT, Waiting

    assert Overriding.compact_time_wait_syn_path
    w = Waiting(compact=True, session_class=Overriding)
    w.inject(tcpwire.TcpSegment(40000, PORT, w.rcv_nxt + 1, 0, tcpwire.SYN, 500))
    assert Overriding.reopens == 0
    assert w.layer.stats.counters("tcp").get("time_wait_reopened") == 1
    assert not w.layer.stats.counters("tcp").get("time_wait_revived")


# ------------------------------------------------- fast receive path == slow pipeline


class Slow(TCPSession):
    fast_receive_path = False


STATES = ["SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
          "CLOSING", "LAST_ACK", "TIME_WAIT"]  # fmt: skip
FLAGS = st.sets(st.sampled_from(["S", "F", "R", ".", "P"]), max_size=4).map(
    lambda fs: "".join(sorted(fs))
)
SEGMENTS = st.lists(
    st.tuples(
        FLAGS,
        st.one_of(st.integers(-3, 8), st.integers(0, 2**32 - 1)),  # seq: IRS + n
        st.one_of(st.integers(-2, 4), st.integers(0, 2**32 - 1)),  # ack: ISS + n
        st.binary(max_size=6),
        st.integers(0, 70000),
        st.one_of(st.none(), st.integers(0, 2**32 - 1)),  # TSval
        st.sampled_from([0.0, 0.05, 1.0]),
    ),
    max_size=6,
)


def _observe(h: TcpHarness) -> tuple[Any, ...]:
    s = h.session
    return (h.take(), s.snapshot(), dict(h.host.drops), list(h.transitions), s.read())


@given(
    state=st.sampled_from(STATES),
    ts=st.one_of(st.none(), st.integers(1, 2**32 - 1)),
    rcv_window=st.sampled_from([0, 10, 65535]),
    segments=SEGMENTS,
)
def test_the_fast_receive_path_matches_the_declared_pipeline(
    state: str, ts: int | None, rcv_window: int, segments: list[tuple[Any, ...]]
) -> None:
    fast = TcpHarness(state, ts_recent=ts)
    slow = TcpHarness(state, ts_recent=ts, session_class=Slow)
    for h in (fast, slow):
        h.session.rcv_adv = h.session.rcv_nxt + rcv_window
    assert _observe(fast) == _observe(slow)
    for flags, seq, ack, payload, window, tsval, wait in segments:
        for h in (fast, slow):
            seq_v = h.remote(seq) if -3 <= seq <= 8 else seq
            ack_v = h.local(ack) if -2 <= ack <= 4 else ack
            options = () if tsval is None else (NOP, NOP, Timestamp(tsval, 0))
            seg = tcpwire.TcpSegment(
                h.segment(".").src_port, h.segment(".").dst_port, seq_v, ack_v,
                flags_of(flags or "."), window & 0xFFFF, payload, options,
            )  # fmt: skip
            h.send(seg)
            h.advance(wait)
        assert _observe(fast) == _observe(slow)


# ------------------------------------------------------------------ the timers part


def test_the_session_owns_its_timers_as_a_replaceable_part() -> None:
    """``session.timers`` is the part the class setting ``timers_class`` names; its
    expiry methods get the session as an argument."""
    from pystack.tcp.timers import IDLE_TIMERS, Timers

    fired: list[Any] = []

    class CountingTimers(Timers):
        __slots__ = ()

        def on_delack_timeout(self, s: Any) -> None:
            fired.append(s)
            super().on_delack_timeout(s)

    class Counting(TCPSession):
        timers_class = CountingTimers

    h = TcpHarness(session_class=Counting)
    assert type(h.session.timers) is CountingTimers
    assert h.session.delack_timer is h.session.timers.delack
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x")  # one segment: ACK delayed
    assert h.take() == []
    h.advance(0.5)
    assert fired == [h.session] and len(h.take()) == 1
    h.session.abort()
    assert h.session.timers is IDLE_TIMERS  # a finished connection keeps no timer
