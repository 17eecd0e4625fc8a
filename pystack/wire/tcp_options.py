"""TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018) as small frozen values.

The option list ends at the first End-of-Option-List (kind 0): it is not kept in the
repr, and :func:`emit_options` pads with zero bytes (EOL) to a 4-byte boundary, so a
parsed list re-emits to the same header length.

Illegal lengths (RFC 9293 §3.1, MUST-7: "handle an illegal option length without
crashing"): an option whose length byte is missing, below 2, or runs past the header
ends the parse; the options before it are kept and the segment is processed. This is what
Linux does (``tcp_parse_options`` returns at the bad option) and the RFC's suggested reset
is left to a hook. A known kind with the wrong length for its kind (an MSS of 3 bytes, a
SACK of 9) is kept as :class:`UnknownOption`, like any unknown kind, so it re-emits
byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from pystack.wire._fast import fast_init

__all__ = [
    "FASTOPEN_COOKIE_MAX",
    "FASTOPEN_COOKIE_MIN",
    "MAX_OPTIONS_LEN",
    "NOP",
    "FastOpen",
    "Mss",
    "Nop",
    "Sack",
    "SackPermitted",
    "TcpOption",
    "Timestamp",
    "UnknownOption",
    "WindowScale",
    "decode_option",
    "emit_options",
    "parse_options",
]

MAX_OPTIONS_LEN = 40
# RFC 7413 §4.1.1: a Fast Open cookie is 4 to 16 bytes; an empty one asks for a cookie.
FASTOPEN_COOKIE_MIN = 4
FASTOPEN_COOKIE_MAX = 16
_H = struct.Struct("!H")
_II = struct.Struct("!II")
_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")


@dataclass(frozen=True, slots=True)
class Nop:
    """No-Operation (kind 1), used to align the options that follow."""

    kind: ClassVar[int] = 1

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        return b"\x01"


NOP = Nop()


@fast_init
@dataclass(frozen=True, slots=True)
class Mss:
    """Maximum Segment Size (kind 2, RFC 9293 §3.7.1)."""

    value: int
    kind: ClassVar[int] = 2

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        return b"\x02\x04" + _H.pack(self.value)


@fast_init
@dataclass(frozen=True, slots=True)
class WindowScale:
    """Window scale shift count (kind 3, RFC 7323 §2)."""

    shift: int
    kind: ClassVar[int] = 3

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        return bytes((3, 3, self.shift))


@dataclass(frozen=True, slots=True)
class SackPermitted:
    """SACK-permitted (kind 4, RFC 2018 §2)."""

    kind: ClassVar[int] = 4

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        return b"\x04\x02"


@fast_init
@dataclass(frozen=True, slots=True)
class Sack:
    """SACK blocks (kind 5, RFC 2018 §3): ``(left_edge, right_edge)`` pairs, 1 to 4."""

    blocks: tuple[tuple[int, int], ...]
    kind: ClassVar[int] = 5

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        if not 1 <= len(self.blocks) <= 4:
            raise ValueError(f"a SACK option carries 1 to 4 blocks, not {len(self.blocks)}")
        body = b"".join(_II.pack(left, right) for left, right in self.blocks)
        return bytes((5, 2 + len(body))) + body


@fast_init
@dataclass(frozen=True, slots=True)
class Timestamp:
    """Timestamps (kind 8, RFC 7323 §3): TSval and TSecr."""

    tsval: int
    tsecr: int
    kind: ClassVar[int] = 8

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        return b"\x08\x0a" + _II.pack(self.tsval, self.tsecr)


@fast_init
@dataclass(frozen=True, slots=True)
class UnknownOption:
    """Any other option, kept as raw bytes: ``kind``, then ``data`` after the length byte."""

    kind: int
    data: bytes = b""

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        if not 2 <= self.kind <= 255 or len(self.data) > MAX_OPTIONS_LEN - 2:
            raise ValueError(f"cannot emit option kind {self.kind} with {len(self.data)} bytes")
        return bytes((self.kind, 2 + len(self.data))) + self.data


@fast_init
@dataclass(frozen=True, slots=True)
class FastOpen:
    """TCP Fast Open cookie (kind 34, RFC 7413 §4.1.1): an empty ``cookie`` is a cookie
    request, otherwise it holds 4 to 16 bytes."""

    cookie: bytes = b""
    kind: ClassVar[int] = 34

    @property
    def is_request(self) -> bool:
        """Whether this option asks for a cookie rather than carrying one."""
        return not self.cookie

    def to_bytes(self) -> bytes:
        """The option's wire form."""
        size = len(self.cookie)
        if size and not FASTOPEN_COOKIE_MIN <= size <= FASTOPEN_COOKIE_MAX:
            raise ValueError(f"a Fast Open cookie has 4 to 16 bytes, not {size}")
        return bytes((34, 2 + size)) + self.cookie


