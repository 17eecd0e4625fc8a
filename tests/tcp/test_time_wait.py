"""TIME_WAIT: 2*MSL, retransmitted FINs (RFC 9293 §3.10.7.4)."""

from __future__ import annotations

import gc
import types

import pytest

from pystack.tcp.config import TcpConfig
from pystack.tcp.session import TCPSession
from pystack.testing.harness import LOCAL, REMOTE, TcpHarness, TcpPair


@pytest.mark.requirement("RFC9293:MUST-13")
def test_time_wait_lasts_two_msl() -> None:
    h = TcpHarness("TIME_WAIT", config=TcpConfig(msl=30))
    h.advance(59.9)
    assert h.state == "TIME_WAIT"
    h.advance(0.1)
    assert h.state == "CLOSED"


def test_retransmitted_fin_is_acked_and_restarts_the_timer() -> None:
    h = TcpHarness("TIME_WAIT", config=TcpConfig(msl=30))
    h.advance(50)
    h.send("F.", seq=h.remote(1), ack=h.local(2))
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    h.advance(59)
    assert h.state == "TIME_WAIT"
    h.advance(1)
    assert h.state == "CLOSED"
    assert ("TIME_WAIT", "rcv_fin", "TIME_WAIT") in h.transitions


def test_rst_in_time_wait_closes() -> None:
    h = TcpHarness("TIME_WAIT")
    h.send("R", seq=h.remote(2))
    assert h.state == "CLOSED"


# ------------------------------------------- a new SYN reopens TIME_WAIT (RFC 6191)


def with_listener(h: TcpHarness) -> TCPSession:
    """A listener on the harness session's port, found by the host as the TCP layer's."""
    listener = TCPSession(h.host, local_ip=LOCAL[0], local_port=LOCAL[1])
    listener.open_passive()
    h.host.listener_for = lambda ip, port: listener if port == LOCAL[1] else None  # type: ignore[attr-defined]
    return listener


@pytest.mark.requirement("RFC9293:MAY-2")
def test_new_syn_beyond_rcv_nxt_closes_time_wait_and_the_listener_answers() -> None:
    h = TcpHarness("TIME_WAIT")
    old = h.session
    listener = with_listener(h)
    h.send("S", seq=h.remote(1000), mss=1460)
    assert old.state == "CLOSED"
    assert ("TIME_WAIT", "rcv_syn_reopen", "CLOSED") in h.transitions
    assert old in h.host.forgotten
    (child,) = h.host.children
    assert child.state == "SYN_RECEIVED"
    assert (child.remote_ip, child.remote_port) == (REMOTE[0], REMOTE[1])
    assert listener.half_open == 1
    # RFC 1122 §4.2.2.13: the host's ISN (= the old ISS) is not above the old SND.MAX
    # (ISS + 2), so the new ISS starts past it.
    h.recv(h.expect("S.", seq=h.local(2 + 65537), ack=h.remote(1001), mss=1460))


def test_reopened_connection_keeps_a_generated_iss_above_the_old_one() -> None:
    h = TcpHarness("TIME_WAIT")
    with_listener(h)
    h.host.next_isn = h.local(1_000_000)
    h.send("S", seq=h.remote(1000))
    h.recv(h.expect("S.", seq=h.local(1_000_000), ack=h.remote(1001)))


def test_old_syn_in_time_wait_gets_a_challenge_ack_and_stays() -> None:
    h = TcpHarness("TIME_WAIT")
    with_listener(h)
    for seq in (h.remote(1), h.remote(2)):  # before RCV.NXT, and at it (in the window)
        h.send("S", seq=seq)
        h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
        assert h.state == "TIME_WAIT"
    assert not h.host.children


def test_syn_with_ack_in_time_wait_does_not_reopen() -> None:
    h = TcpHarness("TIME_WAIT")
    with_listener(h)
    h.send("S.", seq=h.remote(1000), ack=h.local(2))
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    assert h.state == "TIME_WAIT"


def test_new_syn_without_listener_keeps_time_wait() -> None:
    h = TcpHarness("TIME_WAIT")  # the harness host has no listener_for: none listens
    h.send("S", seq=h.remote(1000))
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(2)))
    assert h.state == "TIME_WAIT"
    assert not h.host.children


