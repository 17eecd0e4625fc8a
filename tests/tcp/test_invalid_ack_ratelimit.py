"""Segments without data that fail the sequence test or PAWS are answered with at most one
ACK per ``TcpConfig.invalid_ack_interval`` per connection (Linux's tcp_invalid_ratelimit,
500 ms), so two ends knocked out of step do not ACK each other without end; segments with
data are always answered (RFC 9293 §3.10.7.4)."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.testing.harness import TcpHarness, TcpPair
from pystack.wire import tcp as tcpwire


def test_a_burst_of_stale_acks_gets_one_answer_per_interval() -> None:
    h = TcpHarness()
    for _ in range(10):
        h.send(".", seq=h.remote(-5000), ack=h.local(1))  # far left of the window
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    assert h.drops[TcpDrop.UNACCEPTABLE_SEQ] == 10
    assert h.host.events["invalid_acks_limited"] == 9
    h.advance(0.5)
    h.send(".", seq=h.remote(-5000), ack=h.local(1))
    h.recv(h.expect(".", ack=h.remote(1)))


def test_out_of_window_data_and_fin_are_always_answered() -> None:
    h = TcpHarness()
    h.send(".", seq=h.remote(-5000), ack=h.local(1))
    h.take()
    for flags, payload in (("P.", b"old data"), ("P.", b"more"), ("F.", b"")):
        h.send(flags, seq=h.remote(-5000), ack=h.local(1), payload=payload)
        h.recv(h.expect(".", ack=h.remote(1)))
    assert h.host.events["invalid_acks_limited"] == 0


def test_paws_rejections_share_the_limit() -> None:
    h = TcpHarness(ts_recent=1000)
    old = [tcpwire.Timestamp(500, 0)]
    for _ in range(3):
        h.send(".", seq=h.remote(1), ack=h.local(1), options=old)
    assert len(h.take()) == 1
    assert h.drops[TcpDrop.PAWS_REJECTED] == 3


def test_no_interval_answers_every_one() -> None:
    h = TcpHarness(config=TcpConfig(invalid_ack_interval=0))
    for _ in range(5):
        h.send(".", seq=h.remote(-5000), ack=h.local(1))
    assert len(h.take()) == 5


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid_ack_interval"):
        TcpConfig(invalid_ack_interval=-1)


def desynchronised_pair(config: TcpConfig | None) -> tuple[TcpPair, Any]:
    """Two connected ends; then a forged in-window segment makes the client believe the
    server sent 100 bytes it never sent: the client's ACKs now acknowledge unsent data,
    the server answers each, and the client finds each answer out of its window."""
    pair = TcpPair(config=config, delay=0.001)
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(7)
    server.listen(1)
    client = TCPApplication()
    pair.register(client, 0)
    done: list[bool] = []
    client.connect_deferred(pair.ADDRESSES[1], 7).addCallback(done.append)
    pair.run_until(lambda: done)
    s = client.session
    assert s is not None
    forged = tcpwire.TcpSegment(7, s.local_port, s.rcv_nxt.value, s.snd_nxt.value,
                                tcpwire.ACK | tcpwire.PSH, 65535, b"x" * 100)  # fmt: skip
    pair.wire.carry(pair.ADDRESSES[1], pair.ADDRESSES[0],
                    tcpwire.emit(forged, pair.ADDRESSES[1], pair.ADDRESSES[0]))  # fmt: skip
    return pair, client


def test_two_ends_out_of_step_do_not_storm() -> None:
    pair, _ = desynchronised_pair(None)
    before = pair.wire.carried
    pair.run(5.0)
    assert pair.wire.carried - before <= 30  # about two exchanges a second


def test_without_the_limit_they_do() -> None:
    """What the limit prevents: the same two ends, every invalid segment answered."""
    pair, _ = desynchronised_pair(TcpConfig(invalid_ack_interval=0))
    before = pair.wire.carried
    pair.run(1.0)
    assert pair.wire.carried - before > 500
