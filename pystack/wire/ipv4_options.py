"""IPv4 options (RFC 791 §3.1) as reprs: Record Route, Timestamp and the source routes.

:func:`parse_options` turns the raw ``Ipv4Packet.options`` bytes into a tuple of reprs and
:func:`emit_options` back (EOL-padded to a multiple of 4). Options this module does not
model are kept as :class:`UnknownOption`. The parser is strict about the fields a host
updates (pointer on a slot boundary, length a whole number of slots), so that updating an
option never has to guess; anything else raises :class:`Malformed`.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pystack.wire import Malformed

__all__ = [
    "MAX_OPTIONS_LEN",
    "OPT_EOL",
    "OPT_LSRR",
    "OPT_NOP",
    "OPT_RR",
    "OPT_SSRR",
    "OPT_TS",
    "TS_ADDRESSES",
    "TS_ONLY",
    "TS_PRESPECIFIED",
    "Ipv4Option",
    "Nop",
    "RecordRoute",
    "SourceRoute",
    "Timestamp",
    "UnknownOption",
    "copied_options",
    "emit_options",
    "parse_options",
]

OPT_EOL = 0
OPT_NOP = 1
OPT_RR = 7
OPT_TS = 68
OPT_LSRR = 131
OPT_SSRR = 137
TS_ONLY = 0  # timestamps only
TS_ADDRESSES = 1  # (address, timestamp) pairs
TS_PRESPECIFIED = 3  # the sender named the addresses; only they stamp
MAX_OPTIONS_LEN = 40
# RFC 791: the timestamp overflow counter is 4 bits.
MAX_OVERFLOW = 15


def _addr(raw: bytes) -> str:
    return socket.inet_ntoa(raw)


def _raw(addr: str) -> bytes:
    try:
        return socket.inet_aton(addr)
    except OSError:
        raise ValueError(f"not an IPv4 address: {addr!r}") from None


@dataclass(frozen=True, slots=True)
class Nop:
    """No-operation (type 1), used to align the next option."""

    kind = OPT_NOP

    def to_bytes(self) -> bytes:
        return b"\x01"


@dataclass(frozen=True, slots=True)
class UnknownOption:
    """An option this module does not model: ``data`` is what follows the length byte."""

    kind: int
    data: bytes = b""

    def to_bytes(self) -> bytes:
        if len(self.data) > MAX_OPTIONS_LEN - 2 or self.kind in (OPT_EOL, OPT_NOP):
            raise ValueError(f"cannot encode option {self.kind} with {len(self.data)} bytes")
        return bytes((self.kind, len(self.data) + 2)) + self.data


@dataclass(frozen=True, slots=True)
class RecordRoute:
    """Record Route (type 7): the addresses recorded so far and the slots left empty."""

    route: tuple[str, ...] = ()
    free: int = 0
    kind = OPT_RR

    def add(self, addr: str) -> RecordRoute:
        """This option with ``addr`` recorded at the pointer; unchanged when it is full."""
        if self.free == 0:
            return self
        return RecordRoute((*self.route, addr), self.free - 1)

    def to_bytes(self) -> bytes:
        slots = len(self.route) + self.free
        if self.free < 0 or 3 + 4 * slots > MAX_OPTIONS_LEN:
            raise ValueError(f"record route of {slots} slots does not fit")
        head = bytes((OPT_RR, 3 + 4 * slots, 4 + 4 * len(self.route)))
        return head + b"".join(map(_raw, self.route)) + bytes(4 * self.free)


@dataclass(frozen=True, slots=True)
class SourceRoute:
    """Loose (type 131) or strict (type 137) source route: hops done and hops to go."""

    strict: bool
    visited: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()

    @property
    def kind(self) -> int:
        return OPT_SSRR if self.strict else OPT_LSRR

    def reverse(self, source: str) -> tuple[str, SourceRoute | None]:
        """The route back to ``source`` of a completed route (RFC 1122 §3.2.1.8c): the first
        hop to send to, and the option naming the rest (None when no hop is left)."""
        if self.remaining:
            raise ValueError("the source route is not completed")
        hops = list(self.visited)
        if hops and hops[0] == source:
            hops.pop(0)  # RFC 1812 §5.2.4.1: a route naming its own source is repaired
        if not hops:
            return source, None
        back = (*reversed(hops[:-1]), source)
        return hops[-1], SourceRoute(self.strict, (), back)

    def to_bytes(self) -> bytes:
        slots = len(self.visited) + len(self.remaining)
        if 3 + 4 * slots > MAX_OPTIONS_LEN:
            raise ValueError(f"source route of {slots} hops does not fit")
        head = bytes((self.kind, 3 + 4 * slots, 4 + 4 * len(self.visited)))
        return head + b"".join(map(_raw, self.visited + self.remaining))


@dataclass(frozen=True, slots=True)
class Timestamp:
    """Internet Timestamp (type 68).

    ``stamps`` are the entries filled so far, ``(address, ms)`` with address None under
    :data:`TS_ONLY`; ``pending`` the prespecified addresses not yet stamped
    (:data:`TS_PRESPECIFIED` only); ``free`` the empty slots (flags 0 and 1);
    ``overflow`` counts the hosts that found no room.
    """

    flag: int = TS_ONLY
    stamps: tuple[tuple[str | None, int], ...] = ()
    pending: tuple[str, ...] = ()
    free: int = 0
    overflow: int = 0
    kind = OPT_TS

    @property
    def slot_size(self) -> int:
        return 4 if self.flag == TS_ONLY else 8

    def stamp(self, addr: str, ms: int) -> Timestamp:
        """This option with our entry added at the pointer (RFC 791 §3.1): no room bumps
        the overflow counter, a prespecified address not ours leaves it unchanged."""
        if self.flag == TS_PRESPECIFIED:
            if not self.pending or self.pending[0] != addr:
                return self
            return dataclasses.replace(
                self, stamps=(*self.stamps, (addr, ms)), pending=self.pending[1:]
            )
        if self.free == 0:
            return dataclasses.replace(self, overflow=min(self.overflow + 1, MAX_OVERFLOW))
        entry = (None if self.flag == TS_ONLY else addr, ms)
        return dataclasses.replace(self, stamps=(*self.stamps, entry), free=self.free - 1)

    def to_bytes(self) -> bytes:
        self._check()
        size = self.slot_size
        slots = len(self.stamps) + len(self.pending) + self.free
        body = b"".join(
            (b"" if a is None else _raw(a)) + struct.pack("!I", ms) for a, ms in self.stamps
        )
        body += b"".join(_raw(a) + bytes(4) for a in self.pending) + bytes(size * self.free)
        pointer = 5 + size * len(self.stamps)
        return bytes((OPT_TS, 4 + size * slots, pointer, self.overflow << 4 | self.flag)) + body

    def _check(self) -> None:
        if self.flag not in (TS_ONLY, TS_ADDRESSES, TS_PRESPECIFIED):
            raise ValueError(f"timestamp flag {self.flag}")
        if not 0 <= self.overflow <= MAX_OVERFLOW or self.free < 0:
            raise ValueError("timestamp overflow must be in 0..15 and free >= 0")
        if self.flag == TS_PRESPECIFIED and self.free:
            raise ValueError("prespecified timestamps have no free slots")
        if self.pending and self.flag != TS_PRESPECIFIED:
            raise ValueError("only prespecified timestamps have pending addresses")
        if any((a is None) != (self.flag == TS_ONLY) for a, _ in self.stamps):
            raise ValueError("TS_ONLY stamps carry no address, the others one each")
        slots = len(self.stamps) + len(self.pending) + self.free
        if 4 + self.slot_size * slots > MAX_OPTIONS_LEN:
            raise ValueError(f"timestamp of {slots} slots does not fit")


Ipv4Option = Nop | UnknownOption | RecordRoute | SourceRoute | Timestamp


def parse_options(raw: bytes) -> tuple[Ipv4Option, ...]:
    """The options in ``raw`` up to EOL; raises :class:`Malformed` ("bad_option_length",
    "bad_option_pointer", "bad_timestamp_flag") and nothing else."""
    raw = bytes(raw)
    options: list[Ipv4Option] = []
    i = 0
    while i < len(raw) and raw[i] != OPT_EOL:
        kind = raw[i]
        if kind == OPT_NOP:
            options.append(Nop())
            i += 1
            continue
        if i + 1 >= len(raw) or not 2 <= raw[i + 1] <= len(raw) - i:
            raise Malformed("bad_option_length", f"option {kind} at {i}")
        length = raw[i + 1]
        options.append(_parse_one(kind, raw[i : i + length]))
        i += length
    return tuple(options)


def _parse_one(kind: int, opt: bytes) -> Ipv4Option:
    if kind == OPT_RR:
        return RecordRoute(*_parse_route(opt))
    if kind in (OPT_LSRR, OPT_SSRR):
        done, _ = _parse_route(opt)
        return SourceRoute(kind == OPT_SSRR, done, _addrs(opt[3 + 4 * len(done) :]))
    if kind == OPT_TS:
        return _parse_timestamp(opt)
    return UnknownOption(kind, opt[2:])


def _addrs(data: bytes) -> tuple[str, ...]:
    return tuple(_addr(data[j : j + 4]) for j in range(0, len(data), 4))


def _parse_route(opt: bytes) -> tuple[tuple[str, ...], int]:
    """(recorded addresses, free slots) of a route option; the pointer names
    the first free slot (4, 8, ...) or is one past the end when the route is full."""
    length = len(opt)
    if length < 3 or (length - 3) % 4:
        raise Malformed("bad_option_length", f"route option of {length} bytes")
    pointer = opt[2]
    if pointer < 4 or (pointer - 4) % 4 or pointer > length + 1:
        raise Malformed("bad_option_pointer", f"pointer {pointer} in {length} bytes")
    done = _addrs(opt[3 : pointer - 1])
    return done, (length - 3) // 4 - len(done)


def _parse_timestamp(opt: bytes) -> Timestamp:
    length = len(opt)
    if length < 4:
        raise Malformed("bad_option_length", f"timestamp option of {length} bytes")
    pointer, overflow, flag = opt[2], opt[3] >> 4, opt[3] & 0x0F
    if flag not in (TS_ONLY, TS_ADDRESSES, TS_PRESPECIFIED):
        raise Malformed("bad_timestamp_flag", f"flag {flag}")
    size = 4 if flag == TS_ONLY else 8
    if (length - 4) % size:
        raise Malformed("bad_option_length", f"timestamp option of {length} bytes")
    if pointer < 5 or (pointer - 5) % size or pointer > length + 1:
        raise Malformed("bad_option_pointer", f"pointer {pointer} in {length} bytes")
    used, slots = (pointer - 5) // size, (length - 4) // size
    entries = [opt[4 + size * k : 4 + size * (k + 1)] for k in range(slots)]
    stamps = tuple(
        (None if flag == TS_ONLY else _addr(e[:4]), int.from_bytes(e[-4:], "big"))
        for e in entries[:used]
    )
    if flag == TS_PRESPECIFIED:
        return Timestamp(flag, stamps, tuple(_addr(e[:4]) for e in entries[used:]), 0, overflow)
    return Timestamp(flag, stamps, (), slots - used, overflow)


def emit_options(options: Sequence[Ipv4Option]) -> bytes:
    """The options' bytes, EOL-padded to a multiple of 4; ValueError past 40 bytes."""
    raw = b"".join(opt.to_bytes() for opt in options)
    raw += bytes(-len(raw) % 4)
    if len(raw) > MAX_OPTIONS_LEN:
        raise ValueError(f"IPv4 options of {len(raw)} bytes exceed {MAX_OPTIONS_LEN}")
    return raw


def copied_options(raw: bytes) -> bytes:
    """The options a fragment after the first carries (RFC 791 §3.2: the copied flag set),
    EOL-padded; b"" when ``raw`` does not parse."""
    try:
        options = parse_options(raw)
    except Malformed:
        return b""
    return emit_options([opt for opt in options if opt.kind & 0x80])
