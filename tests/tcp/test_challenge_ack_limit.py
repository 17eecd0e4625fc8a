"""RFC 5961 §7: challenge ACKs (in-window RST §3.2, SYN §4, too old ACK §5.2) are limited
per second, for all the connections of a TCP layer together, as Linux's
tcp_challenge_ack_limit; each second's budget is drawn at random (CVE-2016-5696)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.layer import ChallengeAckLimit
from pystack.testing.harness import TcpHarness, TcpPair
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire


def limited(limit: int) -> tuple[TcpHarness, ChallengeAckLimit]:
    """An ESTABLISHED harness session whose host allows ``limit`` challenge ACKs a second."""
    h = TcpHarness()
    budget = ChallengeAckLimit(limit, h.clock)
    h.host.challenge_ack_allowed = budget.allow  # type: ignore[attr-defined]
    return h, budget


@pytest.mark.requirement("RFC5961:7")
def test_the_n_plus_first_challenge_ack_in_a_second_is_not_sent() -> None:
    h, budget = limited(2)
    h.advance(0.1)
    for _ in range(2):
        h.send("R", seq=h.remote(5))
        h.recv(h.expect(".", seq=h.local(1), ack=h.remote(1)))
    h.advance(0.8)  # still the same second
    h.send("R", seq=h.remote(5))
    h.recv_nothing()
    assert h.drops[TcpDrop.RST_CHALLENGED] == 3  # the segments still count as dropped
    assert (budget.sent, budget.limited) == (2, 1)
    h.advance(0.1)  # the next second: a new budget
    h.send("R", seq=h.remote(5))
    h.recv(h.expect(".", ack=h.remote(1)))
    assert (budget.sent, budget.limited) == (3, 1)


@pytest.mark.requirement("RFC5961:5.2")
def test_syn_and_too_old_ack_challenges_share_the_budget() -> None:
    h, budget = limited(2)
    h.send("S", seq=h.remote(1))  # RFC 5961 §4
    h.send(".", seq=h.remote(1), ack=h.local(1) - 200_000)  # §5.2: too old
    assert len(h.take()) == 2
    h.send("S", seq=h.remote(1))
    h.send(".", seq=h.remote(1), ack=h.local(1) - 200_000)
    h.recv_nothing()
    assert h.drops[TcpDrop.SYN_CHALLENGED] == 2 and h.drops[TcpDrop.ACK_TOO_OLD] == 2
    assert budget.limited == 2
    assert h.state == "ESTABLISHED"


def test_the_ack_of_unsent_data_is_not_a_challenge_ack() -> None:
    """RFC 9293's own ACK for SEG.ACK > SND.NXT is not throttled (Linux neither)."""
    h, budget = limited(0)
    h.send(".", seq=h.remote(1), ack=h.local(50))
    h.recv(h.expect(".", ack=h.remote(1)))
    assert budget.limited == 0


def test_a_host_without_a_limit_sends_every_challenge_ack() -> None:
    h = TcpHarness()
    for _ in range(5):
        h.send("R", seq=h.remote(5))
    assert len(h.take()) == 5


def test_the_budget_is_drawn_around_the_limit_each_second() -> None:
    import random

    budget = ChallengeAckLimit(100, clock=_Clock(), rng=random.Random(1))
    per_second = []
    for second in range(40):
        budget.clock.now = second + 0.5
        per_second.append(sum(budget.allow() for _ in range(200)))
    assert all(50 <= n <= 149 for n in per_second)  # Linux: [L/2, L + L/2 - 1]
    assert len(set(per_second)) > 10  # not a fixed count an attacker could subtract
    assert 80 < sum(per_second) / len(per_second) < 120


class _Clock:
    now = 0.0

    def seconds(self) -> float:
        return self.now


# ------------------------------------------------------------------------- the layer


def _established(pair: TcpPair, ports: range) -> list[tuple[int, int]]:
    """Connections from side 0 to side 1's port 7; (client port, server's RCV.NXT)."""
    client_layer, server_layer = pair.layers
    server_layer.listen(7)
    clients = [client_layer.connect(TcpPair.ADDRESSES[1], 7, local_port=p) for p in ports]
    pair.run_until(lambda: all(c.state == "ESTABLISHED" for c in clients))
    pair.run(0.5)
    return [(c.local_port, c.snd_max.value) for c in clients]


def _inject_rst(pair: TcpPair, port: int, seq: int) -> None:
    client_ip, server_ip = TcpPair.ADDRESSES
    rst = tcpwire.TcpSegment(port, 7, seq, 0, tcpwire.RST, 0)
    data = tcpwire.emit(rst, client_ip, server_ip)
    pair.layers[1].packet_received(data, IP=ipv4.Ipv4Packet(client_ip, server_ip, 6, data))


def test_the_layer_limit_is_shared_by_all_its_connections() -> None:
    pair = TcpPair(config=TcpConfig(challenge_ack_limit=4))
    conns = _established(pair, range(40000, 40003))
    acks: list[bytes] = []
    pair.wire.filter = lambda src, dst, data: acks.append(data) or False
    pair.clock.advance(1.0 - pair.clock.seconds() % 1.0 + 0.01)  # the start of a second
    for i in range(12):
        port, rcv_nxt = conns[i % 3]
        _inject_rst(pair, port, rcv_nxt + 100)  # in window, not exact: a challenge
    counters = pair.layers[1].stats.counters("tcp")
    sent = counters.get("challenge_acks", 0)
    assert 2 <= sent <= 5  # one budget of limit 4, drawn from [2, 5], for all three
    assert len(acks) == sent
    assert counters.get("challenge_acks_limited") == 12 - sent
    assert all(s.state == "ESTABLISHED" for s in pair.layers[1].connections.values())


def test_no_limit_when_configured_off() -> None:
    pair = TcpPair(config=TcpConfig(challenge_ack_limit=None))
    ((port, rcv_nxt),) = _established(pair, range(40000, 40001))
    for _ in range(20):
        _inject_rst(pair, port, rcv_nxt + 100)
    counters = pair.layers[1].stats.counters("tcp")
    assert counters.get("challenge_acks_limited") is None
    assert pair.layers[1].stats.dropped("tcp", TcpDrop.RST_CHALLENGED) == 20


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        TcpConfig(challenge_ack_limit=-1)
