"""SendBuffer and RecvBuffer: the bytes a TCP connection holds for and from the app."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.tcp.buffers import RecvBuffer, SendBuffer


def test_send_buffer_peeks_by_offset_from_snd_una() -> None:
    buf = SendBuffer()
    assert buf.append(b"hello ") == 6
    assert buf.append(b"world") == 5
    assert buf.peek(0, 5) == b"hello"
    assert buf.peek(6, 100) == b"world"
    buf.ack(6)
    assert buf.peek(0, 5) == b"world"
    assert len(buf) == 5


def test_send_buffer_capacity_takes_what_fits() -> None:
    buf = SendBuffer(capacity=4)
    assert buf.append(b"abcdef") == 4
    assert buf.free == 0
    assert buf.append(b"x") == 0
    buf.ack(3)
    assert buf.append(b"xyz") == 3
    assert buf.peek(0, 10) == b"dxyz"


def test_send_buffer_rejects_acking_more_than_queued() -> None:
    buf = SendBuffer()
    buf.append(b"ab")
    with pytest.raises(ValueError):
        buf.ack(3)
    with pytest.raises(ValueError):
        buf.peek(-1, 1)


def test_recv_buffer_window_follows_reads() -> None:
    buf = RecvBuffer(capacity=10)
    assert buf.window == 10
    assert buf.push(b"abcdef") == 6
    assert buf.window == 4
    assert buf.push(b"ghijkl") == 4  # only what the window allowed
    assert buf.window == 0
    assert buf.read(3) == b"abc"
    assert buf.window == 3
    assert buf.read_all() == b"defghij"
    assert buf.window == 10
    assert buf.read() == b""


@pytest.mark.requirement("RFC9293:MUST-39")
def test_window_update_waits_for_half_the_buffer_or_one_mss() -> None:
    buf = RecvBuffer(capacity=10_000)
    buf.push(b"x" * 10_000)
    buf.read(500)
    assert not buf.window_update_due(advertised=0, mss=1460)
    buf.read(1000)
    assert buf.window_update_due(advertised=0, mss=1460)


def test_streaming_50_mb_through_send_buffer_is_linear() -> None:
    buf = SendBuffer()
    chunk = b"z" * 65536
    start = time.perf_counter()
    for _ in range(800):  # 50 MiB
        buf.append(chunk)
        while len(buf) > 200_000:
            buf.peek(0, 1448)
            buf.ack(1448)
    elapsed = time.perf_counter() - start
    # Quadratic copying would take minutes; linear takes well under a second here.
    assert elapsed < 10


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("append"), st.binary(max_size=300)),
            st.tuples(st.just("ack"), st.integers(0, 400)),
        ),
        max_size=60,
    )
)
def test_send_buffer_matches_a_plain_bytes_model(ops: list[tuple[str, object]]) -> None:
    buf = SendBuffer(capacity=1000)
    model = b""
    for op, arg in ops:
        if op == "append":
            assert isinstance(arg, bytes)
            taken = buf.append(arg)
            assert taken == min(len(arg), 1000 - len(model))
            model += arg[:taken]
        else:
            assert isinstance(arg, int)
            n = min(arg, len(model))
            buf.ack(n)
            model = model[n:]
        assert len(buf) == len(model)
        assert buf.peek(0, len(model) + 5) == model
        assert buf.peek(len(model) // 2, 7) == model[len(model) // 2 :][:7]


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.binary(max_size=300)),
            st.tuples(st.just("read"), st.integers(0, 400)),
        ),
        max_size=60,
    )
)
def test_recv_buffer_delivers_in_order_and_window_plus_buffered_is_capacity(
    ops: list[tuple[str, object]],
) -> None:
    buf = RecvBuffer(capacity=500)
    stored = b""
    read = b""
    for op, arg in ops:
        if op == "push":
            assert isinstance(arg, bytes)
            stored += arg[: buf.push(arg)]
        else:
            assert isinstance(arg, int)
            read += buf.read(arg)
        assert buf.window + len(buf) == 500
        assert stored.startswith(read)
    assert read + buf.read_all() == stored


@given(
    data=st.binary(max_size=64),
    n=st.integers(min_value=0, max_value=80),
    after=st.integers(min_value=0, max_value=80),
)
def test_recv_buffer_discard_leaves_what_read_leaves(data: bytes, n: int, after: int) -> None:
    read, dropped = RecvBuffer(128), RecvBuffer(128)
    read.push(data)
    dropped.push(data)
    read.read(n, after)
    dropped.discard(n, after)
    assert dropped.peek() == read.peek() and dropped.window == read.window


def _payload(size: int, tag: int) -> bytes:
    return bytes((tag + i) % 251 for i in range(size))


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.integers(0, 5000), st.integers(0, 250)),
            st.tuples(
                st.sampled_from(["read", "discard", "peek"]),
                st.integers(0, 9000),
                st.integers(0, 3000),
            ),
            st.tuples(st.just("read_all"), st.just(0), st.just(0)),
        ),
        max_size=40,
    )
)
def test_recv_buffer_matches_a_plain_bytes_model_for_every_operation(
    ops: list[tuple[str, int, int]],
) -> None:
    # Chunks both sides of the size below which arrivals are joined, bytes kept in front
    # (``after``) and reads that end inside, at or past a chunk's end.
    buf, model = RecvBuffer(capacity=20_000), b""
    for op, a, b in ops:
        if op == "push":
            data = _payload(a, b)
            taken = buf.push(data)
            assert taken == min(a, 20_000 - len(model))
            model += data[:taken]
        elif op == "read_all":
            assert buf.read_all() == model
            model = b""
        elif op == "peek":
            assert buf.peek(a, after=b) == model[b : b + a]
            assert buf.peek(after=b) == model[b:]
        else:
            n = min(a, max(len(model) - b, 0))
            if op == "read":
                assert buf.read(a, after=b) == model[b : b + n]
            else:
                buf.discard(a, after=b)
            model = model[:b] + model[b + n :]
        assert len(buf) == len(model) and buf.window == 20_000 - len(model)
    assert buf.read_all() == model


def test_a_whole_arrival_reaches_the_reader_uncopied() -> None:
    buf = RecvBuffer(capacity=1 << 20)
    payload = _payload(65_000, 7)
    buf.push(payload)
    assert buf.peek() is payload  # the reader gets the parser's own object
    buf.discard(65_000)
    assert len(buf) == 0 and buf.window == 1 << 20
