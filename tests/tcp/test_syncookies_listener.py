"""A listener's SYN queue and SYN cookies (RFC 4987 §3.6), segment by segment."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pystack.layers.tcp_session import TCPSession
from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.syncookies import TS_MASK
from pystack.testing.harness import PEER_META, REMOTE, TcpHarness
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import NOP, SackPermitted, Timestamp, WindowScale

ALWAYS = TcpConfig(syn_cookies="always")


def listener(config: TcpConfig = ALWAYS) -> tuple[TcpHarness, TCPSession]:
    h = TcpHarness("LISTEN", config=config)
    return h, h.session


def syn(h: TcpHarness, port: int = REMOTE[1], *, mss: int | None = 1460, ts: int | None = None,
        wscale: int | None = None, sack: bool = False) -> tcpwire.TcpSegment:  # fmt: skip
    options: tuple[Any, ...] = ()
    if sack:
        options += (NOP, NOP, SackPermitted())
    if wscale is not None:
        options += (NOP, WindowScale(wscale))
    seg = h.segment("S", seq=h.remote(0), mss=mss, options=options, tsval=ts)
    return dataclasses.replace(seg, src_port=port)


def final_ack(h: TcpHarness, synack: tcpwire.TcpSegment, *, payload: bytes = b"",
              tsval: int | None = None, ack_delta: int = 1) -> tcpwire.TcpSegment:  # fmt: skip
    tsopt = TcpHarness.timestamp(synack)
    tsecr = tsopt[0] if tsopt else 0
    seg = h.segment("P." if payload else ".", seq=h.remote(1), ack=synack.seq + ack_delta,
                    payload=payload, tsval=tsval, tsecr=tsecr)  # fmt: skip
    return dataclasses.replace(seg, src_port=synack.dst_port)


def child_of(h: TcpHarness) -> TCPSession:
    (child,) = h.host.children
    return child


@pytest.mark.requirement("RFC4987:3.6")
def test_cookie_synack_keeps_no_state_and_its_ack_opens_the_connection() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h, ts=777, wscale=7, sack=True), PEER_META)
    (synack,) = h.take()
    assert synack.flags == tcpwire.SYN | tcpwire.ACK and synack.ack == h.remote(1)
    assert synack.mss == 1460 and synack.wscale == ALWAYS.rcv_wscale and synack.sack_permitted
    tsval, tsecr = TcpHarness.timestamp(synack) or (None, None)
    assert tsecr == 777 and tsval is not None
    assert h.host.children == [] and lst.half_open == 0  # stateless
    assert h.host.events["syncookies_sent"] == 1
    h.advance(5)
    lst.segment_arrives(final_ack(h, synack, tsval=900), PEER_META)
    child = child_of(h)
    assert child.state == "ESTABLISHED" and child.passive
    snap = child.snapshot()
    assert snap["iss"] == synack.seq and snap["irs"] == h.remote(0)
    assert snap["snd_una"] == snap["snd_nxt"] == (synack.seq + 1) & 0xFFFFFFFF
    assert snap["rcv_nxt"] == h.remote(1)
    assert snap["snd_mss"] == 1460 - 12  # the table's 1460, less the timestamps option
    assert snap["snd_wscale"] == 7 and snap["rcv_wscale"] == ALWAYS.rcv_wscale
    assert snap["sack_ok"] and snap["ts_ok"] and snap["ts_recent"] == 900
    assert snap["snd_wnd"] == 65535 << 7
    assert h.host.events["syncookies_validated"] == 1
    assert lst.half_open == 0 and h.take() == []


def test_the_cookie_rounds_the_mss_down_to_the_table() -> None:
    for peer_mss, expected in ((1400, 1300), (1300, 1300), (1000, 536), (None, 536)):
        h, lst = listener()
        lst.segment_arrives(syn(h, mss=peer_mss), PEER_META)
        (synack,) = h.take()
        lst.segment_arrives(final_ack(h, synack), PEER_META)
        assert child_of(h).snd_mss == expected, peer_mss


def test_without_timestamps_a_cookie_carries_no_window_scale_or_sack() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h, wscale=7, sack=True), PEER_META)
    (synack,) = h.take()
    assert synack.wscale is None and not synack.sack_permitted
    assert TcpHarness.timestamp(synack) is None
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    snap = child_of(h).snapshot()
    assert (snap["snd_wscale"], snap["rcv_wscale"], snap["sack_ok"], snap["ts_ok"]) == (
        0, 0, False, False,
    )  # fmt: skip
    assert snap["snd_mss"] == 1460


def test_window_scale_and_sack_come_back_in_the_tsval_low_bits() -> None:
    for wscale, sack in ((None, False), (0, True), (14, False), (3, True)):
        h, lst = listener()
        lst.segment_arrives(syn(h, ts=5, wscale=wscale, sack=sack), PEER_META)
        (synack,) = h.take()
        tsval = (TcpHarness.timestamp(synack) or (0, 0))[0]
        assert tsval & 0xF == (0xF if wscale is None else wscale)
        assert bool(tsval & 0x10) == sack and tsval & TS_MASK == tsval & 0x3F
        lst.segment_arrives(final_ack(h, synack, tsval=6), PEER_META)
        snap = child_of(h).snapshot()
        assert snap["sack_ok"] == sack
        assert snap["snd_wscale"] == (0 if wscale is None else wscale)


def test_data_on_the_cookie_ack_is_delivered() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h), PEER_META)
    (synack,) = h.take()
    lst.segment_arrives(final_ack(h, synack, payload=b"GET / HTTP/1.0\r\n\r\n"), PEER_META)
    child = child_of(h)
    assert child.read() == b"GET / HTTP/1.0\r\n\r\n"
    assert child.snapshot()["rcv_nxt"] == h.remote(1 + 18)


def test_a_forged_cookie_gets_a_reset_and_is_counted() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h), PEER_META)
    (synack,) = h.take()
    bad = final_ack(h, synack, ack_delta=2)
    lst.segment_arrives(bad, PEER_META)
    h.recv(h.expect("R", seq=bad.ack))  # RFC 9293 §3.10.7.2: <SEQ=SEG.ACK><CTL=RST>
    assert h.host.children == [] and h.host.events["syncookies_failed"] == 1
    assert h.drops[TcpDrop.LISTEN_ACK] == 1


def test_a_cookie_from_another_port_or_secret_is_refused() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h), PEER_META)
    (synack,) = h.take()
    lst.segment_arrives(
        dataclasses.replace(final_ack(h, synack), src_port=REMOTE[1] + 1), PEER_META
    )
    h.host.cookie_secret = bytes(16)
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    assert h.host.children == [] and h.host.events["syncookies_failed"] == 2


def test_a_cookie_lives_two_counter_ticks() -> None:
    h, lst = listener()
    h.advance(59)  # made at the end of minute 0, used just before the end of minute 1
    lst.segment_arrives(syn(h), PEER_META)
    (synack,) = h.take()
    h.advance(60.9)
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    assert child_of(h).state == "ESTABLISHED"


def test_a_stale_cookie_is_refused() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h), PEER_META)
    (synack,) = h.take()
    h.advance(120)  # two ticks later
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    h.recv(h.expect("R", seq=(synack.seq + 1) & 0xFFFFFFFF))
    assert h.host.children == [] and h.host.events["syncookies_failed"] == 1


def test_overflow_mode_sends_cookies_only_once_the_syn_queue_is_full() -> None:
    h, lst = listener(TcpConfig(syn_backlog=2))
    for port in (40001, 40002):
        lst.segment_arrives(syn(h, port), PEER_META)
    assert lst.half_open == 2 and len(h.host.children) == 2
    assert h.host.events["syncookies_sent"] == 0
    lst.segment_arrives(syn(h, 40003), PEER_META)
    (synack,) = h.take()[-1:]
    assert lst.half_open == 2 and len(h.host.children) == 2  # no state for the third
    assert h.host.events["syncookies_sent"] == 1
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    assert h.host.children[-1].state == "ESTABLISHED" and h.host.children[-1].remote_port == 40003


def test_cookies_off_drops_syns_beyond_the_syn_queue() -> None:
    h, lst = listener(TcpConfig(syn_backlog=2, syn_cookies="off"))
    for port in (40001, 40002, 40003):
        lst.segment_arrives(syn(h, port), PEER_META)
    assert len(h.take()) == 2 and lst.half_open == 2
    assert h.drops[TcpDrop.SYN_QUEUE_FULL] == 1 and h.host.events["syncookies_sent"] == 0


def test_without_a_recent_overflow_an_ack_is_not_taken_as_a_cookie() -> None:
    h, lst = listener(TcpConfig(syn_backlog=1))
    lst.segment_arrives(syn(h, 40001), PEER_META)
    lst.segment_arrives(syn(h, 40002), PEER_META)
    synack = h.take()[-1]
    h.advance(121)  # Linux's tcp_synq_no_recent_overflow: no cookie sent for 2 minutes
    h.take()  # the half-open child's SYN,ACK retransmissions
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    h.recv(h.expect("R", seq=(synack.seq + 1) & 0xFFFFFFFF))
    assert h.host.events["syncookies_failed"] == 0  # not even checked


def test_a_full_accept_queue_drops_the_cookie_ack_without_a_reset() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h), PEER_META)
    (synack,) = h.take()
    lst.backlog = 1
    lst.accept_queue.append(lst)  # a connection waits for accept()
    lst.segment_arrives(final_ack(h, synack), PEER_META)
    h.recv_nothing()
    assert h.drops[TcpDrop.BACKLOG_FULL] == 1 and lst.half_open == 0
    assert h.host.children[-1] in h.host.forgotten


def test_synack_is_resent_five_times_then_the_half_open_connection_goes() -> None:
    h, lst = listener(TcpConfig())
    h.send("S", seq=h.remote(0))
    child = h.session
    h.take()
    resent = []
    while child.state == "SYN_RECEIVED" and h.clock.seconds() < 200:
        h.advance(0.5)
        resent += [(h.clock.seconds(), s) for s in h.take()]
    assert [s.flags for _, s in resent] == [tcpwire.SYN | tcpwire.ACK] * 5  # no RST
    assert [t for t, _ in resent] == [1.0, 3.0, 7.0, 15.0, 31.0]
    assert child.state == "CLOSED" and 63 <= h.clock.seconds() <= 63.5
    assert child in h.host.forgotten and lst.half_open == 0


def test_timestamps_echo_is_what_the_peer_sent() -> None:
    h, lst = listener()
    lst.segment_arrives(syn(h, ts=4242), PEER_META)
    (synack,) = h.take()
    assert Timestamp in {type(o) for o in synack.options}
    assert (TcpHarness.timestamp(synack) or (0, 0))[1] == 4242


def test_config_refuses_an_unknown_cookie_mode() -> None:
    import pytest

    with pytest.raises(ValueError, match="syn_cookies"):
        TcpConfig(syn_cookies="sometimes")
    with pytest.raises(ValueError):
        TcpConfig(synack_retries=-1)
