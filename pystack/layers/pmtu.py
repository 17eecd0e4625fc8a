"""The IPv6 path MTU cache (RFC 8201): what Packet Too Big messages taught per destination.

An entry holds the smallest MTU reported for a destination and when it was learnt. It is
forgotten after ``timeout`` seconds, so a larger path MTU is tried again (RFC 8201 §4:
at least 5 minutes, 10 recommended); the link MTU then applies again.
"""

from __future__ import annotations

from pystack.wire import ipv6

# RFC 8201 §4: "at least 5 minutes", and "The recommended setting for this timer is
# twice its minimum value (10 minutes)".
PMTU_TIMEOUT = 600.0
PMTU_TIMEOUT_MIN = 300.0


class PathMtuCache:
    """Path MTUs by destination address, each aging out after ``timeout`` seconds."""

    def __init__(self, timeout: float = PMTU_TIMEOUT) -> None:
        if timeout < PMTU_TIMEOUT_MIN:
            raise ValueError(f"PMTU timeout below {PMTU_TIMEOUT_MIN:g} s (RFC 8201 §4)")
        self.timeout = timeout
        self._entries: dict[str, tuple[int, float]] = {}

    def get(self, dst: str, link_mtu: int, now: float) -> int:
        """The MTU to use towards ``dst``: the learnt one if younger than the timeout, else
        ``link_mtu`` (and a stale entry is forgotten)."""
        entry = self._entries.get(dst)
        if entry is None:
            return link_mtu
        mtu, learnt = entry
        if now - learnt >= self.timeout:
            del self._entries[dst]
            return link_mtu
        return min(mtu, link_mtu)

    def lower(self, dst: str, mtu: int, link_mtu: int, now: float) -> bool:
        """Take a Packet Too Big's MTU for ``dst``; True if the path MTU went down.

        RFC 8201 §4: never below the IPv6 minimum link MTU, and never raised by a Packet
        Too Big (only aging raises it)."""
        mtu = max(mtu, ipv6.MIN_MTU)
        if mtu >= self.get(dst, link_mtu, now):
            return False
        self._entries[dst] = (mtu, now)
        return True

    def entries(self, now: float) -> dict[str, int]:
        """The live entries, destination to MTU (for ``stack.routes``-style listings)."""
        return {d: m for d, (m, t) in self._entries.items() if now - t < self.timeout}
