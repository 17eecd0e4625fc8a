"""SACK (RFC 2018) and SACK-based loss recovery (RFC 6675): negotiation on the SYNs, the
receiver's blocks, the sender resending only what the peer reports missing."""

from __future__ import annotations

import pytest

from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import NOP, Mss, Sack, SackPermitted, Timestamp, WindowScale


def sack_harness(**kw: object) -> TcpHarness:
    """An ESTABLISHED session that negotiated SACK (the harness builds it without)."""
    h = TcpHarness("ESTABLISHED", **kw)  # type: ignore[arg-type]
    h.session.sack_ok = True
    h.session.cc.sack = True
    return h


def blocks(seg: tcpwire.TcpSegment) -> tuple[tuple[int, int], ...]:
    return seg.sack_blocks


# ------------------------------------------------------------------------- negotiation


def test_our_syn_offers_sack_permitted_in_linux_option_layout() -> None:
    h = TcpHarness("CLOSED")
    h.session.open_active()
    (syn,) = h.take()
    shift = h.session.rcv_wscale
    assert syn.options == (Mss(1460), SackPermitted(), Timestamp(0, 0), NOP, WindowScale(shift))
    assert len(tcpwire.emit(syn, "198.18.0.1", "198.18.0.2")) == 20 + 20


def test_without_timestamps_sack_permitted_still_goes_on_the_syn() -> None:
    h = TcpHarness("CLOSED", config=TcpConfig(timestamps=False))
    h.session.open_active()
    (syn,) = h.take()
    assert syn.sack_permitted and syn.timestamp is None


def test_synack_with_sack_permitted_turns_sack_on() -> None:
    h = TcpHarness("CLOSED")
    h.session.open_active()
    h.take()
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460, options=(SackPermitted(),))
    h.assert_tcb(state="ESTABLISHED", sack_ok=True)


def test_synack_without_sack_permitted_leaves_sack_off() -> None:
    h = TcpHarness("CLOSED")
    h.session.open_active()
    h.take()
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460)
    h.assert_tcb(state="ESTABLISHED", sack_ok=False)


def test_listener_answers_sack_permitted_only_to_a_syn_that_offers_it() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), mss=1460, options=(SackPermitted(),))
    (synack,) = h.recv(h.expect("S.", ack=h.remote(1)))
    assert synack.sack_permitted and h.session.sack_ok
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0), mss=1460)
    (synack,) = h.recv(h.expect("S.", ack=h.remote(1)))
    assert not synack.sack_permitted and not h.session.sack_ok


def test_switched_off_sack_is_neither_offered_nor_accepted() -> None:
    h = TcpHarness("CLOSED", config=TcpConfig(sack=False))
    h.session.open_active()
    (syn,) = h.take()
    assert not syn.sack_permitted
    h.send("S.", seq=h.remote(0), ack=h.local(1), mss=1460, options=(SackPermitted(),))
    h.assert_tcb(state="ESTABLISHED", sack_ok=False)


# ---------------------------------------------------------------------------- receiver


@pytest.mark.requirement("RFC2018:4")
def test_out_of_order_segment_is_acked_with_its_block() -> None:
    h = sack_harness()
    h.send(".", seq=h.remote(101), ack=h.local(1), payload=b"b" * 100)
    (ack,) = h.recv(h.expect(".", ack=h.remote(1)))
    assert blocks(ack) == ((h.remote(101), h.remote(201)),)


def test_latest_block_first_then_the_previously_reported_ones() -> None:
    h = sack_harness()
    for start in (101, 301, 501):
        h.send(".", seq=h.remote(start), ack=h.local(1), payload=b"x" * 100)
    *_, ack = h.take()
    assert blocks(ack) == (
        (h.remote(501), h.remote(601)), (h.remote(301), h.remote(401)),
        (h.remote(101), h.remote(201)),
    )  # fmt: skip
    # Filling the gap between two blocks merges them, and the merged block comes first.
    h.send(".", seq=h.remote(201), ack=h.local(1), payload=b"x" * 100)
    (ack,) = h.take()
    assert blocks(ack) == ((h.remote(101), h.remote(401)), (h.remote(501), h.remote(601)))


