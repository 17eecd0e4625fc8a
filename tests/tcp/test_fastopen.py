"""TCP Fast Open (RFC 7413) between two stacks on the simulated wire: cookies, data in
the SYN, the fallbacks, key rotation, and the cookie's keyed hash as a property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet, WireTap
from pystack.tcp.config import TcpConfig
from pystack.tcp.fastopen import (
    COOKIE_LEN,
    CookieCache,
    CookieKeys,
    FastOpenSession,
    FastOpenState,
    fastopen_option,
    make_cookie,
)
from pystack.tcp.session import TCPSession
from pystack.testing.strategies import ipv4_addresses
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import FastOpen

SYN, ACK = tcpwire.SYN, tcpwire.ACK
PORT = 80


class Recorder(TCPApplication):
    """A server application that records each arrival with its connection's state then,
    and answers it with ``pong:`` + the data."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[bytes, str]] = []

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        session = self._target(kwargs)
        self.arrivals.append((packet, session.state))
        self.send_packet(b"pong:" + packet, **kwargs)


def serve(net: SimNet) -> Recorder:
    server = Recorder()
    net.b.register_tcp_application(server)
    server.bind(PORT, app=server)
    server.listen(8)
    return server


def exchange(net: SimNet, request: bytes) -> tuple[TCPApplication, bytes]:
    """Connect from A, send ``request`` at once (as sendto(MSG_FASTOPEN) would), wait for
    the whole answer; close."""
    client = TCPApplication()
    net.a.register_tcp_application(client)
    answer = bytearray()
    client.packet_received = lambda data, **kw: answer.extend(data)  # type: ignore[method-assign]
    client.connect_deferred(str(net.b.address), PORT)
    client.send_packet(request)
    want = len(b"pong:" + request)
    assert net.run_until(lambda: len(answer) >= want, 30), bytes(answer)
    session = client.session
    client.close()
    net.advance(2)
    client.session = session
    return client, bytes(answer)


def tcp_segments(tap: WireTap, src: str) -> list[tcpwire.TcpSegment]:
    return [tcpwire.parse(p.payload) for p in tap.ip() if p.src == src and p.proto == 6]


def syns(tap: WireTap, src: str, flags: int = SYN) -> list[tcpwire.TcpSegment]:
    return [s for s in tcp_segments(tap, src) if s.flags & (SYN | ACK) == flags]


A, B = "198.18.0.1", "198.18.0.2"


def test_off_by_default_no_option_on_the_syn() -> None:
    assert TcpConfig().fastopen is False
    with SimNet(2) as net:
        tap = WireTap(net)
        serve(net)
        assert net.a.tcp.session_class is TCPSession
        exchange(net, b"hi")
        assert all(fastopen_option(s) is None for s in tcp_segments(tap, A) + tcp_segments(tap, B))


@pytest.mark.parametrize("bad", ["yes", 1, 3, None])
def test_config_rejects_other_values(bad: Any) -> None:
    with pytest.raises(ValueError, match="fastopen"):
        TcpConfig(fastopen=bad)


@pytest.mark.requirement("RFC7413:4.1.3")
def test_first_connection_gets_a_cookie_second_sends_its_data_in_the_syn() -> None:
    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        tap = WireTap(net)
        server = serve(net)
        assert net.a.tcp.session_class is FastOpenSession
        _, answer = exchange(net, b"first")
        assert answer == b"pong:first"
        syn, synack = syns(tap, A)[0], syns(tap, B, SYN | ACK)[0]
        assert fastopen_option(syn) == FastOpen(b"") and not syn.payload  # a request
        cookie = fastopen_option(synack)
        assert cookie is not None and len(cookie.cookie) == COOKIE_LEN
        cache = FastOpenState.of(net.a.tcp).cache  # type: ignore[union-attr]
        assert cache.get(B) == (cookie.cookie, 1460)
        assert server.arrivals == [(b"first", "ESTABLISHED")]

        client, answer = exchange(net, b"second")
        assert answer == b"pong:second"
        syn, synack = syns(tap, A)[1], syns(tap, B, SYN | ACK)[1]
        assert syn.payload == b"second" and fastopen_option(syn) == cookie
        assert synack.ack == (syn.seq + 1 + len(b"second")) & 0xFFFFFFFF  # data acked
        # RFC 7413 §4.2.2: the application had the data before the handshake completed.
        assert server.arrivals[1] == (b"second", "SYN_RECEIVED")
        # The request went exactly once: never again after the handshake.
        sent = b"".join(s.payload for s in tcp_segments(tap, A) if s.src_port == syn.src_port)
        assert sent == b"second"
        assert client.session.fastopen_syn_data == 6 and not client.session.fastopen_fell_back
        assert net.a.stats.get("tcp", "fastopen_active") == 1
        assert net.b.stats.get("tcp", "fastopen_passive") == 1


