"""Property: any segment injected into a session in any state is answered as RFC 9293
§3.10.7 and RFC 5961 require, never raises, and takes only declared transitions.

The examples after the property are failures it found once, kept as plain tests."""

from __future__ import annotations

import random

import pytest
from twisted.internet.task import Clock

from pystack.layers.ip_meta import IpMeta
from pystack.links.memory import MemoryWire
from pystack.stack import PyStack
from pystack.tcp.session import TCPSession
from pystack.testing import examples
from pystack.testing.conformance import Before, check_one_segment, single_session_check
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire

test_arbitrary_segments_in_every_state = single_session_check(
    TCPSession, max_examples=examples(ci=500, dev=100)
)


def _one_before_rcv_nxt(flags: int) -> object:
    """A segment at RCV.NXT - 1 whose text reaches into the window."""

    def seg_of(before: Before) -> tcpwire.TcpSegment:
        seq = (before.rcv_nxt - 1) % (1 << 32)
        return tcpwire.TcpSegment(49500, 80, seq, before.snd_nxt, flags, 30000, b"abc")

    return seg_of


@pytest.mark.parametrize("state", ["ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_2"])
@pytest.mark.requirement("RFC9293:MAY-12", "RFC5961:3.2")
def test_rst_just_before_rcv_nxt_with_text_is_dropped_not_trimmed_into_a_reset(
    state: str,
) -> None:
    # RFC 5961 §3.2: SEG.SEQ itself is judged; RCV.NXT - 1 is outside the window.
    check_one_segment(TCPSession, state, 1000, 53610, _one_before_rcv_nxt(tcpwire.RST))
    h = TcpHarness(state, iss=1000, irs=53610)
    h.take()
    h.send(tcpwire.TcpSegment(49500, 80, h.session.rcv_nxt.value - 1, 0, tcpwire.RST, 0, b"x"))
    assert h.take() == [] and h.state == state


@pytest.mark.parametrize("state", ["ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1"])
@pytest.mark.requirement("RFC9293:MAY-12", "RFC5961:4.2")
def test_syn_just_before_rcv_nxt_with_text_gets_a_challenge_ack(state: str) -> None:
    # RFC 5961 §4.2: trimming must not strip the SYN bit before the SYN check sees it.
    flags = tcpwire.SYN | tcpwire.ACK
    check_one_segment(TCPSession, state, 4294966296, 7, _one_before_rcv_nxt(flags))


def test_a_bare_ack_to_a_listening_port_is_answered_by_a_reset_to_its_sender() -> None:
    # RFC 9293 §3.10.7.2: <SEQ=SEG.ACK><CTL=RST>, sent to the segment's source address.
    clock = Clock()
    wire = MemoryWire(clock)
    stack = PyStack(link=wire.attach(), ip="198.18.0.2/24", clock=clock, rng=random.Random(2))
    sent: list[tuple[bytes, dict[str, object]]] = []
    stack.tcp.lowerLayers["default"].send_payload = lambda data, **kw: sent.append((data, kw))
    stack.tcp.listen(80)
    seg = tcpwire.TcpSegment(40000, 80, 1000, 5000, tcpwire.ACK, 1000)
    stack.tcp.segment_received(seg, IpMeta("198.18.0.1", "198.18.0.2", 64, 0))
    [(data, kw)] = sent
    assert kw == {"dst": "198.18.0.1", "proto": 6, "src": "198.18.0.2"}
    rst = tcpwire.parse(data)
    assert (rst.flags, rst.seq, rst.dst_port) == (tcpwire.RST, 5000, 40000)
    assert tcpwire.checksum_ok(data, "198.18.0.2", "198.18.0.1")
