"""Property: arbitrary segments injected in any state never raise, only take transitions
that tcp.toml declares, never answer an RST with an RST, and keep SND.UNA <= SND.NXT."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.fsm import load_spec
from pystack.testing import examples
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import Mss

SPEC = load_spec("tcp")
EDGES = SPEC.edges()
STATES = sorted(SPEC.states)
ISS, IRS = 4_294_967_000, 1_000


def near(base: int) -> st.SearchStrategy[int]:
    """Sequence numbers near ``base`` (wrapping), with some anywhere."""
    return st.one_of(
        st.integers(-70_000, 70_000).map(lambda d: (base + d) % 2**32),
        st.integers(0, 2**32 - 1),
    )


segments = st.builds(
    lambda flags, seq, ack, window, payload, mss: tcpwire.TcpSegment(
        49500, 80, seq, ack, flags, window, payload, (Mss(mss),) if mss else ()
    ),
    st.integers(0, 0xFF),
    near(IRS),
    near(ISS),
    st.integers(0, 65535),
    st.binary(max_size=64),
    st.sampled_from([0, 0, 1, 536, 1460, 65535]),
)
steps = st.lists(st.tuples(segments, st.sampled_from([0.0, 0.0, 0.05, 0.3, 2.0, 70.0])),
                 max_size=8)  # fmt: skip


@settings(max_examples=examples(ci=500, dev=60))
@given(state=st.sampled_from(STATES), script=steps)
def test_arbitrary_segments_keep_the_machine_declared(state: str, script: list) -> None:
    h = TcpHarness(state, iss=ISS, irs=IRS)
    for seg, wait in script:
        h.send(seg)
        out = h.take()
        if seg.flags & tcpwire.RST:
            assert not any(o.flags & tcpwire.RST for o in out), "an RST answered an RST"
        h.advance(wait)
        h.take()
        s = h.session
        assert s.state in SPEC.states
        assert s.snd_una <= s.snd_nxt <= s.snd_max or s.state in ("LISTEN", "CLOSED")
    for edge in h.transitions:
        assert edge in EDGES, f"undeclared transition {edge}"


@settings(max_examples=examples(ci=500, dev=60))
@given(data=st.binary(max_size=80), state=st.sampled_from(STATES))
def test_random_bytes_into_the_layer_never_raise(data: bytes, state: str) -> None:
    from pystack.testing.harness import TcpPair
    from pystack.wire import ipv4

    pair = TcpPair()
    pair.layers[1].packet_received(data, IP=ipv4.Ipv4Packet("198.18.0.1", "198.18.0.2", 6, data))
    assert pair.layers[1].stats.total_drops() >= 0


def test_broken_acceptability_test_is_caught() -> None:
    """The suite's power: a session whose acceptability test ignores wraparound is caught."""
    from pystack.tcp.session import TCPSession

    class NoWrap(TCPSession):
        fast_receive_path = False  # it overrides a check

        def check_sequence(self, seg: tcpwire.TcpSegment) -> tcpwire.TcpSegment | None:
            start = int(self.rcv_nxt)
            if not start <= seg.seq < start + 65535:  # plain ints: wrong across 2**32
                self.send_ack()
                return None
            return super().check_sequence(seg)

    def run(session_class: type[TCPSession]) -> bytes:
        h = TcpHarness(irs=2**32 - 2, session_class=session_class)
        h.send(".", seq=h.remote(5), ack=h.local(1), payload=b"efgh")  # wrapped: seq 3
        h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abcd")
        return h.session.read()

    assert run(TCPSession) == b"abcdefgh"
    assert run(NoWrap) != b"abcdefgh"  # caught: the broken subclass loses data
