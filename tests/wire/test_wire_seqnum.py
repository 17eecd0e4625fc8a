"""SeqNum: modulo 2**32 arithmetic and RFC 9293 §3.4 comparisons."""

from __future__ import annotations

import pytest

from pystack.wire.seqnum import SeqNum

TOP = 2**32 - 1


def test_addition_wraps_around() -> None:
    assert SeqNum(TOP) + 1 == SeqNum(0)
    assert SeqNum(0) - 1 == SeqNum(TOP)
    assert int(SeqNum(2**32 + 7)) == 7


def test_difference_is_signed_distance_across_the_wrap() -> None:
    assert SeqNum(5) - SeqNum(TOP) == 6
    assert SeqNum(TOP) - SeqNum(5) == -6


def test_comparisons_are_modular() -> None:
    assert SeqNum(TOP - 10) < SeqNum(3)
    assert SeqNum(3) > SeqNum(TOP - 10)
    assert SeqNum(3) <= SeqNum(3) and SeqNum(3) >= SeqNum(3)
    assert not SeqNum(3) < SeqNum(3)


def test_exactly_half_apart_is_before_both_ways_like_linux() -> None:
    a, b = SeqNum(0), SeqNum(2**31)
    assert a < b and b < a


def test_ordering_against_plain_int_is_refused() -> None:
    with pytest.raises(TypeError, match="SeqNum"):
        _ = SeqNum(1) < 2


def test_equality_with_int_and_hash() -> None:
    assert SeqNum(7) == 7
    assert SeqNum(7) != 2**32 + 7  # equal objects must hash alike
    assert {SeqNum(7): "x"}[SeqNum(2**32 + 7)] == "x"


def test_immutable() -> None:
    s = SeqNum(1)
    with pytest.raises(AttributeError):
        s.value = 2


def test_in_window_across_wrap() -> None:
    start = SeqNum(TOP - 1)
    assert SeqNum(TOP).in_window(start, 4)
    assert SeqNum(1).in_window(start, 4)
    assert not SeqNum(2).in_window(start, 4)
    assert not SeqNum(TOP).in_window(start, 0)
