"""Properties of the personality building blocks: IP ID sequences and option layouts."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.personality import PERSONALITIES, Personality, resolve
from pystack.personality.base import OPTION_LAYOUTS
from pystack.personality.ip import DatagramShaper
from pystack.personality.ipid import PER_HOST_LIMIT, RANDOM_STEP, SEQUENCES, make_sequence
from pystack.personality.tcp import layout_options
from pystack.wire.ipv4 import FLAG_DF, Ipv4Packet
from pystack.wire.tcp_options import (
    MAX_OPTIONS_LEN,
    Mss,
    SackPermitted,
    Timestamp,
    WindowScale,
    emit_options,
    parse_options,
)

seeds = st.integers(0, 2**32)
hosts = st.lists(st.sampled_from(["198.18.0.1", "198.18.0.2", "198.18.0.3"]), min_size=2,
                 max_size=60)  # fmt: skip


def step(a: int, b: int) -> int:
    return (b - a) % 65536


@given(seeds, hosts)
def test_every_sequence_gives_16_bit_ids(seed: int, dsts: list[str]) -> None:
    for name in SEQUENCES:
        next_id = make_sequence(name, random.Random(seed))
        assert all(0 <= next_id(d) <= 0xFFFF for d in dsts)


@given(seeds, hosts)
def test_incremental_counts_every_datagram(seed: int, dsts: list[str]) -> None:
    next_id = make_sequence("incremental", random.Random(seed))
    ids = [next_id(d) for d in dsts]
    assert all(step(a, b) == 1 for a, b in itertools.pairwise(ids))


@given(seeds, hosts)
def test_per_host_counts_each_destination_apart(seed: int, dsts: list[str]) -> None:
    next_id = make_sequence("per-host", random.Random(seed))
    last: dict[str, int] = {}
    for d in dsts:
        ident = next_id(d)
        if d in last:
            assert step(last[d], ident) == 1  # other hosts' datagrams do not show
        last[d] = ident


@given(seeds, hosts)
def test_zero_random_and_random_increment(seed: int, dsts: list[str]) -> None:
    zero = make_sequence("zero", random.Random(seed))
    assert {zero(d) for d in dsts} == {0}
    rand = make_sequence("random", random.Random(seed))
    assert 0 not in {rand(d) for d in dsts}  # 0 would read as nmap's Z class
    inc = make_sequence("random-increment", random.Random(seed))
    ids = [inc(d) for d in dsts]
    lo, hi = RANDOM_STEP
    assert all(lo <= step(a, b) <= hi for a, b in itertools.pairwise(ids))


class FixedStart(random.Random):
    def randrange(self, *args: int) -> int:  # type: ignore[override]
        return 1000


def test_per_host_forgets_the_oldest_beyond_its_limit() -> None:
    next_id = make_sequence("per-host", FixedStart())
    assert [next_id("198.18.0.1"), next_id("198.18.0.1")] == [1000, 1001]
    for n in range(PER_HOST_LIMIT - 1):
        next_id(f"10.0.{n >> 8}.{n & 255}")
    assert next_id("198.18.0.1") == 1002  # still remembered
    for n in range(PER_HOST_LIMIT):
        next_id(f"10.1.{n >> 8}.{n & 255}")
    assert next_id("198.18.0.1") == 1000  # forgotten: a fresh start


def test_unknown_sequence_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: incremental, per-host, zero"):
        make_sequence("fibonacci", random.Random())
    with pytest.raises(ValueError, match="unknown IP ID sequence"):
        Personality("x", "X", "x", ipid_icmp="fibonacci")


@given(
    st.sampled_from(OPTION_LAYOUTS), st.integers(88, 65495) | st.none(),
    st.integers(0, 14) | st.none(), st.booleans(),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)) | st.none(),
)  # fmt: skip
def test_layouts_carry_each_option_once_and_fit(
    layout: str, mss: int | None, ws: int | None, sack: bool, ts: tuple[int, int] | None
) -> None:
    options = layout_options(layout, mss, ws, sack, ts)
    raw = emit_options(options)
    assert len(raw) <= MAX_OPTIONS_LEN and len(raw) % 4 == 0
    parsed = parse_options(raw)  # the wire form reads back to the same values
    assert [o for o in parsed if type(o) is Mss] == ([Mss(mss)] if mss is not None else [])
    assert [o for o in parsed if type(o) is WindowScale] == (
        [WindowScale(ws)] if ws is not None else []
    )
    assert sum(type(o) is SackPermitted for o in parsed) == int(sack)
    assert [o for o in parsed if type(o) is Timestamp] == ([Timestamp(*ts)] if ts else [])


def test_resolve_takes_names_any_case_and_instances() -> None:
    windows = resolve("Windows")
    assert resolve(windows) is windows and windows.family == "Windows"


@given(
    st.sampled_from(sorted(PERSONALITIES)), st.sampled_from([1, 6, 17]),
    st.binary(min_size=0, max_size=40), st.booleans(), seeds,
)  # fmt: skip
def test_the_shaper_sets_df_and_id_by_kind(
    name: str, proto: int, payload: bytes, df: bool, seed: int
) -> None:
    p = PERSONALITIES[name]
    shape = DatagramShaper(p, random.Random(seed))
    pkt = Ipv4Packet("198.18.0.1", "198.18.0.2", proto, payload, ttl=33,
                     flags=FLAG_DF if df else 0)  # fmt: skip
    out = shape(pkt)
    assert (out.src, out.dst, out.proto, out.payload, out.ttl) == (
        pkt.src, pkt.dst, pkt.proto, pkt.payload, 33,
    )  # fmt: skip
    assert 0 <= out.ident <= 0xFFFF
    if proto == 6:
        assert bool(out.flags & FLAG_DF) == p.tcp_df
        flags = payload[13] if len(payload) > 13 else 0
        reply = flags & 0x04 or flags & 0x12 == 0x12  # RST, or SYN and ACK
        if (p.ipid_tcp_reply if reply else p.ipid_tcp) == "zero":
            assert out.ident == 0
    elif proto == 1 and not (p.echo_reply_keeps_df and payload[:1] == b"\x00"):
        assert bool(out.flags & FLAG_DF) == p.icmp_df
    elif proto == 17:
        assert bool(out.flags & FLAG_DF) == df  # UDP keeps what it asked for
