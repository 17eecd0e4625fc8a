"""The SYN cookie codec (RFC 4987 §3.6, Linux's layout): round trips and refusals."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from pystack.tcp.syncookies import (
    MAX_AGE,
    MSS_TABLE,
    PERIOD,
    CookieOptions,
    check_cookie,
    counter,
    decode_ts,
    encode_ts,
    make_cookie,
    mss_index,
)

u32 = st.integers(0, 2**32 - 1)
secrets = st.binary(min_size=16, max_size=16)
ips = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ports = st.integers(1, 65535)
tuples = st.tuples(ips, ports, ips, ports)
indexes = st.integers(0, len(MSS_TABLE) - 1)
counts = st.integers(0, 2**32 - 1)
options = st.builds(
    CookieOptions, st.one_of(st.none(), st.integers(0, 14)), st.booleans(), st.booleans()
)


@given(secrets, tuples, u32, indexes, counts, st.integers(0, MAX_AGE - 1))
def test_a_cookie_decodes_to_its_mss_index_while_fresh(
    secret: bytes, four: tuple[str, int, str, int], isn: int, index: int, count: int, age: int
) -> None:
    cookie = make_cookie(secret, four, isn, index, count)
    assert 0 <= cookie < 2**32
    assert check_cookie(secret, four, isn, cookie, (count + age) & 0xFFFFFFFF) == index


@given(secrets, tuples, u32, indexes, counts, st.integers(MAX_AGE, 255))
def test_a_stale_cookie_is_refused(
    secret: bytes, four: tuple[str, int, str, int], isn: int, index: int, count: int, age: int
) -> None:
    cookie = make_cookie(secret, four, isn, index, count)
    assert check_cookie(secret, four, isn, cookie, (count + age) & 0xFFFFFFFF) is None


@given(secrets, secrets, tuples, u32, indexes, counts)
def test_a_cookie_under_another_secret_is_refused(
    secret: bytes, other: bytes, four: tuple[str, int, str, int], isn: int, index: int,
    count: int,
) -> None:  # fmt: skip
    assume(secret != other)
    cookie = make_cookie(secret, four, isn, index, count)
    assert check_cookie(other, four, isn, cookie, count) is None


@given(secrets, tuples, ports, u32, indexes, counts)
def test_a_cookie_for_another_port_is_refused(
    secret: bytes, four: tuple[str, int, str, int], port: int, isn: int, index: int,
    count: int,
) -> None:  # fmt: skip
    assume(port != four[3])
    cookie = make_cookie(secret, four, isn, index, count)
    assert check_cookie(secret, (*four[:3], port), isn, cookie, count) is None


@given(secrets, tuples, u32, indexes, counts, st.integers(len(MSS_TABLE), 2**24 - len(MSS_TABLE)))
def test_the_peer_isn_is_added_in_so_another_isn_is_refused(
    secret: bytes, four: tuple[str, int, str, int], isn: int, index: int, count: int,
    delta: int,
) -> None:  # fmt: skip
    # As in Linux, SEG.SEQ - 1 enters the cookie by addition, outside the hash: an ISN off
    # by less than the table's size would shift the MSS index; any other is refused.
    cookie = make_cookie(secret, four, isn, index, count)
    assert check_cookie(secret, four, (isn + delta) & 0xFFFFFFFF, cookie, count) is None


@given(secrets, tuples, u32, counts, u32)
def test_a_guessed_cookie_is_refused(
    secret: bytes, four: tuple[str, int, str, int], isn: int, count: int, guess: int
) -> None:
    # 4 good values in 2**24 per counter: a guess that passes is a one in ~2 million event.
    fresh = {make_cookie(secret, four, isn, i, c) for i in range(4) for c in (count, count - 1)}
    assume(guess not in fresh)
    assert check_cookie(secret, four, isn, guess, count) is None


@given(u32, options)
def test_options_round_trip_through_the_tsval(ts_now: int, opts: CookieOptions) -> None:
    tsval = encode_ts(ts_now, opts)
    assert decode_ts(tsval) == opts
    behind = (ts_now - tsval) & 0xFFFFFFFF
    assert 0 <= behind < 64  # never ahead of the clock, never more than one step behind


def test_no_window_scale_is_fifteen_in_the_low_nibble() -> None:
    assert encode_ts(0x1000, CookieOptions(None, True, True)) & 0x3F == 0x3F
    assert decode_ts(0x2F) == CookieOptions(None, False, True)


@given(st.integers(88, 65535))
def test_mss_index_names_the_largest_table_entry_not_above(mss: int) -> None:
    index = mss_index(mss)
    if mss >= MSS_TABLE[0]:
        assert MSS_TABLE[index] <= mss
    else:
        assert index == 0
    assert all(entry > mss for entry in MSS_TABLE[index + 1 :])


def test_counter_ticks_once_a_minute() -> None:
    assert counter(0.0) == counter(PERIOD - 0.001) == 0
    assert counter(PERIOD) == 1 and counter(10 * PERIOD + 1) == 10


def test_make_cookie_refuses_an_index_outside_the_table() -> None:
    import pytest

    with pytest.raises(ValueError):
        make_cookie(bytes(16), ("198.18.0.1", 80, "198.18.0.2", 4000), 0, len(MSS_TABLE), 0)
