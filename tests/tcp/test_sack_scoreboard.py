"""The SACK scoreboard on its own (RFC 6675 §4: Update, IsLost, SetPipe, NextSeg)."""

from __future__ import annotations

from pystack.tcp.sack import Scoreboard

MSS = 100
UNA = 2**32 - 250  # the 2**32 wrap falls inside the flight
MAX = (UNA + 1000) & 0xFFFFFFFF


def at(offset: int) -> int:
    return (UNA + offset) & 0xFFFFFFFF


def board_with(*ranges: tuple[int, int]) -> Scoreboard:
    board = Scoreboard()
    board.update(UNA, MAX, tuple((at(b), at(e)) for b, e in ranges))
    return board


def test_blocks_merge_and_count_only_new_bytes() -> None:
    board = board_with((100, 200))
    assert board.update(UNA, MAX, ((at(150), at(300)), (at(400), at(500)))) == 200
    assert board.ranges == [(at(100), at(300)), (at(400), at(500))]
    assert board.update(UNA, MAX, ((at(300), at(400)),)) == 100
    assert board.ranges == [(at(100), at(500))]


def test_a_hole_is_lost_with_three_ranges_or_more_than_two_segments_above() -> None:
    board = board_with((100, 200), (300, 400), (500, 600))
    assert board.holes(UNA, MSS) == [
        (at(0), at(100), True), (at(200), at(300), False), (at(400), at(500), False),
    ]  # fmt: skip
    board = board_with((100, 350))
    assert board.holes(UNA, MSS) == [(at(0), at(100), True)]


def test_pipe_counts_unsacked_unlost_bytes_and_retransmissions() -> None:
    board = board_with((100, 200), (300, 400), (500, 600))
    # 1000 in flight, 300 SACKed, the first hole (100) lost: 600.
    assert board.pipe(UNA, MAX, MSS) == 600
    board.retransmitted(at(0), 100, UNA)
    assert board.pipe(UNA, MAX, MSS) == 700


def test_next_retransmission_prefers_lost_holes_and_moves_past_high_rxt() -> None:
    board = board_with((100, 200), (300, 400), (500, 600))
    assert board.next_retransmission(UNA, MSS) == (at(0), 100, True)
    board.retransmitted(at(0), 100, UNA)
    assert board.next_retransmission(UNA, MSS) == (at(200), 100, False)
    board.retransmitted(at(200), 100, UNA)
    board.retransmitted(at(400), 100, UNA)
    assert board.next_retransmission(UNA, MSS) is None


def test_an_advancing_ack_drops_what_it_covers() -> None:
    board = board_with((100, 200), (300, 400))
    board.update(at(250), MAX, ())
    assert board.ranges == [(at(300), at(400))]
    assert board.sacked_bytes(at(250)) == 100
    board.update(at(400), MAX, ())
    assert not board


def test_clear_forgets_everything() -> None:
    board = board_with((100, 200))
    board.retransmitted(at(0), 100, UNA)
    board.clear()
    assert not board and board.high_rxt is None