@pytest.mark.parametrize("compact", [True, False], ids=["record", "session"])
def test_client_reuses_its_port_at_once_after_the_server_closed_first(compact: bool) -> None:
    pair = TcpPair(config=TcpConfig(compact_time_wait=compact))
    client_layer, server_layer = pair.layers
    server_layer.listen(7)
    server_ip = TcpPair.ADDRESSES[1]
    key = (server_ip, 7, TcpPair.ADDRESSES[0], 50000)

    def connect() -> tuple[TCPSession, TCPSession]:
        client = client_layer.connect(server_ip, 7, local_port=50000)

        def up() -> bool:
            server = server_layer.connections.get(key)
            return (
                client.state == "ESTABLISHED"
                and server is not None
                and (server.state == "ESTABLISHED")
            )

        pair.run_until(up, limit=0.5)
        return client, server_layer.connections[key]

    def server_waits() -> bool:
        return key in server_layer.time_wait if compact else server.state == "TIME_WAIT"

    client, server = connect()
    server.close()  # the server closes first: TIME_WAIT is on its side
    pair.run_until(lambda: client.state == "CLOSE_WAIT")
    client.close()
    pair.run_until(lambda: client.state == "CLOSED" and server_waits())
    # Without the reopen, the SYN gets an ACK, the client an RST out and a 1 s SYN
    # retransmission: establishing within 0.5 s of protocol time proves the reopen.
    client2, server2 = connect()
    assert server.state == "CLOSED"
    assert server2 is not server
    assert key not in server_layer.time_wait
    assert server2.iss > server.snd_max
    client2.send(b"hello")
    pair.run_until(lambda: server2.readable == 5)
    assert server2.read() == b"hello"


# ------------------------------------- what a TIME_WAIT session costs (shared 2*MSL reaper)


def test_time_wait_sessions_on_one_clock_each_expire_at_their_own_deadline() -> None:
    first, second, third = (TcpHarness("TIME_WAIT", config=TcpConfig(msl=30)) for _ in range(3))
    clock = first.clock
    for h, at in ((second, 10.0), (third, 20.0)):
        h.session.clock = clock  # one clock, as the sessions of one TCP layer share
        first.advance(at - clock.seconds())
        h.session.start_time_wait_timer()
    first.advance(35)  # t = 55: the third session restarts 2*MSL (retransmitted FIN)
    third.session.start_time_wait_timer()
    first.advance(4.9)
    assert [h.state for h in (first, second, third)] == ["TIME_WAIT"] * 3
    first.advance(0.1)
    assert [h.state for h in (first, second, third)] == ["CLOSED", "TIME_WAIT", "TIME_WAIT"]
    first.advance(10)
    assert [h.state for h in (second, third)] == ["CLOSED", "TIME_WAIT"]
    first.advance(44.9)
    assert third.state == "TIME_WAIT"
    first.advance(0.1)
    assert third.state == "CLOSED"
    assert ("TIME_WAIT", "timeout_2msl", "CLOSED") in third.transitions


def test_a_stopped_time_wait_timer_does_not_fire() -> None:
    h = TcpHarness("TIME_WAIT", config=TcpConfig(msl=30))
    h.session.time_wait_timer.stop()
    h.advance(120)
    assert h.state == "TIME_WAIT"


def _tracked_from(root: object, stop: set[int]) -> dict[int, object]:
    seen: dict[int, object] = {}
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or id(obj) in stop or not gc.is_tracked(obj):
            continue
        if isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            continue
        seen[id(obj)] = obj
        todo.extend(gc.get_referents(obj))
    return seen


def test_a_time_wait_session_is_at_most_ten_gc_tracked_objects() -> None:
    """A busy server holds ~2*MSL x its connection rate of these; each tracked object
    slows every full collection. The harness's own host, clock and config are left out
    (a TCP layer shares them between its sessions)."""
    one, other = TcpHarness("TIME_WAIT"), TcpHarness("TIME_WAIT")
    stop = {id(x) for h in (one, other) for x in (h, h.host, h.clock, h.session.config)}
    stop |= {id(x) for h in (one, other) for x in gc.get_referents(h.host)}
    shared = _tracked_from(other.session, stop)
    own = [obj for key, obj in _tracked_from(one.session, stop).items() if key not in shared]
    # + the reaper's heap entry, a tuple not reachable from the session
    assert len(own) + 1 <= 10, sorted(type(obj).__name__ for obj in own)
