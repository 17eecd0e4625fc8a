"""Echo requests in flight: the client side of ping, shared by ICMP and ICMPv6.

Both match a reply to its request by identifier and sequence number only (RFC 792; RFC
4443 §4.2), and end a ping in one of three ways: its reply (the round-trip time), an error
message that quotes it (OSError), or its timeout (TimeoutError).
"""

from __future__ import annotations

import errno
from typing import Any

from twisted.internet.defer import Deferred

__all__ = ["EchoRequests"]

Key = tuple[int, int]


class EchoRequests:
    """The echo requests a layer has sent and not yet settled, by (identifier, sequence).

    ``owner`` is the layer: its ``clock`` and ``rng`` are read when needed, since a layer
    gets them when it joins a stack. One identifier per table, chosen on the first ping."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner
        self._pending: dict[Key, tuple[Deferred[float], float, Any]] = {}
        self._ident: int | None = None
        self._seq = 0

    def __len__(self) -> int:
        return len(self._pending)

    def new(self, dst: str, timeout: float) -> tuple[Key, Deferred[float]]:
        """The (identifier, sequence) of a new request to ``dst`` and the Deferred that
        settles it; it fails with TimeoutError after ``timeout`` seconds."""
        clock = self._owner.clock
        if self._ident is None:
            self._ident = self._owner.rng.randrange(1 << 16)
        self._seq = (self._seq + 1) & 0xFFFF
        key = (self._ident, self._seq)
        deferred: Deferred[float] = Deferred(lambda d: self._cancelled(key))
        timer = clock.callLater(timeout, self._timed_out, key, dst, timeout)
        self._pending[key] = (deferred, clock.seconds(), timer)
        return key, deferred

    def answered(self, ident: int, seq: int) -> bool:
        """A reply arrived: its request's Deferred fires with the round-trip time. False
        when no request of ours matches it."""
        pending = self._take((ident, seq))
        if pending is None:
            return False
        deferred, sent_at, _ = pending
        deferred.callback(self._owner.clock.seconds() - sent_at)
        return True

    def failed(self, ident: int, seq: int, dst: str, kind: str, code: int) -> None:
        """An error message quoted the request: its ping fails at once."""
        pending = self._take((ident, seq))
        if pending is not None:
            pending[0].errback(OSError(errno.EHOSTUNREACH, f"{dst}: {kind} ({code})"))

    def _cancelled(self, key: Key) -> None:
        self._take(key)  # the user cancelled the Deferred: forget the request and its timer

    def _take(self, key: Key) -> tuple[Deferred[float], float, Any] | None:
        pending = self._pending.pop(key, None)
        if pending is not None and pending[2].active():
            pending[2].cancel()
        return pending

    def _timed_out(self, key: Key, dst: str, timeout: float) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending[0].errback(TimeoutError(f"no echo reply from {dst} within {timeout} s"))
