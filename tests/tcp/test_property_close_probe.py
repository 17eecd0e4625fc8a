"""Properties of the half-duplex close (RFC 9293 §3.6.1) and of zero-window probing
(RFC 9293 §3.8.6.1), over arbitrary interleavings of segments and user calls."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.fsm import load_spec
from pystack.tcp.config import CloseReason
from pystack.testing import examples
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire

EDGES = load_spec("tcp").edges()
RESETS_ON_UNREAD = {"ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK"}
FIN, RST, ACK = tcpwire.FIN, tcpwire.RST, tcpwire.ACK

actions = st.lists(
    st.one_of(
        st.tuples(st.just("data"), st.binary(min_size=1, max_size=40)),
        st.tuples(st.just("fin"), st.just(b"")),
        st.tuples(st.just("ack"), st.just(b"")),
        st.tuples(st.sampled_from(["read", "close", "close_both", "shutdown_read"]), st.just(b"")),
        st.tuples(st.just("wait"), st.just(b"")),
    ),
    max_size=12,
)


def peer(h: TcpHarness, kind: str, payload: bytes) -> None:
    """A well-formed segment from the peer: at RCV.NXT, acknowledging all we sent."""
    s = h.session
    flags = ACK | (FIN if kind == "fin" else 0)
    h.send(flags, seq=s.rcv_nxt.value, ack=s.snd_max.value, payload=payload)


@settings(max_examples=examples(ci=400, dev=60))
@given(script=actions)
def test_a_full_close_never_loses_data_silently(script: list[tuple[str, bytes]]) -> None:
    h = TcpHarness()
    closed_both = False
    for kind, payload in script:
        s = h.session
        if s.state in ("CLOSED", "TIME_WAIT"):
            break
        before, unread = s.state, s.readable
        if kind in ("data", "fin", "ack"):
            peer(h, kind, payload)
            out = h.take()
            if closed_both and payload and before in ("FIN_WAIT_1", "FIN_WAIT_2"):
                # Data after the close: answered with RST, the connection is gone.
                assert [o.flags & RST for o in out] == [RST]
                assert s.state == "CLOSED" and s.close_reason is CloseReason.RESET
        elif kind == "wait":
            h.advance(0.3)
            h.take()
        elif kind == "close_both":
            closed_both = True
            s.close_both()
            out = h.take()
            if unread and before in RESETS_ON_UNREAD:
                # Unread data is lost: RST, never FIN (RFC 1122 §4.2.2.13).
                assert [o.flags for o in out] == [RST]
                assert s.state == "CLOSED" and s.close_reason is CloseReason.RESET
            else:
                assert not any(o.flags & RST for o in out)
        else:
            getattr(s, kind)()
            h.take()
        if closed_both:
            assert h.session.readable == 0  # nothing ever waits for a reader that left
    for edge in h.transitions:
        assert edge in EDGES, f"undeclared transition {edge}"


answers = st.lists(
    st.tuples(st.sampled_from(["zero", "zero", "took", "open"]), st.integers(1, 3000)),
    min_size=8,
    max_size=20,
)


@settings(max_examples=examples(ci=300, dev=50))
@given(script=answers)
@pytest.mark.requirement("RFC9293:SHLD-29", "RFC9293:SHLD-30")
def test_zero_window_probes_never_look_like_loss(script: list[tuple[str, int]]) -> None:
    h = TcpHarness(peer_window=0)
    s = h.session
    s.send(bytes(200_000))
    ssthresh = s.cc.ssthresh
    probes = 0  # in this persist period
    for kind, window in script:
        h.advance(s.snapshot()["timers"]["persist"] - h.clock.seconds())
        (probe,) = h.take()  # one segment: one byte at SND.UNA, never a retransmission
        assert probe.seq == s.snd_una.value and len(probe.payload) == 1
        probes += 1
        una = s.snd_una.value
        if kind == "zero":
            h.send(".", seq=h.remote(1), ack=una, window=0)
        elif kind == "took":  # the receiver kept the probe's byte
            h.send(".", seq=h.remote(1), ack=una + 1, window=0)
        else:
            h.send(".", seq=h.remote(1), ack=una, window=window)
            out = h.take()
            if window >= s.snd_mss or 0 < s.max_snd_wnd // 2 <= window:
                assert out and out[0].seq == una  # a window worth sending into: at once
            h.send(".", seq=h.remote(1), ack=s.snd_max.value, window=0)
            probes = 0
        assert not any(o.payload for o in h.take())  # answers trigger no retransmission
        assert not s.cc.in_recovery and s.cc.ssthresh == ssthresh
        assert s.state == "ESTABLISHED" and "rexmit" not in s.snapshot()["timers"]
        wait = round(s.snapshot()["timers"]["persist"] - h.clock.seconds(), 6)
        # SHLD-29/30: the RTO first, then doubling (each >= 1.3x) up to the maximum RTO.
        assert wait == min(s.rtt.rto * 2**probes, s.config.max_rto)