TcpOption = Nop | Mss | WindowScale | SackPermitted | Sack | Timestamp | FastOpen | UnknownOption


def _mss(kind: int, body: bytes) -> TcpOption:
    return Mss(_H.unpack(body)[0]) if len(body) == 2 else UnknownOption(kind, body)


def _wscale(kind: int, body: bytes) -> TcpOption:
    return WindowScale(body[0]) if len(body) == 1 else UnknownOption(kind, body)


def _sack_permitted(kind: int, body: bytes) -> TcpOption:
    return SackPermitted() if not body else UnknownOption(kind, body)


def _sack(kind: int, body: bytes) -> TcpOption:
    if not body or len(body) & 7:
        return UnknownOption(kind, body)
    edges = struct.unpack(f"!{len(body) >> 2}I", body)
    return Sack(tuple(zip(edges[::2], edges[1::2], strict=True)))


def _timestamp(kind: int, body: bytes) -> TcpOption:
    return Timestamp(*_II.unpack(body)) if len(body) == 8 else UnknownOption(kind, body)


def _fastopen(kind: int, body: bytes) -> TcpOption:
    # RFC 7413 §4.1.1: any other cookie length is kept raw (the server ignores it).
    if not body or FASTOPEN_COOKIE_MIN <= len(body) <= FASTOPEN_COOKIE_MAX:
        return FastOpen(body)
    return UnknownOption(kind, body)


# Dispatch by option kind; anything else is kept raw.
_DECODERS: dict[int, Callable[[int, bytes], TcpOption]] = {
    2: _mss,
    3: _wscale,
    4: _sack_permitted,
    5: _sack,
    8: _timestamp,
    34: _fastopen,
}


def decode_option(kind: int, body: bytes) -> TcpOption:
    """The option of ``kind`` whose bytes after the length are ``body``, as
    `parse_options` decodes it (raw when the kind is unknown or the length wrong)."""
    decode = _DECODERS.get(kind)
    return decode(kind, body) if decode else UnknownOption(kind, body)


def parse_options(raw: bytes) -> tuple[TcpOption, ...]:
    """Decode the options area of a TCP header (see the module notes on bad lengths)."""
    out: list[TcpOption] = []
    i, end = 0, len(raw)
    while i < end:
        kind = raw[i]
        if kind == 0:
            break
        if kind == 1:
            out.append(NOP)
            i += 1
            continue
        if i + 1 >= end:
            break
        length = raw[i + 1]
        if length < 2 or i + length > end:
            break  # RFC 9293 MUST-7: stop at an illegal length, as Linux does.
        decode = _DECODERS.get(kind)
        body = raw[i + 2 : i + length]
        out.append(decode(kind, body) if decode else UnknownOption(kind, body))
        i += length
    return tuple(out)


def emit_options(options: Iterable[TcpOption]) -> bytes:
    """Encode options in order, zero-padded to a multiple of 4; at most 40 bytes."""
    try:
        raw = b"".join(opt.to_bytes() for opt in options)
    except struct.error as exc:
        raise ValueError(f"bad TCP option value: {exc}") from None
    if len(raw) > MAX_OPTIONS_LEN:
        raise ValueError(f"TCP options take {len(raw)} bytes, at most {MAX_OPTIONS_LEN} fit")
    return raw + _PADDING[len(raw) & 3]
