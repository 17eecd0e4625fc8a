"""RFC 6528 initial sequence numbers: a 4 µs clock plus a keyed hash of the 4-tuple."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.tcp.isn import IsnGenerator

MOD = 2**32
TUPLE = ("198.18.0.1", 40000, "198.18.0.2", 80)

ports = st.integers(0, 65535)
ips = st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda t: f"198.18.{t[0]}.{t[1]}")
tuples = st.tuples(ips, ports, ips, ports)
secrets = st.binary(min_size=16, max_size=32)


@pytest.mark.requirement("RFC9293:MUST-8")
def test_isn_advances_one_tick_every_four_microseconds() -> None:
    clock = Clock()
    gen = IsnGenerator(clock, secret=b"k" * 16)
    first = gen.isn(*TUPLE)
    clock.advance(1.0)
    assert (gen.isn(*TUPLE) - first) % MOD == 250_000


def test_same_seeded_rng_gives_the_same_isns() -> None:
    a = IsnGenerator(Clock(), rng=random.Random(7))
    b = IsnGenerator(Clock(), rng=random.Random(7))
    c = IsnGenerator(Clock(), rng=random.Random(8))
    assert a(*TUPLE) == b(*TUPLE)
    assert a(*TUPLE) != c(*TUPLE)


@pytest.mark.requirement("RFC9293:MUST-9")
def test_default_secret_comes_from_the_os() -> None:
    assert IsnGenerator(Clock()).isn(*TUPLE) != IsnGenerator(Clock()).isn(*TUPLE)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        IsnGenerator(Clock(), secret=b"short")


@given(
    secret=secrets,
    tup=tuples,
    start=st.floats(0, 1e6),
    gaps=st.lists(st.floats(0, 1000), min_size=1, max_size=10),
)
@pytest.mark.requirement("RFC9293:MUST-8")
def test_isns_of_one_tuple_move_forward_with_time(
    secret: bytes, tup: tuple[str, int, str, int], start: float, gaps: list[float]
) -> None:
    # RFC 9293 §3.4.1: a new incarnation starts ahead of the old one's ISN
    # (modulo 2**32, for gaps well under the 4.7 hour wrap of the ISN clock).
    clock = Clock()
    clock.advance(start)
    gen = IsnGenerator(clock, secret=secret)
    previous = gen.isn(*tup)
    for gap in gaps:
        clock.advance(gap)
        current = gen.isn(*tup)
        assert 0 <= (current - previous) % MOD <= int(gap * 250_000) + 1
        assert 0 <= current < MOD
        previous = current


@given(tup_a=tuples, tup_b=tuples, seed=st.integers(0, 2**32))
@pytest.mark.requirement("RFC9293:SHLD-1", "RFC9293:MUST-9")
def test_own_isn_does_not_predict_another_tuples_isn(
    tup_a: tuple[str, int, str, int], tup_b: tuple[str, int, str, int], seed: int
) -> None:
    # An attacker sees the ISN of tuple A (their connection) and wants B's. Across keys the
    # offset ISN(B) - ISN(A) must be spread out, not a constant.
    if tup_a == tup_b:
        return
    rng = random.Random(seed)
    offsets = set()
    for _ in range(64):
        gen = IsnGenerator(Clock(), rng=rng)
        offsets.add((gen.isn(*tup_b) - gen.isn(*tup_a)) % MOD)
    assert len(offsets) >= 60


@given(tup=tuples, secret_a=secrets, secret_b=secrets)
@pytest.mark.requirement("RFC9293:SHLD-1")
def test_different_secrets_give_unrelated_isns(
    tup: tuple[str, int, str, int], secret_a: bytes, secret_b: bytes
) -> None:
    if secret_a[:64] == secret_b[:64]:
        return
    a = IsnGenerator(Clock(), secret=secret_a)
    b = IsnGenerator(Clock(), secret=secret_b)
    # A 2**-32 chance of a collision: hypothesis would not find it by search on blake2b.
    assert a.isn(*tup) != b.isn(*tup)


def test_successive_ephemeral_ports_give_scattered_isns() -> None:
    # Successive client connections differ in their source port: ISNs then look random.
    gen = IsnGenerator(Clock(), rng=random.Random(1))
    isns = [gen.isn("198.18.0.1", port, "198.18.0.2", 80) for port in range(49152, 49152 + 256)]
    diffs = {(b - a) % MOD for a, b in itertools.pairwise(isns)}
    assert len(diffs) == len(isns) - 1
    # Spread over the whole space: both halves of the top bit appear often.
    high = sum(1 for isn in isns if isn >= MOD // 2)
    assert 64 < high < 192