def seed_cookie(net: SimNet, cookie: bytes, mss: int = 1460) -> None:
    state = FastOpenState.of(net.a.tcp)
    assert state is not None
    state.cache.put(B, cookie, mss)


def test_invalid_cookie_server_acks_only_the_syn_and_client_resends_the_data() -> None:
    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        tap = WireTap(net)
        server = serve(net)
        seed_cookie(net, b"forgery!")
        client, answer = exchange(net, b"request")
        assert answer == b"pong:request"
        syn, synack = syns(tap, A)[0], syns(tap, B, SYN | ACK)[0]
        assert syn.payload == b"request" and fastopen_option(syn) == FastOpen(b"forgery!")
        assert synack.ack == (syn.seq + 1) & 0xFFFFFFFF  # the SYN only, not its data
        fresh = fastopen_option(synack)
        assert fresh is not None and fresh.cookie != b"forgery!"
        data = [s for s in tcp_segments(tap, A) if s.payload and not s.flags & SYN]
        assert data[0].payload == b"request" and data[0].seq == (syn.seq + 1) & 0xFFFFFFFF
        assert server.arrivals == [(b"request", "ESTABLISHED")]  # once, after the handshake
        assert client.session.fastopen_fell_back
        assert net.a.stats.get("tcp", "fastopen_active_fail") == 1
        assert net.b.stats.get("tcp", "fastopen_passive_fail") == 1
        # The fresh cookie replaced the bad one: the next SYN's data is taken.
        assert FastOpenState.of(net.a.tcp).cache.get(B).cookie == fresh.cookie  # type: ignore[union-attr]
        exchange(net, b"again")
        assert server.arrivals[-1] == (b"again", "SYN_RECEIVED")


def test_synack_not_acknowledging_the_data_falls_back() -> None:
    """A server without Fast Open ignores the option (RFC 9293 §3.1): its SYN,ACK acks
    the SYN only, and the client sends the data once the connection is open."""
    with SimNet(2, tcp=TcpConfig(fastopen="client")) as net:
        tap = WireTap(net)
        net.b.tcp.session_class = TCPSession
        server = serve(net)
        seed_cookie(net, bytes(8))
        client, answer = exchange(net, b"x" * 100)
        assert answer == b"pong:" + b"x" * 100
        syn, synack = syns(tap, A)[0], syns(tap, B, SYN | ACK)[0]
        assert len(syn.payload) == 100 and synack.ack == (syn.seq + 1) & 0xFFFFFFFF
        assert fastopen_option(synack) is None
        assert server.arrivals == [(b"x" * 100, "ESTABLISHED")]
        assert client.session.fastopen_fell_back
        assert client.session.snd_una == client.session.snd_max
        # No cookie came back: the cached one stays.
        assert FastOpenState.of(net.a.tcp).cache.get(B).cookie == bytes(8)  # type: ignore[union-attr]


def test_data_in_syn_is_cut_to_the_cached_mss() -> None:
    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        tap = WireTap(net)
        server = serve(net)
        exchange(net, b"get a cookie")
        state = FastOpenState.of(net.a.tcp)
        assert state is not None
        cookie = state.cache.get(B)
        assert cookie is not None
        state.cache.put(B, cookie.cookie, 500)
        exchange(net, b"y" * 2000)
        syn = syns(tap, A)[1]
        # 500 bytes of MSS less 32 of options (20 standard, 10 Fast Open, padding).
        assert len(syn.payload) == 468
        assert b"".join(d for d, _ in server.arrivals[1:]) == b"y" * 2000


