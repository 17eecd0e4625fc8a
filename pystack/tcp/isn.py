"""Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip,
remoteport, secretkey).

M is a timer ticking every 4 microseconds (RFC 9293 §3.4.1, the ISN clock), read from the
injected clock, so that successive incarnations of one 4-tuple move forward in sequence
space and old duplicates are not mistaken for new data. F is a keyed hash of the 4-tuple,
so an attacker who sees the ISNs of their own connections learns nothing about the ISN of
anyone else's 4-tuple (RFC 6528 §3, RFC 9293 MUST-8).

The ISNs of one 4-tuple under one key differ by exactly the elapsed ticks: that is the
design of RFC 6528, not a weakness; the secret hides the offset between tuples.
"""

from __future__ import annotations

import hashlib
import os
import random
from typing import Protocol

__all__ = ["IsnGenerator"]

# RFC 9293 §3.4.1: the ISN clock ticks about every 4 microseconds.
TICKS_PER_SECOND = 250_000
# RFC 6528 §3: the secret key should be at least 128 bits long.
SECRET_BYTES = 16
MOD = 2**32


class _Clock(Protocol):
    def seconds(self) -> float: ...


class IsnGenerator:
    """Chooses ISNs for new connections from a clock and a secret key.

    ``clock`` provides ``seconds()`` (twisted's IReactorTime; tests pass ``task.Clock``).
    The secret is ``secret`` if given, else drawn from ``rng`` (deterministic tests), else
    from ``os.urandom``.
    """

    __slots__ = ("_clock", "_secret")

    def __init__(
        self,
        clock: _Clock,
        *,
        secret: bytes | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if secret is None:
            secret = rng.randbytes(SECRET_BYTES) if rng is not None else os.urandom(SECRET_BYTES)
        if len(secret) < SECRET_BYTES:
            raise ValueError(f"the ISN secret must be >= {SECRET_BYTES} bytes (RFC 6528 §3)")
        self._clock = clock
        self._secret = bytes(secret[:64])  # blake2b takes keys up to 64 bytes

    def timer(self) -> int:
        """M of RFC 6528: the 4-microsecond clock, modulo 2**32."""
        return int(self._clock.seconds() * TICKS_PER_SECOND) % MOD

    def offset(self, local_ip: str, local_port: int, remote_ip: str, remote_port: int) -> int:
        """F of RFC 6528: the keyed hash of the 4-tuple, a 32-bit value."""
        tuple_id = f"{local_ip}:{local_port}>{remote_ip}:{remote_port}".encode()
        digest = hashlib.blake2b(tuple_id, key=self._secret, digest_size=4).digest()
        return int.from_bytes(digest, "big")

    def isn(self, local_ip: str, local_port: int, remote_ip: str, remote_port: int) -> int:
        """The ISN for a new connection on this 4-tuple now, as an int in 0..2**32-1."""
        return (self.timer() + self.offset(local_ip, local_port, remote_ip, remote_port)) % MOD

    __call__ = isn
