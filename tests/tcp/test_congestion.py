"""Congestion control through the pluggable interface (RFC 5681, RFC 6582)."""

from __future__ import annotations

from pystack.tcp.congestion import NewReno
from pystack.testing.harness import TcpHarness


def test_initial_window_limits_the_first_flight() -> None:
    h = TcpHarness()
    h.session.send(b"x" * 100_000)
    sent = h.take()
    assert sum(len(s.payload) for s in sent) == h.session.cc.cwnd == 10 * 1460


def test_three_dupacks_trigger_fast_retransmit() -> None:
    h = TcpHarness()
    h.session.send(b"x" * 5 * 1460)
    h.take()
    for _ in range(2):
        h.send(".", seq=h.remote(1), ack=h.local(1))
        h.recv_nothing()
    h.send(".", seq=h.remote(1), ack=h.local(1))
    h.recv(h.expect(".", seq=h.local(1), payload=None))
    assert h.session.cc.in_recovery


def test_slow_start_grows_cwnd_per_ack() -> None:
    h = TcpHarness()
    h.session.send(b"x" * 2920)
    h.take()
    before = h.session.cc.cwnd
    h.send(".", seq=h.remote(1), ack=h.local(1461))
    assert h.session.cc.cwnd == before + 1460


def test_a_custom_controller_plugs_in() -> None:
    made: list[int] = []

    class Tiny(NewReno):
        def __init__(self, smss: int) -> None:
            super().__init__(smss, initial_window=smss)
            made.append(smss)

    h = TcpHarness("LISTEN")
    h.session._cc_factory = Tiny  # the factory a TCPLayer would pass
    h.send("S", seq=h.remote(0), mss=1000)
    h.send(".", seq=h.remote(1), ack=h.local(1))
    h.session.send(b"x" * 5000)
    h.take()
    assert made[-1] == 1000
    assert h.session.cc.cwnd == 1000
