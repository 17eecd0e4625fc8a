"""A small DNS cache that honours TTLs against the injected clock.

Positive entries live for the smallest TTL of the records that made the answer (RFC 1035
§3.2.1, RFC 2181 §5.2: an RRset's TTL is one value); negative entries (NXDOMAIN, no data)
for the SOA-derived TTL of RFC 2308 §5. The cache is bounded and evicts the least recently
used entry first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")

MAX_TTL = 86400  # cap how long anything is trusted: one day, as common resolvers do
_TTL_CEILING = 2**31 - 1  # RFC 2181 §8: larger TTLs are treated as zero


def clamp_ttl(ttl: int, max_ttl: int = MAX_TTL) -> int:
    """The TTL to cache for: 0 for values above 2**31-1 (RFC 2181 §8), capped at ``max_ttl``."""
    if ttl > _TTL_CEILING:
        return 0
    return min(ttl, max_ttl)


@dataclass(frozen=True, slots=True)
class CacheEntry(Generic[V]):
    """A cached value and the clock time it stops being valid."""

    value: V
    expires: float


class DnsCache(Generic[V]):
    """``(name, rdtype) -> value`` with per-entry expiry; names compare case-insensitively.

    ``clock`` provides ``seconds()`` (twisted's ``IReactorTime``).
    """

    def __init__(self, clock: Any, *, max_entries: int = 512, max_ttl: int = MAX_TTL) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self._clock = clock
        self._max_entries = max_entries
        self._max_ttl = max_ttl
        self._entries: OrderedDict[tuple[str, int], CacheEntry[V]] = OrderedDict()

    @staticmethod
    def _key(name: str, rdtype: int) -> tuple[str, int]:
        return name.rstrip(".").lower(), rdtype

    def get(self, name: str, rdtype: int) -> V | None:
        """The cached value, or None when absent or expired (an expired entry is removed)."""
        key = self._key(name, rdtype)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock.seconds() >= entry.expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.value

    def remaining_ttl(self, name: str, rdtype: int) -> int | None:
        """Whole seconds the entry has left, or None when it is not cached."""
        entry = self._entries.get(self._key(name, rdtype))
        if entry is None or self.get(name, rdtype) is None:
            return None
        return int(entry.expires - self._clock.seconds())

    def put(self, name: str, rdtype: int, value: V, ttl: int) -> None:
        """Cache ``value`` for ``ttl`` seconds; a TTL of 0 means "do not cache"."""
        ttl = clamp_ttl(ttl, self._max_ttl)
        if ttl <= 0 or self._max_entries == 0:
            return
        key = self._key(name, rdtype)
        self._entries[key] = CacheEntry(value, self._clock.seconds() + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
