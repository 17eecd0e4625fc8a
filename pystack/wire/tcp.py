"""TCP segments (RFC 9293 §3.1) with options (see :mod:`pystack.wire.tcp_options`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pystack.wire import Malformed
from pystack.wire._addr import _pseudo, pseudo_sum
from pystack.wire._fast import fast_init, twin_of
from pystack.wire.checksum import checksum_from_sum, ones_sum16, raw_sum, swapped_sum
from pystack.wire.tcp_options import (
    NOP,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamp,
    UnknownOption,
    WindowScale,
    emit_options,
    parse_options,
)

__all__ = [
    "ACK",
    "AE",
    "CWR",
    "ECE",
    "FIN",
    "HEADER_LEN",
    "NOP",
    "PROTO",
    "PSH",
    "RST",
    "SYN",
    "URG",
    "Mss",
    "Nop",
    "Sack",
    "SackPermitted",
    "TcpOption",
    "TcpSegment",
    "Timestamp",
    "UnknownOption",
    "WindowScale",
    "checksum_ok",
    "complete_partial",
    "emit",
    "emit_partial",
    "parse",
]

PROTO = 6
HEADER_LEN = 20
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80
AE = 0x100  # AccECN's AE bit, formerly the NS bit of RFC 3540
# tcpdump's letters, lowest bit first.
_FLAG_LETTERS = ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "W"))

_HDR = struct.Struct("!HHIIHHHH")
_unpack_from = _HDR.unpack_from
_pack = _HDR.pack
_from_bytes = int.from_bytes
_pack_H = struct.Struct("!H").pack


@fast_init
@dataclass(frozen=True, slots=True)
class TcpSegment:
    """A TCP segment.

    ``seq``/``ack`` are plain ints (0..2**32-1). ``flags`` holds the 12 bits after the data
    offset: FIN..CWR, AE (0x100) and the three reserved bits, so any header re-emits as is.
    ``options`` is a tuple of option values in wire order (EOL and padding implied).
    """

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: bytes = b""
    options: tuple[TcpOption, ...] = ()
    urgent: int = 0

    # Each reader scans the options itself: these run for every segment (the SACK blocks
    # and timestamps of each ACK), and a shared helper would cost one more call each.

    @property
    def mss(self) -> int | None:
        """The MSS option's value, if present."""
        for opt in self.options:
            if type(opt) is Mss:
                return opt.value
        return None

    @property
    def wscale(self) -> int | None:
        """The window scale shift count, if present."""
        for opt in self.options:
            if type(opt) is WindowScale:
                return opt.shift
        return None

    @property
    def sack_permitted(self) -> bool:
        """True when SACK-permitted is present."""
        return any(type(opt) is SackPermitted for opt in self.options)

    @property
    def sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """The SACK blocks, empty when there is no SACK option."""
        for opt in self.options:
            if type(opt) is Sack:
                return opt.blocks
        return ()

    @property
    def timestamp(self) -> tuple[int, int] | None:
        """``(tsval, tsecr)`` of the timestamps option, if present."""
        for opt in self.options:
            if type(opt) is Timestamp:
                return (opt.tsval, opt.tsecr)
        return None

    @property
    def flags_str(self) -> str:
        """Flags in tcpdump's notation: ``"S"``, ``"S."``, ``"P."``, ``"F."``, ``"R"``."""
        text = "".join(letter for bit, letter in _FLAG_LETTERS if self.flags & bit)
        return text + "." if self.flags & ACK else text or "none"

    @property
    def seg_len(self) -> int:
        """SEG.LEN (RFC 9293 §3.4): the payload length plus one each for SYN and FIN."""
        return len(self.payload) + (self.flags & SYN) // SYN + (self.flags & FIN)


_build = TcpSegment._build  # type: ignore[attr-defined]
_Twin: Any = twin_of(TcpSegment)
_TimestampTwin: Any = twin_of(Timestamp)
_new = object.__new__
_II = struct.Struct("!II")
_II_pack = _II.pack
_NOP_NOP_TS = b"\x01\x01\x08\x0a"
_TS_HLEN = HEADER_LEN + 12
_unpack_ts_from = struct.Struct("!HHIIHH2xH4sII").unpack_from


