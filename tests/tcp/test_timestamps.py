"""Timestamps (RFC 7323 §3, §4.3): offered on our SYN, answered on a SYN,ACK only if the
SYN carried them, then TSval/TSecr on every segment but an RST, TSecr echoing TS.Recent."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.tcp_pairs import client_of_kernel, connect_pair

from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpHarness, TcpPair

ts = TcpHarness.timestamp


# ----------------------------------------------------------------------------- SYN_SENT


def test_our_syn_offers_timestamps_with_a_clock_tsval_and_zero_tsecr() -> None:
    h = TcpHarness("CLOSED")
    h.advance(2.5)
    h.session.open_active()
    (syn,) = h.recv(h.expect("S", seq=h.local(0), mss=1460))
    assert ts(syn) == (2500, 0)  # the harness host has no rng: no offset, ms since 0


@pytest.mark.requirement("RFC9293:MUST-16", "RFC7323:3.2")
def test_synack_with_timestamps_turns_them_on_and_shrinks_the_mss() -> None:
    h = TcpHarness("CLOSED")
    h.session.open_active()
    h.take()
    h.advance(0.1)
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460, tsval=777, tsecr=0)
    h.assert_tcb(state="ESTABLISHED", ts_ok=True, ts_recent=777, snd_mss=1460 - 12)
    (ack,) = h.recv(h.expect(".", ack=h.remote(1)))
    assert ts(ack) == (100, 777)


def test_synack_without_timestamps_leaves_them_off() -> None:
    h = TcpHarness("CLOSED")
    h.session.open_active()
    h.take()
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460)
    h.assert_tcb(state="ESTABLISHED", ts_ok=False, snd_mss=1460)
    h.session.send(b"data")
    assert all(ts(seg) is None for seg in h.take())


def test_switched_off_neither_offered_nor_accepted() -> None:
    h = TcpHarness("CLOSED", config=TcpConfig(timestamps=False))
    h.session.open_active()
    (syn,) = h.take()
    assert ts(syn) is None
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460, tsval=5)
    h.assert_tcb(state="ESTABLISHED", ts_ok=False)
    (ack,) = h.take()
    assert ts(ack) is None


# ------------------------------------------------------------------ LISTEN -> SYN_RECEIVED


def test_syn_with_timestamps_gets_a_synack_echoing_its_tsval() -> None:
    h = TcpHarness("LISTEN")
    h.advance(1.0)
    h.send("S", seq=h.remote(0), mss=1460, tsval=4242)
    (synack,) = h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1), mss=1460))
    assert ts(synack) == (1000, 4242)
    h.send(".", seq=h.remote(1), ack=h.local(1), tsval=4243, tsecr=1000)
    h.assert_tcb(state="ESTABLISHED", ts_ok=True, ts_recent=4243, snd_mss=1448)
    h.session.send(b"x")
    (data,) = h.take()
    assert ts(data) == (1000, 4243)


def test_syn_without_timestamps_means_none_anywhere() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), mss=1460)
    (synack,) = h.recv(h.expect("S.", ack=h.remote(1)))
    assert ts(synack) is None
    h.send(".", seq=h.remote(1), ack=h.local(1))
    h.assert_tcb(state="ESTABLISHED", ts_ok=False, snd_mss=1460)
    h.session.send(b"hello")
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.session.close()
    h.advance(1.0)
    sent = h.take()
    assert sent and all(ts(seg) is None for seg in sent)


# --------------------------------------------------------------------------- ESTABLISHED


def test_tsecr_echoes_ts_recent_and_tsval_follows_the_clock() -> None:
    h = TcpHarness(ts_recent=50)
    h.advance(3.0)
    h.session.send(b"abc")
    (seg,) = h.take()
    assert ts(seg) == (3000, 50)


@pytest.mark.requirement("RFC7323:4.3")
def test_ts_recent_takes_a_segment_starting_at_last_ack_sent() -> None:
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a" * 100, tsval=60)
    h.assert_tcb(ts_recent=60)
    # RFC 7323 §4.3: an ACK-only segment at Last.ACK.sent updates TS.Recent too.
    h.session.send_ack()
    h.take()
    h.send(".", seq=h.remote(101), ack=h.local(1), tsval=61)
    h.assert_tcb(ts_recent=61)


def test_ts_recent_keeps_the_earliest_unacknowledged_segment_s_tsval() -> None:
    """With a delayed ACK, the ACK of two segments echoes the first one's TSval (RFC 7323
    §4.3 (2)): the second starts after Last.ACK.sent."""
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a" * 10, tsval=60)
    h.send(".", seq=h.remote(11), ack=h.local(1), payload=b"b" * 10, tsval=70)
    h.assert_tcb(ts_recent=60)
    h.advance(1.0)
    (ack,) = h.recv(h.expect(".", ack=h.remote(21)))
    assert ts(ack) == (200, 60)  # sent by the 0.2 s delayed-ACK timer


def test_ts_recent_ignores_out_of_order_older_and_unacceptable_segments() -> None:
    h = TcpHarness(ts_recent=50)
    h.send(".", seq=h.remote(101), ack=h.local(1), payload=b"z" * 10, tsval=90)  # a hole
    h.assert_tcb(ts_recent=50)
    (dup,) = h.take()
    assert ts(dup) == (0, 50)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a", tsval=40)  # older TSval
    h.assert_tcb(ts_recent=50)
    h.send(".", seq=h.remote(1) - 5000, ack=h.local(1), payload=b"old", tsval=99)
    h.assert_tcb(ts_recent=50)


def test_tsval_wraps_modulo_2_32_and_still_updates() -> None:
    h = TcpHarness(ts_recent=0xFFFFFFF0)
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a", tsval=5)
    h.assert_tcb(ts_recent=5)


def test_rst_carries_no_timestamps() -> None:
    h = TcpHarness(ts_recent=50)
    h.session.abort()
    (rst,) = h.recv(h.expect("R"))
    assert ts(rst) is None


# ------------------------------------------------------------------------- two stacks


def test_two_stacks_negotiate_with_random_offsets() -> None:
    pair = TcpPair()
    client, server = connect_pair(pair)
    a = client.session
    (b,) = server.sessions.values()
    assert a is not None
    assert a.ts_ok and b.ts_ok
    assert a.snd_mss == b.snd_mss == TcpConfig().mss - 12
    assert a.ts_offset != b.ts_offset  # RFC 7323 §7.1: drawn from each stack's rng
    a.send(b"x" * 5000)
    pair.run_until(lambda: b.readable >= 5000)
    # TS.Recent holds a TSval the client sent: its offset plus at most the elapsed ms.
    assert (a.ts_val() - b.ts_recent) % 2**32 < 10_000
    assert (b.ts_val() - a.ts_recent) % 2**32 < 10_000


# -------------------------------------------------------------------------- Linux kernel


@pytest.mark.root
def test_linux_answers_with_timestamps_and_we_echo_them() -> None:
    from pystack.lab import Lab
    from pystack.stack import PyStack
    from pystack.wire import tcp as tcpwire

    with Lab(mode="tap") as lab:
        stack = PyStack(link=lab.open_link(), ip=lab.stack_cidr)
        incoming: list[Any] = []
        outgoing: list[Any] = []
        try:
            stack.run(doreactor=False)
            original_in, original_out = stack.tcp.datagram_received, stack.tcp.transmit

            def spy_in(packet: bytes, meta: Any) -> None:
                incoming.append(tcpwire.parse(bytes(packet)))
                original_in(packet, meta)

            def spy_out(session: Any, seg: Any) -> None:
                outgoing.append(seg)
                original_out(session, seg)

            stack.tcp.datagram_received = spy_in
            stack.tcp.transmit = spy_out
            with client_of_kernel(lab, stack) as client:
                session = client.session
                assert session is not None and session.ts_ok
                synack = next(s for s in incoming if s.flags & tcpwire.SYN)
                kernel_ts = ts(synack)
                assert kernel_ts is not None  # Linux answers our TSopt (RFC 7323 §3.2)
                ack = outgoing[-1]
                assert not ack.flags & tcpwire.SYN and ts(ack) is not None
                assert ts(ack)[1] == kernel_ts[0]  # type: ignore[index]
                assert session.snd_mss == synack.mss - 12
        finally:
            stack.stop()


def test_two_full_sized_segments_with_timestamps_are_acked_at_once() -> None:
    # RFC 9293 §3.8.6.3 (SHOULD-18 / MUST-40): ACK at least every second full-sized
    # segment. With TSopt a full-sized segment carries MSS - 12 = 1448 bytes, which must
    # count as full-sized, or every ACK waits for the delayed-ACK timer.
    h = TcpHarness("CLOSED")
    h.session.open_active()
    h.take()
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460, tsval=777, tsecr=0)
    h.take()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"a" * 1448, tsval=778, tsecr=0)
    h.recv_nothing()  # the first one may wait
    h.send(".", seq=h.remote(1449), ack=h.local(1), payload=b"b" * 1448, tsval=778, tsecr=0)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(2897)))


def test_connections_between_two_hosts_share_a_tsval_offset() -> None:
    """As Linux's secure_tcp_ts_off: one offset per pair of addresses, so TSval keeps
    growing from one connection to the next (a SYN reopening TIME_WAIT passes PAWS)."""
    pair = TcpPair()
    layer = pair.layers[0]
    first = layer.connect(TcpPair.ADDRESSES[1], 7, local_port=40000)
    second = layer.connect(TcpPair.ADDRESSES[1], 7, local_port=40001)
    elsewhere = layer.connect("198.18.0.9", 7, local_port=40000)
    assert first.ts_offset == second.ts_offset != elsewhere.ts_offset
    assert pair.layers[1].ts_offset(TcpPair.ADDRESSES[1], TcpPair.ADDRESSES[0]) != (first.ts_offset)