def test_lost_syn_with_data_is_retransmitted_without_it() -> None:
    class LoseFirstSyn(FastOpenSession):
        lost = False

        def on_segment_out(self, segment: tcpwire.TcpSegment) -> Any:
            if segment.flags & SYN and segment.payload and not LoseFirstSyn.lost:
                LoseFirstSyn.lost = True
                return None
            return segment

    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        tap = WireTap(net)
        server = serve(net)
        exchange(net, b"cookie please")
        net.a.tcp.session_class = LoseFirstSyn
        exchange(net, b"data")
        assert LoseFirstSyn.lost
        retransmitted = syns(tap, A)[1]
        assert not retransmitted.payload and fastopen_option(retransmitted) is not None
        assert server.arrivals[-1] == (b"data", "ESTABLISHED")


def test_rotated_key_previous_cookie_still_accepted_and_replaced() -> None:
    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        tap = WireTap(net)
        server = serve(net)
        exchange(net, b"one")
        keys = FastOpenState.of(net.b.tcp).keys  # type: ignore[union-attr]
        old = FastOpenState.of(net.a.tcp).cache.get(B).cookie  # type: ignore[union-attr]
        keys.rotate()
        exchange(net, b"two")
        assert server.arrivals[-1] == (b"two", "SYN_RECEIVED")  # previous key: accepted
        new = fastopen_option(syns(tap, B, SYN | ACK)[1])
        assert new is not None and new.cookie != old  # ... and a fresh cookie given
        assert FastOpenState.of(net.a.tcp).cache.get(B).cookie == new.cookie  # type: ignore[union-attr]
        keys.rotate()
        keys.rotate()  # the cookie's key is gone now
        FastOpenState.of(net.a.tcp).cache.put(B, new.cookie, 1460)  # type: ignore[union-attr]
        exchange(net, b"three")
        assert server.arrivals[-1] == (b"three", "ESTABLISHED")  # refused: after the handshake


def test_keys_rotate_by_themselves_after_their_lifetime() -> None:
    import random

    clock = Clock()
    keys = CookieKeys(random.Random(1), clock, lifetime=100.0)
    cookie = keys.cookie(B, A)
    clock.advance(99)
    assert keys.check(cookie, B, A) == "primary"
    clock.advance(1)
    assert keys.check(cookie, B, A) == "previous"
    assert keys.check(keys.cookie(B, A), B, A) == "primary"
    clock.advance(250)  # both keys stale: every earlier cookie refused
    assert keys.check(cookie, B, A) is None


def test_server_only_and_client_only_modes() -> None:
    with SimNet(2, tcp=TcpConfig(fastopen="server")) as net:
        tap = WireTap(net)
        serve(net)
        exchange(net, b"a")
        assert fastopen_option(syns(tap, A)[0]) is None  # our client never asks
    with SimNet(2, tcp=TcpConfig(fastopen="client")) as net:
        tap = WireTap(net)
        serve(net)
        exchange(net, b"a")
        assert fastopen_option(syns(tap, A)[0]) == FastOpen(b"")
        assert fastopen_option(syns(tap, B, SYN | ACK)[0]) is None  # our server never gives


def test_cookie_cache_forgets_the_least_recently_used() -> None:
    cache = CookieCache(size=2)
    cache.put("198.18.0.10", b"aaaa", 1000)
    cache.put("198.18.0.11", b"bbbb", 1000)
    assert cache.get("198.18.0.10") is not None  # now the most recent
    cache.put("198.18.0.12", b"cccc", 1000)
    assert cache.get("198.18.0.11") is None and len(cache) == 2
    cache.forget("198.18.0.10")
    assert cache.get("198.18.0.10") is None


def test_machine_declares_the_fast_open_edges_before_the_base_ones() -> None:
    table = FastOpenSession.fsm.table
    first = table["rcv_syn"]["LISTEN"][0]
    assert ("fastopen_cookie_valid", True) in first.checks
    assert "take_syn_data" in first.hooks
    assert TCPSession.fsm.spec.edges() <= FastOpenSession.fsm.spec.edges()
    docs = FastOpenSession.fsm.spec.hook_docs
    for name in ("fastopen_cookie_valid", "fastopen_cookie_wanted", "take_syn_data",
                 "deliver_syn_data", "grant_fastopen_cookie", "fastopen_client_on",
                 "request_fastopen_cookie", "fastopen_attempted", "send_queued_data",
                 "fastopen_cookie_cached", "schedule_syn_data",
                 "take_fastopen_synack"):  # fmt: skip
        assert docs.get(name)


