"""CUBIC between two stacks on a lossy, delayed simulated wire (RFC 9438, RFC 9406)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from pystack.tcp.config import TcpConfig
from pystack.tcp.congestion import NewReno
from pystack.tcp.cubic import BETA_CUBIC, Cubic, cubic_k
from pystack.testing.twostack import SimNet


def transfer(
    net: SimNet, size: int, *, step: float = 0.01, max_time: float = 300.0, hook: Any = None
) -> tuple[Any, list[tuple[float, int, int]]]:
    """Send ``size`` random bytes from a to b; returns the sender's session and its
    (time, cwnd, ssthresh) every ``step`` simulated seconds. Asserts exact delivery."""
    client, server = net.connect_tcp(5001, max_time=60)
    session = client.session
    data = random.Random(size).randbytes(size)
    sent, got, trace = 0, bytearray(), []
    start = net.now()
    while len(got) < size:
        if sent < size:
            sent += client.send(data[sent : sent + 262_144])
        net.advance(step)
        got.extend(server.fetch_data())
        if hook is not None:
            hook(session)
        trace.append((net.now(), session.cc.cwnd, session.cc.ssthresh))
        assert net.now() - start < max_time, f"{len(got)} of {size} bytes"
    assert bytes(got) == data
    return session, trace


@pytest.mark.parametrize(("loss", "seed"), [(0.01, 1), (0.01, 2), (0.05, 3)])
@pytest.mark.requirement("RFC9293:MAY-18")
def test_a_cubic_transfer_through_loss_and_delay_delivers_exact_bytes(
    loss: float, seed: int
) -> None:
    config = TcpConfig(congestion="cubic")
    with SimNet(2, seed=seed, loss=loss, delay=0.02, tcp=config) as net:
        session, trace = transfer(net, 1_000_000)
        cc = session.cc
        assert isinstance(cc, Cubic)
        assert net.wire.counters.lost > 0 and session.rexmit_bytes > 0
        assert cc.hystart is None  # a loss ended slow start's HyStart++ (RFC 9406 §4.2)
        mss = session.snd_mss
        assert all(cwnd >= mss and ssthresh >= 2 * mss for _, cwnd, ssthresh in trace)


def test_after_one_loss_cwnd_grows_concave_to_w_max_then_convex() -> None:
    # 100 ms RTT and a 200-segment window: the cubic region of RFC 9438 (below, W_est of
    # §4.3 would stay under W_cubic). One data segment is dropped once cwnd reaches 100
    # segments in slow start; nothing else is lost.
    config = TcpConfig(congestion="cubic", rcv_buf=8 << 20, snd_buf=8 << 20)
    with SimNet(2, seed=5, delay=0.05, tcp=config) as net:
        armed, dropped = [False], [0]
        transmit = net.wire.transmit

        def lossy(sender: Any, frame: bytes) -> None:
            if armed[0] and len(frame) > 1000:
                armed[0] = False
                dropped[0] += 1
                return
            transmit(sender, frame)

        net.wire.transmit = lossy  # type: ignore[method-assign]

        def arm(session: Any) -> None:
            if not dropped[0] and session.cc.cwnd >= 100 * session.snd_mss:
                armed[0] = True

        session, trace = transfer(net, 24_000_000, hook=arm)
    cc, mss = session.cc, session.snd_mss
    assert dropped == [1] and cc.w_max is not None
    # §4.6: one reduction, to beta * the flight at the loss (cwnd then, without app limits).
    reduced = [i for i in range(1, len(trace)) if trace[i][2] != trace[i - 1][2]]
    assert len(reduced) == 1
    ssthresh = trace[reduced[0]][2]
    # FlightSize includes the two segments limited transmit (RFC 3042) sent past cwnd.
    assert BETA_CUBIC * cc.w_max * mss <= ssthresh <= BETA_CUBIC * (cc.w_max + 2) * mss
    epoch = cc.t_epoch
    assert epoch is not None
    assert cc.k == pytest.approx(cubic_k(cc.w_max, ssthresh / mss), rel=0.01)
    plateau = epoch + cc.k
    w_max = cc.w_max * mss

    def cwnd_at(t: float) -> int:
        return min(trace, key=lambda sample: abs(sample[0] - t))[1]

    # Concave: below W_max until K, with gains per second shrinking toward the plateau.
    rising = [cwnd_at(epoch + f * cc.k) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    gains = [b - a for a, b in itertools.pairwise(rising)]
    assert all(w <= w_max + mss for w in rising)
    assert gains[0] > gains[1] > gains[2] > gains[3] >= 0
    assert rising[-1] == pytest.approx(w_max, abs=2 * mss)
    # Convex: past K, gains per second grow again and cwnd leaves W_max behind.
    end = trace[-1][0]
    assert end > plateau + 2.0
    times = [plateau + f * (end - plateau) for f in (0.25, 0.5, 0.75, 1.0)]
    after = [cwnd_at(t) for t in times]
    later = [b - a for a, b in itertools.pairwise(after)]
    assert later[0] < later[1] < later[2]
    assert after[-1] > w_max + 3 * mss


def test_the_default_is_cubic_and_new_reno_is_a_config_away() -> None:
    with SimNet(2, seed=1, delay=0.02) as net:
        client, server = net.connect_tcp(5001)
        assert isinstance(client.session.cc, Cubic)
        assert isinstance(server.session.cc, Cubic)
        assert client.session.cc.clock() == net.now()  # the stack's clock, not the system's
    with SimNet(2, seed=1, delay=0.02, tcp=TcpConfig(congestion="newreno")) as net:
        client, server = net.connect_tcp(5001)
        assert type(client.session.cc) is NewReno and type(server.session.cc) is NewReno


def test_congestion_control_per_connection_and_a_users_own_class() -> None:
    class Mine(NewReno):
        pass

    with SimNet(2, seed=2, delay=0.02, tcp=TcpConfig(congestion="newreno")) as net:
        a, b = net.stacks
        b.tcp.listen(5001, congestion=Mine)
        cubic = a.tcp.connect(str(b.address), 5001, congestion="cubic")
        plain = a.tcp.connect(str(b.address), 5001, local_port=40000)
        assert net.run_until(lambda: cubic.state == plain.state == "ESTABLISHED")
        assert isinstance(cubic.cc, Cubic)
        assert type(plain.cc) is NewReno
        accepted = list(b.tcp.connections.values())
        assert len(accepted) == 2
        assert all(type(session.cc) is Mine for session in accepted)
    with SimNet(1) as net, pytest.raises(ValueError, match="unknown congestion control"):
        net.a.tcp.connect("198.18.0.9", 80, congestion="vegas")


def test_a_users_factory_in_the_config_is_used_for_every_connection() -> None:
    made: list[int] = []

    def factory(smss: int) -> NewReno:
        made.append(smss)
        return NewReno(smss, initial_window=2 * smss)

    with SimNet(2, seed=4, delay=0.02, tcp=TcpConfig(congestion=factory)) as net:
        client, server = net.connect_tcp(5001)
        for app in (client, server):
            assert app.session.cc.cwnd == 2 * app.session.snd_mss
        assert len(made) >= 2


def test_hystart_ends_slow_start_without_a_loss_when_the_path_delay_grows() -> None:
    # RFC 9406 §4.2 between two stacks: every ACK echoing a TSval is an RTT sample (RFC 7323
    # §4), so each round has its 8. The one-way delay goes from 20 to 30 ms once cwnd
    # reaches 40 segments: the round's minimum RTT rises by 20 ms (> 5 ms), slow start turns
    # conservative, and 5 rounds later ends, with nothing lost.
    config = TcpConfig(congestion="cubic", rcv_buf=8 << 20, snd_buf=8 << 20)
    with SimNet(2, seed=6, delay=0.02, tcp=config) as net:
        seen: list[str] = []

        def watch(session: Any) -> None:
            hystart = session.cc.hystart
            if session.cc.cwnd >= 40 * session.snd_mss:
                net.wire.delay = 0.03
            state = "done" if hystart is None else "css" if hystart.in_css else "slow start"
            if not seen or seen[-1] != state:
                seen.append(state)

        session, _ = transfer(net, 3_000_000, hook=watch)
        assert net.wire.counters.lost == 0 and session.rexmit_bytes == 0
    assert seen == ["slow start", "css", "done"]
    cc = session.cc
    assert cc.ssthresh < 1 << 30  # slow start ended without a loss
    assert cc.ssthresh <= cc.cwnd