def parse(data: bytes) -> TcpSegment:
    """Parse the TCP segment in an IP payload. The checksum is checked by :func:`checksum_ok`.

    Raises :class:`Malformed`: "truncated", "bad_header_length" (data offset below 5 or
    past the end). Illegal option lengths do not raise (RFC 9293 MUST-7; see
    :mod:`pystack.wire.tcp_options`).
    """
    if type(data) is not bytes:
        data = bytes(data)  # bytearray, memoryview: payload fields are bytes
    size = len(data)
    if size >= _TS_HLEN:
        # One unpack covers the layout Linux and most stacks put on every segment:
        # NOP, NOP, timestamps (RFC 7323 Appendix A).
        src_port, dst_port, seq, ack, off_flags, window, urgent, lead, tsval, tsecr = (
            _unpack_ts_from(data)
        )
        if off_flags >> 12 == 8 and lead == _NOP_NOP_TS:
            # Twins, see pystack.wire._fast: frozen once __class__ is set.
            timestamp = _new(_TimestampTwin)
            timestamp.tsval = tsval
            timestamp.tsecr = tsecr
            timestamp.__class__ = Timestamp
            seg = _new(_Twin)
            seg.src_port = src_port
            seg.dst_port = dst_port
            seg.seq = seq
            seg.ack = ack
            seg.flags = off_flags & 0x0FFF
            seg.window = window
            seg.payload = data[_TS_HLEN:]
            seg.options = (NOP, NOP, timestamp)
            seg.urgent = urgent
            seg.__class__ = TcpSegment
            return seg
    elif size < HEADER_LEN:
        raise Malformed("truncated", f"{size} bytes, need {HEADER_LEN}")
    src_port, dst_port, seq, ack, off_flags, window, _, urgent = _unpack_from(data)
    hlen = (off_flags >> 12) << 2
    if hlen == HEADER_LEN:
        options: tuple[TcpOption, ...] = ()
    elif hlen < HEADER_LEN or hlen > size:
        raise Malformed("bad_header_length", f"data offset {hlen >> 2}, {size} bytes")
    else:
        options = parse_options(data[HEADER_LEN:hlen])
    return _build(
        src_port, dst_port, seq, ack, off_flags & 0x0FFF, window, data[hlen:], options, urgent
    )


def checksum_ok(data: bytes, src_ip: str, dst_ip: str) -> bool:
    """True when the segment's checksum is right (RFC 9293 §3.1, MUST-2/3)."""
    pseudo = (_pseudo.get((src_ip, dst_ip)) or pseudo_sum(src_ip, dst_ip)) + len(data) + PROTO
    # Both sides times 256 (see checksum.swapped_sum); never an all-zero sum, so a right
    # checksum is exactly a residue of 0.
    return ((pseudo << 8) + swapped_sum(data)) % 0xFFFF == 0


def _emit_options(options: tuple[TcpOption, ...]) -> bytes:
    if (
        len(options) == 3
        and type(ts := options[2]) is Timestamp
        and options[0] is NOP is options[1]
    ):
        try:
            return _NOP_NOP_TS + _II_pack(ts.tsval, ts.tsecr)
        except struct.error as exc:
            raise ValueError(f"bad TCP option value: {exc}") from None
    return emit_options(options)


def emit(seg: TcpSegment, src_ip: str, dst_ip: str) -> bytes:
    """Serialize with the checksum computed over the pseudo-header (RFC 9293 §3.1)."""
    return _emit(seg, src_ip, dst_ip, False)


def emit_partial(seg: TcpSegment, src_ip: str, dst_ip: str) -> bytes:
    """Serialize for a device that completes the checksum (a partial checksum, as a
    kernel hands a segment to a checksum-offloading device): the checksum field holds
    the folded pseudo-header sum over this segment's length, not complemented; the
    device adds the header and payload from the TCP header on and stores the complement.
    The payload is not summed here: that is the work the device takes over."""
    return _emit(seg, src_ip, dst_ip, True)


def complete_partial(data: bytes) -> bytes:
    """The segment ``data`` from :func:`emit_partial` with its checksum completed, as the
    device would: the field's pseudo-header sum plus everything else, complemented."""
    return data[:16] + _pack_H(checksum_from_sum(raw_sum(data))) + data[18:]


def _emit(seg: TcpSegment, src_ip: str, dst_ip: str, partial: bool) -> bytes:
    opts = _emit_options(seg.options) if seg.options else b""
    hlen = HEADER_LEN + len(opts)
    payload = seg.payload
    flags = seg.flags
    if not 0 <= flags <= 0xFFF:
        raise ValueError(f"TCP flags {flags:#x} do not fit in 12 bits")
    off_flags = (hlen << 10) | flags
    src_port, dst_port, seq, ack, window, urgent = (
        seg.src_port,
        seg.dst_port,
        seg.seq,
        seg.ack,
        seg.window,
        seg.urgent,
    )
    pseudo = (_pseudo.get((src_ip, dst_ip)) or pseudo_sum(src_ip, dst_ip)) + PROTO + hlen
    if partial:
        try:
            header = _pack(
                src_port, dst_port, seq, ack, off_flags, window,
                ones_sum16(pseudo + len(payload)), urgent,
            )  # fmt: skip
        except struct.error as exc:
            raise ValueError(f"bad TcpSegment field: {exc}") from None
        return header + opts + payload
    # The header's words summed from the field values (a 32-bit field is congruent to the
    # sum of its halves mod 0xFFFF); struct.pack below rejects out-of-range values.
    total = (
        pseudo
        + len(payload)
        + src_port
        + dst_port
        + seq
        + ack
        + off_flags
        + window
        + urgent
        + (_from_bytes(opts, "big") if opts else 0)
        + raw_sum(payload)
    )
    try:
        header = _pack(
            src_port, dst_port, seq, ack, off_flags, window, checksum_from_sum(total), urgent
        )
    except struct.error as exc:
        raise ValueError(f"bad TcpSegment field: {exc}") from None
    return header + opts + payload
