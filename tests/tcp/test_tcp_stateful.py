"""Property: two stacks exchanging data over a wire the test controls (deliver, drop,
duplicate, reorder, advance time) keep every TCP invariant, and drain cleanly.

Below the property, one run written out: the server stops reading, its window closes,
and the client's zero-window probes (RFC 9293 §3.8.6.1) are the only bytes sent beyond it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from pystack.tcp.session import TCPSession
from pystack.testing import examples
from pystack.testing.conformance import (
    ADDRESSES,
    CLIENT,
    SERVER,
    TwoStackConformance,
    _tcp_of,
    two_stack_machine,
)
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

TwoStacks = two_stack_machine(TCPSession)
TwoStacks.TestCase.settings = settings(
    max_examples=examples(ci=500, dev=60),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTwoStacks = pytest.mark.slow(TwoStacks.TestCase)


class TwoByteProbeSession(TCPSession):
    """Probes a zero window with two bytes instead of one."""

    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None:
        if len(data) == 1 and self.snd_wnd == 0:
            data = self.sndbuf.peek(seq - self.sndbuf_seq(), 2)
        super().send_data(seq, data, flags)


class OneByteOverSession(TCPSession):
    """Sends one byte past the end of a window that is not zero, as if probing it."""

    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None:
        super().send_data(seq, data, flags)
        end = seq + len(data)
        if data and self.snd_wnd and end == self.snd_una + self.snd_wnd:
            extra = self.sndbuf.peek(end - self.sndbuf_seq(), 1)
            if extra:
                super().send_data(end, extra, 0)


def close_the_window(
    cls: type[TCPSession],
) -> tuple[TwoStackConformance, list[tcpwire.TcpSegment]]:
    """Run the two-stack machine by hand until the client has probed a closed window."""
    machine = two_stack_machine(cls)()
    sent: list[tcpwire.TcpSegment] = []

    def observe(_sender: Any, frame: bytes) -> None:
        parsed = _tcp_of(frame)
        if parsed is not None:
            sent.append(parsed[2])

    machine.wire.observers.append(observe)
    machine.deliver_in_order(20)
    machine.reading(SERVER, paused=True)
    for _ in range(4):
        machine.send(CLIENT, 5000)
        machine.deliver_in_order(20)
        machine.deliver_in_order(20)
    for _ in range(5):
        machine.advance(2.0)
        machine.deliver_in_order(20)
    return machine, sent


def test_zero_window_probes_are_the_only_bytes_beyond_the_window() -> None:
    machine, sent = close_the_window(TCPSession)
    assert any(s.window == 0 for s in sent), "the server's window never closed"
    probes = [s for s in sent if s.dst_port == 80 and len(s.payload) == 1]
    assert len(probes) >= 2, "no zero-window probe"
    machine.segments_respect_acks_and_windows()
    machine.teardown()  # reads again: everything arrives, both sides close
    assert len(machine.users[SERVER].received) == machine.sent[CLIENT] == 20_000


@pytest.mark.parametrize("broken", [TwoByteProbeSession, OneByteOverSession])
def test_bytes_beyond_the_window_other_than_a_probe_are_caught(broken: type[TCPSession]) -> None:
    machine, _ = close_the_window(broken)
    with pytest.raises(AssertionError, match="beyond the right edge"):
        machine.segments_respect_acks_and_windows()


def test_an_abort_after_a_timeout_resets_the_peer_that_had_everything() -> None:
    # The timeout rewinds SND.NXT; the RST goes at SND.MAX, the peer's RCV.NXT (RFC 5961
    # §3.2 drops any other), so the peer does not stay ESTABLISHED alone.
    machine = TwoStacks()
    for _ in range(3):
        machine.deliver_in_order(20)
    server = machine.session(SERVER)
    assert server is not None and server.state == "ESTABLISHED"
    machine.send(CLIENT, 3 * 1460)
    while machine.wire.in_flight:  # the data arrives, every ACK of it is lost
        parsed = _tcp_of(machine.wire.in_flight[0].frame)
        if parsed is not None and parsed[0] == ADDRESSES[SERVER]:
            machine.wire.drop(0)
        else:
            machine.wire.deliver(0)
    machine.advance(1.0)
    machine.advance(0.2)
    client = machine.client
    assert client.snd_nxt != client.snd_max, "no timeout rewound SND.NXT"
    machine.abort(CLIENT, 0)
    machine.deliver_in_order(20)
    assert server.state == "CLOSED"
