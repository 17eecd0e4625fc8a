"""Zero-window probing (RFC 9293 §3.8.6.1, MUST-35/36/37; RFC 1122 §4.2.2.17).

The probes back off exponentially up to the maximum RTO; their answers are never
duplicate ACKs (RFC 5681 §2), so they cause no fast retransmit or recovery; a connection
whose probes are answered stays open however long the window stays shut; one whose
probes go unanswered for R2 times out; a window update resumes the transfer at once.
"""

from __future__ import annotations

import pytest

from pystack.tcp.config import CloseReason, TcpConfig
from pystack.testing.harness import TcpHarness

DATA = bytes(range(256)) * 20  # 5120 bytes waiting behind the zero window


class Prober:
    """Runs a harness from probe to probe, remembering when the last one went out."""

    def __init__(self, h: TcpHarness) -> None:
        self.h = h
        self.last = h.clock.seconds()

    def restart(self) -> None:
        """Count the next interval from now (a new persist period begins)."""
        self.last = self.h.clock.seconds()

    def next(self, offset: int = 1) -> float:
        """Run to the persist deadline; assert exactly one probe then (the byte at ISS +
        ``offset``, never a moment early); return the interval since the last probe."""
        h = self.h
        deadline = h.session.snapshot()["timers"]["persist"]
        h.advance(deadline - h.clock.seconds() - 1e-3)
        h.recv_nothing()
        h.advance(2e-3)
        payload = DATA[offset - 1 : offset]
        h.recv(h.expect(".", seq=h.local(offset), ack=h.remote(1), payload=payload))
        interval, self.last = deadline - self.last, deadline
        return round(interval, 6)


def zero_window(config: TcpConfig | None = None) -> tuple[TcpHarness, Prober]:
    h = TcpHarness(peer_window=0, config=config)
    h.session.send(DATA)
    h.recv_nothing()  # nothing may go into a zero window before the first probe
    return h, Prober(h)


def answer(h: TcpHarness, *, window: int = 0, ack: int = 1) -> None:
    h.send(".", seq=h.remote(1), ack=h.local(ack), window=window)


@pytest.mark.requirement("RFC9293:MUST-35", "RFC9293:MUST-36", "RFC9293:SHLD-29", "RFC9293:SHLD-30")
def test_probe_intervals_double_up_to_the_maximum_rto() -> None:
    h, probe = zero_window()
    intervals = []
    for _ in range(10):
        intervals.append(probe.next())
        answer(h)
        h.recv_nothing()
    # SHLD-29: the first after one RTO; SHLD-30: then exponentially (each >= 1.3x the
    # one before) until the cap, TcpConfig.max_rto (60 s).
    assert intervals == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0]
    assert h.state == "ESTABLISHED"


def test_the_probe_interval_follows_the_rto_and_the_configured_cap() -> None:
    h, probe = zero_window(TcpConfig(initial_rto=3.0, max_rto=120.0))
    intervals = []
    for _ in range(8):
        intervals.append(probe.next())
        answer(h)
    assert intervals == [3.0, 6.0, 12.0, 24.0, 48.0, 96.0, 120.0, 120.0]


def test_probe_answers_are_not_duplicate_acks() -> None:
    h, probe = zero_window()
    before = h.session.snapshot()
    for _ in range(12):  # far beyond the three duplicate ACKs of a fast retransmit
        probe.next()  # exactly one segment each time: the probe, never a retransmission
        answer(h)
        h.recv_nothing()  # RFC 5681 §3.2: the third duplicate ACK would resend at once
        assert not h.session.cc.in_recovery
    after = h.session.snapshot()
    # No fast retransmit, no recovery: the congestion state is untouched.
    assert (after["cwnd"], after["ssthresh"]) == (before["cwnd"], before["ssthresh"])
    assert after["snd_una"] == h.local(1)
    assert "rexmit" not in after["timers"]


