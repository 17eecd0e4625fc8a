"""IP identification sequences (RFC 791 §3.2, RFC 6864 §4): how an OS numbers the
datagrams it sends, one of the first things a fingerprinting tool looks at.

Each generator is called with the datagram's destination and returns the next
identification, 0..65535. ``SEQUENCES`` names them for a :class:`Personality`:

- ``incremental``: one counter for every destination, +1 per datagram (Windows; nmap's
  ``I`` class and, shared by TCP and ICMP, ``SS=S``).
- ``per-host``: one counter per destination, from a random start (Linux's hashed
  counters, RFC 6864 §4.1 allows any scheme that does not repeat too soon).
- ``zero``: always 0, allowed for atomic datagrams (DF set, RFC 6864 §4.1; nmap's ``Z``).
- ``random``: a fresh random value each time (OpenBSD, FreeBSD's ``random_id``; nmap's
  ``RD``).
- ``random-increment``: a counter advancing by a random step of 1000..19999 (nmap's
  ``RI``).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["SEQUENCES", "IdSequence", "make_sequence"]

IdSequence = Callable[[str], int]
"""A generator: ``next_id(dst)`` -> the identification of the next datagram to ``dst``."""

_MASK = 0xFFFF
# Destinations a per-host sequence remembers; the oldest is forgotten beyond it (Linux
# keeps a fixed table of hashed counters rather than one per host for the same reason).
PER_HOST_LIMIT = 4096
# nmap's RI class: increments above 1000 and below the 20000 of its RD class.
RANDOM_STEP = (1000, 19999)


def incremental(rng: random.Random) -> IdSequence:
    """One counter for all destinations, from a random start."""
    state = [rng.randrange(1 << 16)]

    def next_id(dst: str) -> int:
        state[0] = (state[0] + 1) & _MASK
        return state[0]

    return next_id


def per_host(rng: random.Random) -> IdSequence:
    """One counter per destination, each from its own random start."""
    counters: OrderedDict[str, int] = OrderedDict()

    def next_id(dst: str) -> int:
        value = counters.pop(dst, None)
        value = rng.randrange(1 << 16) if value is None else (value + 1) & _MASK
        counters[dst] = value
        if len(counters) > PER_HOST_LIMIT:
            counters.popitem(last=False)
        return value

    return next_id


def zero(rng: random.Random) -> IdSequence:
    """Always 0 (RFC 6864 §4.1: only for datagrams with DF set)."""
    return lambda dst: 0


def random_ids(rng: random.Random) -> IdSequence:
    """A random identification per datagram, never 0 (0 reads as the ``zero`` class)."""
    return lambda dst: rng.randrange(1, 1 << 16)


def random_increment(rng: random.Random) -> IdSequence:
    """A counter advancing by a random step in ``RANDOM_STEP``."""
    state = [rng.randrange(1 << 16)]

    def next_id(dst: str) -> int:
        state[0] = (state[0] + rng.randint(*RANDOM_STEP)) & _MASK
        return state[0]

    return next_id


SEQUENCES: dict[str, Callable[[random.Random], IdSequence]] = {
    "incremental": incremental,
    "per-host": per_host,
    "zero": zero,
    "random": random_ids,
    "random-increment": random_increment,
}


def make_sequence(name: str, rng: random.Random) -> IdSequence:
    """A new generator of the sequence ``name`` drawing from ``rng``."""
    try:
        return SEQUENCES[name](rng)
    except KeyError:
        known = ", ".join(SEQUENCES)
        raise ValueError(f"unknown IP ID sequence {name!r}; known: {known}") from None
