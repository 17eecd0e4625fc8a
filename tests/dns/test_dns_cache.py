"""The DNS cache: TTLs against the clock, bounds, RFC 2181 §8 TTL ceiling."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from pystack.dns.cache import DnsCache, clamp_ttl


def test_entries_expire_with_their_ttl() -> None:
    clock = Clock()
    cache: DnsCache[str] = DnsCache(clock)
    cache.put("WWW.example.", 1, "x", 10)
    clock.advance(9.9)
    assert cache.get("www.example", 1) == "x" and cache.remaining_ttl("www.example", 1) == 0
    clock.advance(0.1)
    assert cache.get("www.example", 1) is None and len(cache) == 0


def test_types_are_separate_and_zero_ttl_is_not_cached() -> None:
    cache: DnsCache[str] = DnsCache(Clock())
    cache.put("a", 1, "v4", 5)
    cache.put("a", 28, "v6", 0)
    assert cache.get("a", 1) == "v4" and cache.get("a", 28) is None


def test_bounded_least_recently_used_first() -> None:
    cache: DnsCache[int] = DnsCache(Clock(), max_entries=2)
    cache.put("a", 1, 1, 60)
    cache.put("b", 1, 2, 60)
    cache.get("a", 1)
    cache.put("c", 1, 3, 60)
    assert cache.get("b", 1) is None and cache.get("a", 1) == 1 and cache.get("c", 1) == 3


def test_ttl_ceiling_and_cap() -> None:
    assert clamp_ttl(2**31) == 0  # RFC 2181 §8
    assert clamp_ttl(10**6) == 86400
    assert clamp_ttl(30, max_ttl=10) == 10
    with pytest.raises(ValueError):
        DnsCache(Clock(), max_entries=-1)