def test_at_most_three_blocks_beside_timestamps_four_without() -> None:
    for ts_recent, limit in ((5, 3), (None, 4)):
        h = sack_harness(ts_recent=ts_recent)
        for start in (101, 301, 501, 701, 901):
            tsval = None if ts_recent is None else 6
            h.send(".", seq=h.remote(start), ack=h.local(1), payload=b"x" * 100, tsval=tsval)
        *_, ack = h.take()
        assert len(blocks(ack)) == limit
        assert blocks(ack)[0] == (h.remote(901), h.remote(1001))


def test_no_blocks_once_the_hole_is_filled() -> None:
    h = sack_harness()
    h.send(".", seq=h.remote(101), ack=h.local(1), payload=b"x" * 100)
    h.take()
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"x" * 100)
    (ack,) = h.recv(h.expect(".", ack=h.remote(201)))
    assert blocks(ack) == ()


def test_no_blocks_without_sack_negotiated() -> None:
    h = TcpHarness("ESTABLISHED")
    h.send(".", seq=h.remote(101), ack=h.local(1), payload=b"x" * 100)
    (ack,) = h.take()
    assert blocks(ack) == ()


def test_data_segments_shrink_to_make_room_for_blocks() -> None:
    h = sack_harness()
    h.send(".", seq=h.remote(101), ack=h.local(1), payload=b"x" * 100)
    h.take()
    h.session.send(bytes(3000))
    sent = h.take()
    assert sent and all(blocks(s) for s in sent)
    assert all(len(s.payload) + 4 + 8 * 4 <= h.session.snd_mss for s in sent)


# ------------------------------------------------------------------------------ sender


def _ten_segments(h: TcpHarness) -> list[int]:
    mss = h.session.snd_mss
    h.session.send(bytes(10 * mss))
    starts = [s.seq for s in h.take()]
    assert starts == [h.local(1 + k * mss) for k in range(10)]
    return starts


def _sack(h: TcpHarness, *ranges: tuple[int, int]) -> list[tcpwire.TcpSegment]:
    """The peer's ACK of nothing new, SACKing segments [first, last) (indexes)."""
    mss = h.session.snd_mss
    sack = Sack(tuple((h.local(1 + a * mss), h.local(1 + b * mss)) for a, b in ranges))
    h.send(".", seq=h.remote(1), ack=h.local(1), options=(NOP, NOP, sack))
    return [s for s in h.take() if s.payload]


@pytest.mark.requirement("RFC6675:5", "RFC9293:MUST-5")
def test_only_the_holes_are_retransmitted_never_sacked_data() -> None:
    h = sack_harness()
    starts = _ten_segments(h)
    # Segments 0 and 3 are lost; the peer reports the others as they arrive.
    assert _sack(h, (1, 2)) == [] and _sack(h, (1, 3)) == []
    (rexmit,) = _sack(h, (4, 5), (1, 3))  # the third duplicate: fast retransmit
    assert rexmit.seq == starts[0] and len(rexmit.payload) == h.session.snd_mss
    assert h.session.cc.in_recovery
    resent = [s.seq for n in (6, 7, 8, 9, 10) for s in _sack(h, (4, n), (1, 3))]
    assert resent == [starts[3]]  # once, and nothing the peer holds
    mss = h.session.snd_mss
    h.send(".", seq=h.remote(1), ack=h.local(1 + 10 * mss))
    assert not h.session.cc.in_recovery
    assert h.session.snapshot()["rexmit_bytes"] == 2 * mss


def test_blocks_outside_the_unacknowledged_data_are_ignored() -> None:
    h = sack_harness()
    _ten_segments(h)
    mss = h.session.snd_mss
    beyond = Sack(((h.local(1 + 10 * mss), h.local(1 + 12 * mss)),))
    h.send(".", seq=h.remote(1), ack=h.local(1), options=(NOP, NOP, beyond))
    assert not h.session.scoreboard
    stale = Sack(((h.local(1 - 500), h.local(1)),))
    h.send(".", seq=h.remote(1), ack=h.local(1), options=(NOP, NOP, stale))
    assert not h.session.scoreboard


@pytest.mark.requirement("RFC2018:8")
def test_timeout_clears_the_scoreboard_but_sacked_data_stays_queued() -> None:
    h = sack_harness()
    _ten_segments(h)
    mss = h.session.snd_mss
    _sack(h, (1, 10))
    assert h.session.scoreboard
    h.advance(h.session.rtt.rto + 0.01)
    assert not h.session.scoreboard  # RFC 2018 §8: the peer may renege
    assert len(h.session.sndbuf) == 10 * mss  # nothing freed before the cumulative ACK
    assert h.take()[0].seq == h.local(1)