@pytest.mark.requirement("RFC7413:4.1.2")
@given(
    key=st.binary(min_size=16, max_size=16),
    server=ipv4_addresses(),
    client=ipv4_addresses(),
    other=ipv4_addresses(),
)
def test_cookie_valid_for_its_client_only(key: bytes, server: str, client: str, other: str) -> None:
    import random

    keys = CookieKeys(random.Random(0), Clock())
    keys.primary = key
    cookie = keys.cookie(server, client)
    assert cookie == make_cookie(key, server, client) and len(cookie) == COOKIE_LEN
    assert keys.check(cookie, server, client) == "primary"
    if other != client:
        assert keys.check(cookie, server, other) is None
    keys.rotate()
    assert keys.check(cookie, server, client) == "previous"
    keys.rotate()
    assert keys.check(cookie, server, client) is None


def test_plain_tcp_sends_data_queued_in_syn_sent_once_established() -> None:
    """RFC 9293 §3.10.2: a SEND before the handshake completes is queued and goes as
    soon as the connection is ESTABLISHED, not at the next unrelated event."""
    with SimNet(2, delay=0.001) as net:
        server = serve(net)
        client = TCPApplication()
        net.a.register_tcp_application(client)
        client.connect_deferred(str(net.b.address), PORT)
        client.send_packet(b"early")
        assert net.run_until(lambda: server.arrivals, 0.05)
        assert server.arrivals == [(b"early", "ESTABLISHED")]


def timed_exchange(net: SimNet, request: bytes) -> float:
    start = net.now()
    client = TCPApplication()
    net.a.register_tcp_application(client)
    answer = bytearray()
    client.packet_received = lambda data, **kw: answer.extend(data)  # type: ignore[method-assign]
    client.connect_deferred(str(net.b.address), PORT)
    client.send_packet(request)
    assert net.run_until(lambda: len(answer) == len(request) + 5, 30)
    took = net.now() - start
    client.close()
    net.advance(2)
    return took


def test_the_answer_comes_one_round_trip_after_connect() -> None:
    """RFC 7413 §4.2.2: the server answers in SYN_RECEIVED, so request and answer take
    one round trip (the SYN,ACK and the answer travel together), against two without."""
    with SimNet(2, delay=0.05, tcp=TcpConfig(fastopen=True)) as net:
        serve(net)
        timed_exchange(net, b"cookie")  # (and ARP)
        assert timed_exchange(net, b"fast") == pytest.approx(0.1, abs=0.005)
    with SimNet(2, delay=0.05) as net:
        serve(net)
        timed_exchange(net, b"warm up")
        assert timed_exchange(net, b"slow") == pytest.approx(0.2, abs=0.005)


def test_an_ack_covering_our_syn_and_our_early_answer_frees_the_answer() -> None:
    """The client's pure ACK of the SYN,ACK is lost; its next segment acknowledges our
    SYN and the answer sent in SYN_RECEIVED at once."""

    class LoseFirstAck(FastOpenSession):
        lost = False

        def on_segment_out(self, segment: tcpwire.TcpSegment) -> Any:
            if segment.flags == ACK and not segment.payload and not LoseFirstAck.lost:
                LoseFirstAck.lost = True
                return None
            return segment

    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        server = serve(net)
        exchange(net, b"cookie")
        net.a.tcp.session_class = LoseFirstAck
        client = TCPApplication()
        net.a.register_tcp_application(client)
        answer = bytearray()
        client.packet_received = lambda data, **kw: answer.extend(data)  # type: ignore[method-assign]
        client.connect_deferred(str(net.b.address), PORT)
        client.send_packet(b"ping")
        assert net.run_until(lambda: answer == b"pong:ping", 5)
        assert LoseFirstAck.lost
        client.send_packet(b"more")  # its ACK covers SYN and answer
        assert net.run_until(lambda: len(server.arrivals) == 3, 5)
        (child,) = [
            s for s in server.sessions.values() if s.remote_port == client.session.local_port
        ]
        assert net.run_until(lambda: answer == b"pong:pingpong:more", 5)
        net.advance(1)
        assert child.state == "ESTABLISHED"
        assert child.snd_una == child.snd_max and len(child.sndbuf) == 0


