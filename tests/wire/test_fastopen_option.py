"""The TCP Fast Open option (kind 34, RFC 7413 §4.1.1) in the wire codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.testing.strategies import tcp_option_lists
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import FastOpen, UnknownOption, emit_options, parse_options

cookies = st.just(b"") | st.binary(min_size=4, max_size=16)


@given(cookie=cookies, before=tcp_option_lists())
def test_fastopen_round_trips_among_other_options(cookie: bytes, before: tuple) -> None:
    options = (*before, FastOpen(cookie))
    if len(emit_options(before)) + 2 + len(cookie) > 40:
        options = (FastOpen(cookie),)
    assert parse_options(emit_options(options)) == options


@given(cookie=cookies, payload=st.binary(max_size=64))
def test_segment_with_fastopen_round_trips(cookie: bytes, payload: bytes) -> None:
    seg = tcpwire.TcpSegment(1234, 80, 7, 0, tcpwire.SYN, 1000, payload, (FastOpen(cookie),))
    raw = tcpwire.emit(seg, "198.18.0.1", "198.18.0.2")
    assert tcpwire.parse(raw) == seg


def test_request_and_cookie_bytes() -> None:
    assert FastOpen().to_bytes() == b"\x22\x02" and FastOpen().is_request
    assert FastOpen(b"abcd").to_bytes() == b"\x22\x06abcd"
    assert parse_options(b"\x22\x02\x01\x01") == (FastOpen(b""), tcpwire.NOP, tcpwire.NOP)


@given(body=st.binary(min_size=1, max_size=3) | st.binary(min_size=17, max_size=30))
def test_bad_cookie_length_stays_raw(body: bytes) -> None:
    raw = bytes((34, 2 + len(body))) + body
    assert parse_options(raw) == (UnknownOption(34, body),)


@pytest.mark.parametrize("size", [1, 3, 17])
def test_emitting_a_bad_cookie_is_an_error(size: int) -> None:
    with pytest.raises(ValueError, match="4 to 16"):
        FastOpen(bytes(size)).to_bytes()