@pytest.mark.requirement("RFC9293:MUST-37")
def test_answered_probes_keep_the_connection_open_for_30_minutes() -> None:
    # MUST-37 / RFC 1122 §4.2.2.17 ("printer out of paper"): as long as the receiver
    # acknowledges the probes, the connection stays open, far beyond R2 (100 s here).
    h, probe = zero_window()
    probes = 0
    while h.clock.seconds() < 30 * 60:
        probe.next()
        answer(h)
        probes += 1
        assert h.state == "ESTABLISHED"
    assert probes >= 30
    assert h.session.close_reason is None
    answer(h, window=65535)  # and the data still goes once the window opens
    sent = h.take()
    assert sent[0].seq == h.local(1)
    assert b"".join(s.payload for s in sent) == DATA[:4380]  # Nagle holds the tail


@pytest.mark.requirement("RFC9293:MUST-20")
def test_unanswered_probes_time_out_after_r2() -> None:
    h, _ = zero_window(TcpConfig(r2=100.0))
    while h.state == "ESTABLISHED" and h.clock.seconds() < 1000:
        h.advance(1.0)
    # Probes at 1, 3, 7, 15, 31, 63 s; at 123 s the first is 122 s unanswered: give up.
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.TIMED_OUT
    assert 100 <= h.clock.seconds() <= 124


def test_an_answer_restarts_the_r2_count_of_unanswered_probes() -> None:
    h, _ = zero_window(TcpConfig(r2=100.0))
    h.advance(100)  # probes at 1, 3, 7, 15, 31, 63: unanswered for 99 s
    answer(h)  # the receiver is alive after all
    h.advance(100)  # probes at 123, 183: unanswered only since 123
    assert h.state == "ESTABLISHED"
    h.advance(100)
    assert h.state == "CLOSED"


def test_a_window_update_resumes_the_transfer_at_once() -> None:
    h, probe = zero_window()
    for _ in range(9):
        probe.next()
        answer(h)
    cwnd = h.session.snapshot()["cwnd"]
    answer(h, window=2920)  # a window update between two probes
    # At once (no timer): from SND.UNA, since the receiver dropped the probe's byte.
    h.recv(
        h.expect(".", seq=h.local(1), payload=DATA[:1460]),
        h.expect(".", seq=h.local(1461), payload=DATA[1460:2920]),
    )
    assert h.session.snapshot()["cwnd"] == cwnd
    assert "persist" not in h.session.snapshot()["timers"]
    assert "rexmit" in h.session.snapshot()["timers"]


def test_both_kinds_of_answer_over_many_probes() -> None:
    h, probe = zero_window()
    intervals = []
    for _ in range(4):  # still zero
        intervals.append(probe.next())
        answer(h)
    intervals.append(probe.next())
    # The receiver took the probe's byte, and its window is zero again.
    answer(h, ack=2)
    h.recv_nothing()
    for _ in range(4):  # probing goes on from the next byte
        intervals.append(probe.next(2))
        answer(h, ack=2)
    # A probe whose byte was taken neither resets nor breaks the backoff.
    assert intervals == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    answer(h, ack=2, window=1460)  # the window opened
    h.recv(h.expect(".", seq=h.local(2), payload=DATA[1:1461]))
    answer(h, ack=1462, window=0)  # and shut again: a new persist period
    h.recv_nothing()
    probe.restart()
    assert probe.next(1462) == 1.0  # the backoff starts over
    assert not h.session.cc.in_recovery
    assert h.state == "ESTABLISHED"


def test_a_window_smaller_than_a_segment_resumes_at_once_too() -> None:
    # The refused probe's byte is not in flight: counting it held the 100 bytes for Nagle
    # and SWS avoidance until a retransmission timeout cut cwnd to one segment.
    h, probe = zero_window()
    for _ in range(3):
        probe.next()
        answer(h)
    ssthresh = h.session.snapshot()["ssthresh"]
    answer(h, window=100)
    h.recv(h.expect(".", seq=h.local(1), payload=DATA[:100]))
    h.send(".", seq=h.remote(1), ack=h.local(101), window=100)
    h.recv(h.expect(".", seq=h.local(101), payload=DATA[100:200]))
    assert h.session.snapshot()["ssthresh"] == ssthresh
