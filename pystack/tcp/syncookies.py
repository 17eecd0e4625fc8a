"""SYN cookies (RFC 4987 §3.6): a listener's SYN,ACK that keeps no state.

When a listener's SYN queue is full, the ISS of its SYN,ACK carries what the connection
needs, so that the final ACK (whose SEG.ACK - 1 is that ISS) can rebuild it. The layout is
Linux's (net/ipv4/syncookies.c), so the figures a Linux user knows hold here:

- ISS = H(4-tuple, 0) + the peer's ISN + (counter << 24) + ((H(4-tuple, counter) + index)
  mod 2**24), where ``counter`` ticks once a minute (`PERIOD`), ``index`` picks the MSS from
  `MSS_TABLE`, and H is a keyed hash (BLAKE2s under a per-stack secret);
- a cookie is good while its counter is less than `MAX_AGE` ticks old (up to two minutes);
- with timestamps, the low 6 bits of our TSval carry the peer's window scale (4 bits, 15 for
  none), SACK-permitted and ECN (one bit each), and come back in the ACK's TSecr.
  Without timestamps, a cookie connection has neither window scaling nor SACK.

Pure functions: the caller passes the secret, the addresses and the counter.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from typing import NamedTuple

__all__ = [
    "MAX_AGE",
    "MSS_TABLE",
    "PERIOD",
    "CookieOptions",
    "check_cookie",
    "counter",
    "decode_ts",
    "encode_ts",
    "make_cookie",
    "mss_index",
]

# Linux's msstab: the MSS values a cookie can name (the largest not above the peer's).
MSS_TABLE = (536, 1300, 1440, 1460)
# Seconds per counter tick, and how many ticks a cookie lives (Linux: TCP_SYNCOOKIE_PERIOD,
# MAX_SYNCOOKIE_AGE).
PERIOD = 60.0
MAX_AGE = 2
COOKIE_BITS = 24
COOKIE_MASK = (1 << COOKIE_BITS) - 1
TS_BITS = 6
TS_MASK = (1 << TS_BITS) - 1
NO_WSCALE = 0xF
_SACK_BIT = 1 << 4
_ECN_BIT = 1 << 5
_U32 = 0xFFFFFFFF
_HALF = 1 << 31
_TAIL = struct.Struct("!HHIB")


class CookieOptions(NamedTuple):
    """What a cookie's TSval carries: the peer's window scale shift (None: no scaling),
    SACK-permitted and ECN."""

    wscale: int | None
    sack: bool
    ecn: bool = False


def counter(now: float) -> int:
    """The cookie clock at ``now`` seconds: one tick per `PERIOD`."""
    return int(now // PERIOD) & _U32


def mss_index(mss: int) -> int:
    """The index of the largest `MSS_TABLE` entry not above ``mss`` (0 for a smaller one)."""
    for index in range(len(MSS_TABLE) - 1, 0, -1):
        if mss >= MSS_TABLE[index]:
            return index
    return 0


def _hash(secret: bytes, addrs: bytes, count: int, which: int) -> int:
    data = addrs + _TAIL.pack(0, 0, count & _U32, which)
    return int.from_bytes(hashlib.blake2s(data, key=secret, digest_size=4).digest(), "big")


def _packed(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)


def _addrs(local_ip: str, local_port: int, remote_ip: str, remote_port: int) -> bytes:
    ports = struct.pack("!HH", local_port, remote_port)
    return _packed(local_ip) + _packed(remote_ip) + ports


def make_cookie(
    secret: bytes, four_tuple: tuple[str, int, str, int], peer_isn: int, index: int, count: int
) -> int:
    """The ISS that encodes MSS ``index`` at counter ``count`` for a SYN whose sequence
    number is ``peer_isn`` on ``four_tuple`` (local ip, local port, remote ip, remote port)."""
    if not 0 <= index < len(MSS_TABLE):
        raise ValueError(f"MSS index out of range: {index}")
    addrs = _addrs(*four_tuple)
    keyed = (_hash(secret, addrs, count, 1) + index) & COOKIE_MASK
    return (_hash(secret, addrs, 0, 0) + peer_isn + ((count & 0xFF) << COOKIE_BITS) + keyed) & _U32


def check_cookie(
    secret: bytes, four_tuple: tuple[str, int, str, int], peer_isn: int, cookie: int, count: int
) -> int | None:
    """The MSS index ``cookie`` encodes, if it was made by `make_cookie` for this 4-tuple and
    ``peer_isn`` less than `MAX_AGE` ticks before ``count``; else None (forged or stale)."""
    addrs = _addrs(*four_tuple)
    rest = (cookie - _hash(secret, addrs, 0, 0) - peer_isn) & _U32
    age = (count - (rest >> COOKIE_BITS)) & 0xFF
    if age >= MAX_AGE:
        return None
    index = (rest - _hash(secret, addrs, count - age, 1)) & COOKIE_MASK
    return index if index < len(MSS_TABLE) else None


def encode_ts(ts_now: int, options: CookieOptions) -> int:
    """Our SYN,ACK's TSval: ``ts_now`` with its low 6 bits replaced by ``options``, moved
    back one step if that put it ahead of ``ts_now`` (a TSval never runs ahead of the clock,
    as Linux's cookie_init_timestamp)."""
    wscale = NO_WSCALE if options.wscale is None else min(options.wscale, 14)
    bits = wscale | (_SACK_BIT if options.sack else 0) | (_ECN_BIT if options.ecn else 0)
    ts = (ts_now & ~TS_MASK & _U32) | bits
    if 0 < (ts - ts_now) & _U32 < _HALF:
        ts = (ts - (1 << TS_BITS)) & _U32
    return ts


def decode_ts(tsecr: int) -> CookieOptions:
    """The options an ACK's TSecr carries back (the low 6 bits of the TSval it echoes)."""
    bits = tsecr & TS_MASK
    wscale = bits & NO_WSCALE
    return CookieOptions(
        None if wscale == NO_WSCALE else wscale, bool(bits & _SACK_BIT), bool(bits & _ECN_BIT)
    )