@settings(max_examples=25, deadline=None)
@given(
    request=st.binary(min_size=1, max_size=3000),
    server_mode=st.sampled_from([True, "server", "client", False]),
    cookie=st.sampled_from(["valid", "stale", "forged", "none"]),
    answer_at_once=st.booleans(),
)
def test_every_byte_arrives_once_in_order_whatever_the_server_does(
    request: bytes, server_mode: Any, cookie: str, answer_at_once: bool
) -> None:
    """The client's stream reaches the server's application exactly once and in order,
    and the answer reaches the client, whether the SYN's data is taken, refused or not
    understood; the SYN,ACK acknowledges the SYN's data exactly when a Fast Open server
    validated its cookie."""
    with SimNet(2, tcp=TcpConfig(fastopen="client")) as net:
        tap = WireTap(net)
        net.b.tcp.config = TcpConfig(fastopen=server_mode)
        net.b.tcp.session_class = FastOpenSession
        got = bytearray()

        class Server(TCPApplication):
            def packet_received(self, packet: bytes, **kwargs: Any) -> None:
                got.extend(packet)
                if answer_at_once or len(got) == len(request):
                    self.send_packet(b"ok", **kwargs)

        server = Server()
        net.b.register_tcp_application(server)
        server.bind(PORT, app=server)
        server.listen(8)
        keys = FastOpenState.of(net.b.tcp).keys  # type: ignore[union-attr]
        given_cookie = {
            "valid": keys.cookie(B, A),
            "stale": keys.cookie(B, A),
            "forged": b"\x00" * COOKIE_LEN,
        }.get(cookie)
        if cookie == "stale":
            keys.rotate()
            keys.rotate()
        if given_cookie is not None:
            seed_cookie(net, given_cookie)
        client = TCPApplication()
        net.a.register_tcp_application(client)
        answer = bytearray()
        client.packet_received = lambda data, **kw: answer.extend(data)  # type: ignore[method-assign]
        client.connect_deferred(B, PORT)
        client.send_packet(request)
        assert net.run_until(lambda: len(got) >= len(request) and answer, 30)
        assert bytes(got) == request and bytes(answer).startswith(b"ok")
        syn, synack = syns(tap, A)[0], syns(tap, B, SYN | ACK)[0]
        taken = cookie == "valid" and server_mode in (True, "server")
        assert synack.ack == (syn.seq + 1 + (len(syn.payload) if taken else 0)) & 0xFFFFFFFF
        assert bool(syn.payload) == (given_cookie is not None)


def test_get_fastopen_cookie_argument() -> None:
    import argparse

    from pystack.clicmd.get import fastopen_cookie

    assert fastopen_cookie("") == b"" and fastopen_cookie("0011aabb") == bytes.fromhex("0011aabb")
    for bad in ("zz", "0011", "00" * 17):
        with pytest.raises(argparse.ArgumentTypeError):
            fastopen_cookie(bad)


def test_an_application_that_aborts_on_the_syn_data_leaves_nothing_behind() -> None:
    class Refuse(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            self.sessions[kwargs["id"]].abort()

    with SimNet(2, tcp=TcpConfig(fastopen=True)) as net:
        serve(net)
        exchange(net, b"cookie")
        net.b.tcp.listeners[("0.0.0.0", PORT)].user = refuse = Refuse()
        net.b.register_tcp_application(refuse)
        client = TCPApplication()
        net.a.register_tcp_application(client)
        client.connect_deferred(B, PORT)
        client.send_packet(b"unwelcome")
        assert net.run_until(lambda: client.session.state == "CLOSED", 5)
        assert client.session.close_reason.value == "reset"
        assert net.b.tcp.connections == {}
        assert net.b.stats.get("tcp", "fastopen_passive") == 1  # the data was taken
