"""DNS messages (RFC 1035 §4): header, questions and resource records.

``parse(data) -> DnsMessage`` decodes a message, following compression pointers
(RFC 1035 §4.1.4) with loop and bounds checks; anything malformed raises
:class:`pystack.wire.Malformed` with a reason. ``emit(message) -> bytes`` encodes one,
without compression (always valid, and what a stub resolver sends).

Names are presentation strings without the trailing dot (``"www.example"``; the root is
``"."``). Label bytes outside letters, digits, ``-`` and ``_`` are escaped as ``\\DDD``
and a literal dot or backslash as ``\\.`` / ``\\\\`` (RFC 4343 §2.1), so any label
survives a round trip. Record data is decoded for A, AAAA (address strings), NS, CNAME,
PTR (names), SOA (:class:`SoaData`) and MX (:class:`MxData`); other types keep their raw
bytes (RFC 3597 §4: unknown types are opaque).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import TypeAlias

from pystack.wire import Malformed

HEADER_LEN = 12
MAX_NAME_LEN = 255  # octets on the wire, RFC 1035 §2.3.4
MAX_LABEL_LEN = 63  # RFC 1035 §2.3.4

CLASS_IN = 1

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_PTR = 12
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_ANY = 255

RCODE_NOERROR = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4
RCODE_REFUSED = 5

TYPE_NAMES = {
    "A": TYPE_A,
    "NS": TYPE_NS,
    "CNAME": TYPE_CNAME,
    "SOA": TYPE_SOA,
    "PTR": TYPE_PTR,
    "MX": TYPE_MX,
    "TXT": TYPE_TXT,
    "AAAA": TYPE_AAAA,
    "ANY": TYPE_ANY,
}

_HEADER = struct.Struct("!HHHHHH")
_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_QFIXED = struct.Struct("!HH")
_SOA_TAIL = struct.Struct("!IIIII")
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True, slots=True)
class SoaData:
    """SOA record data (RFC 1035 §3.3.13)."""

    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


@dataclass(frozen=True, slots=True)
class MxData:
    """MX record data (RFC 1035 §3.3.9)."""

    preference: int
    exchange: str


RData: TypeAlias = str | SoaData | MxData | bytes


@dataclass(frozen=True, slots=True)
class DnsQuestion:
    """One entry of the question section (RFC 1035 §4.1.2)."""

    name: str
    qtype: int = TYPE_A
    qclass: int = CLASS_IN


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A resource record (RFC 1035 §4.1.3); ``data`` is decoded per type (module doc)."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    data: RData


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """A DNS message. Flag fields mirror the header bits of RFC 1035 §4.1.1.

    ``z`` holds the three bits between RA and RCODE (Z, AD, CD of RFC 4035 §3.2) as an
    integer 0..7.
    """

    id: int
    qr: bool = False
    opcode: int = 0
    aa: bool = False
    tc: bool = False
    rd: bool = True
    ra: bool = False
    z: int = 0
    rcode: int = RCODE_NOERROR
    questions: tuple[DnsQuestion, ...] = ()
    answers: tuple[DnsRecord, ...] = ()
    authorities: tuple[DnsRecord, ...] = ()
    additionals: tuple[DnsRecord, ...] = ()


# ---------------------------------------------------------------- names


def _label_text(label: bytes) -> str:
    out = []
    for byte in label:
        if byte in _PLAIN:
            out.append(chr(byte))
        elif byte in (0x2E, 0x5C):  # "." and "\" (RFC 4343 §2.1)
            out.append("\\" + chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    """Decode the name at ``offset``; return it and the offset just past it in place."""
    labels: list[str] = []
    wire_len = 1
    end = -1  # where parsing resumes, fixed by the first pointer followed
    seen: set[int] = set()
    while True:
        if offset >= len(data):
            raise Malformed("truncated")
        length = data[offset]
        kind = length & 0xC0
        if kind == 0xC0:
            if offset + 1 >= len(data):
                raise Malformed("truncated")
            target = ((length & 0x3F) << 8) | data[offset + 1]
            if end < 0:
                end = offset + 2
            # RFC 1035 §4.1.4 points to a prior occurrence; a target seen before is a loop.
            if target in seen:
                raise Malformed("pointer_loop")
            if target >= len(data):
                raise Malformed("pointer_out_of_bounds")
            seen.add(target)
            offset = target
            continue
        if kind:
            raise Malformed("bad_label_type")  # 0x40 / 0x80: RFC 6891 §5 retired them
        if length == 0:
            return ("." if not labels else ".".join(labels)), (end if end >= 0 else offset + 1)
        label = data[offset + 1 : offset + 1 + length]
        if len(label) != length:
            raise Malformed("truncated")
        wire_len += length + 1
        if wire_len > MAX_NAME_LEN:
            raise Malformed("name_too_long")
        labels.append(_label_text(label))
        offset += 1 + length


def _split_labels(name: str) -> list[bytes]:
    """Presentation form -> label bytes; raises ValueError on a name that cannot be sent."""
    if name in ("", "."):
        return []
    labels: list[bytes] = []
    current = bytearray()
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            if name[i + 1 : i + 4].isdigit() and len(name[i + 1 : i + 4]) == 3:
                current.append(int(name[i + 1 : i + 4]))
                i += 4
                continue
            if i + 1 >= len(name):
                raise ValueError(f"dangling escape in DNS name {name!r}")
            current.extend(name[i + 1].encode("latin-1"))
            i += 2
            continue
        if ch == ".":
            labels.append(bytes(current))
            current = bytearray()
        else:
            if ord(ch) > 127:
                raise ValueError(f"non-ASCII DNS name {name!r}: encode it with IDNA first")
            current.append(ord(ch))
        i += 1
    if current or not name.endswith("."):
        labels.append(bytes(current))
    return labels


def encode_name(name: str) -> bytes:
    """Uncompressed wire form of a presentation name (RFC 1035 §3.1)."""
    labels = _split_labels(name)
    out = bytearray()
    for label in labels:
        if not label or len(label) > MAX_LABEL_LEN:
            raise ValueError(f"bad label length {len(label)} in DNS name {name!r}")
        out.append(len(label))
        out.extend(label)
    out.append(0)
    if len(out) > MAX_NAME_LEN:
        raise ValueError(f"DNS name longer than {MAX_NAME_LEN} octets: {name!r}")
    return bytes(out)


def names_equal(a: str, b: str) -> bool:
    """Compare two names the way DNS does: ASCII case-insensitively (RFC 4343 §3)."""
    return a.rstrip(".").lower() == b.rstrip(".").lower() or (a in ("", ".") and b in ("", "."))


# ---------------------------------------------------------------- record data


def _parse_rdata(data: bytes, start: int, end: int, rtype: int) -> RData:
    raw = data[start:end]
    if rtype == TYPE_A:
        if len(raw) != 4:
            raise Malformed("bad_rdata_length")
        return str(ipaddress.IPv4Address(raw))
    if rtype == TYPE_AAAA:
        if len(raw) != 16:
            raise Malformed("bad_rdata_length")
        return str(ipaddress.IPv6Address(raw))
    if rtype in (TYPE_NS, TYPE_CNAME, TYPE_PTR):
        name, after = _read_name(data[:end], start)
        _expect_end(after, end)
        return name
    if rtype == TYPE_MX:
        if len(raw) < 3:
            raise Malformed("bad_rdata_length")
        exchange, after = _read_name(data[:end], start + 2)
        _expect_end(after, end)
        return MxData(int.from_bytes(raw[:2], "big"), exchange)
    if rtype == TYPE_SOA:
        return _parse_soa(data, start, end)
    return raw


def _parse_soa(data: bytes, start: int, end: int) -> SoaData:
    bounded = data[:end]
    mname, offset = _read_name(bounded, start)
    rname, offset = _read_name(bounded, offset)
    _expect_end(offset + _SOA_TAIL.size, end)
    return SoaData(mname, rname, *_SOA_TAIL.unpack_from(data, offset))


def _expect_end(offset: int, end: int) -> None:
    if offset != end:
        raise Malformed("bad_rdata_length")


def _emit_rdata(record: DnsRecord) -> bytes:
    data = record.data
    if isinstance(data, bytes):
        return data
    if isinstance(data, SoaData):
        return (
            encode_name(data.mname)
            + encode_name(data.rname)
            + _SOA_TAIL.pack(data.serial, data.refresh, data.retry, data.expire, data.minimum)
        )
    if isinstance(data, MxData):
        return data.preference.to_bytes(2, "big") + encode_name(data.exchange)
    if record.rtype == TYPE_A:
        return ipaddress.IPv4Address(data).packed
    if record.rtype == TYPE_AAAA:
        return ipaddress.IPv6Address(data).packed
    if record.rtype in (TYPE_NS, TYPE_CNAME, TYPE_PTR):
        return encode_name(data)
    raise ValueError(f"record type {record.rtype} takes bytes data, got {data!r}")


# ---------------------------------------------------------------- messages


def parse_header(data: bytes) -> DnsMessage:
    """Only the fixed header (sections left empty): enough to see ID, TC and RCODE."""
    if len(data) < HEADER_LEN:
        raise Malformed("truncated")
    ident, flags, _qd, _an, _ns, _ar = _HEADER.unpack_from(data)
    return _from_flags(ident, flags)


def _from_flags(ident: int, flags: int, **sections: tuple) -> DnsMessage:
    return DnsMessage(
        id=ident,
        qr=bool(flags & 0x8000),
        opcode=(flags >> 11) & 0xF,
        aa=bool(flags & 0x0400),
        tc=bool(flags & 0x0200),
        rd=bool(flags & 0x0100),
        ra=bool(flags & 0x0080),
        z=(flags >> 4) & 0x7,
        rcode=flags & 0xF,
        **sections,
    )


def _read_record(data: bytes, offset: int) -> tuple[DnsRecord, int]:
    name, offset = _read_name(data, offset)
    if offset + _FIXED.size > len(data):
        raise Malformed("truncated")
    rtype, rclass, ttl, rdlength = _FIXED.unpack_from(data, offset)
    start = offset + _FIXED.size
    end = start + rdlength
    if end > len(data):
        raise Malformed("truncated")
    return DnsRecord(name, rtype, rclass, ttl, _parse_rdata(data, start, end, rtype)), end


def _read_records(
    data: bytes, offset: int, count: int, truncated_ok: bool
) -> tuple[tuple[DnsRecord, ...], int]:
    records: list[DnsRecord] = []
    for _ in range(count):
        try:
            record, offset = _read_record(data, offset)
        except Malformed as exc:
            # RFC 2181 §9: a truncated (TC) reply may stop inside a section.
            if truncated_ok and exc.reason == "truncated":
                return tuple(records), len(data)
            raise
        records.append(record)
    return tuple(records), offset


def parse(data: bytes) -> DnsMessage:
    """Decode a DNS message; raises :class:`Malformed` and nothing else.

    A message with the TC bit set may end inside a record section (RFC 2181 §9); it parses
    to the records that are complete. Bytes after the last record are ignored.
    """
    header = parse_header(data)
    ident, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    offset = HEADER_LEN
    questions = []
    for _ in range(qdcount):
        name, offset = _read_name(data, offset)
        if offset + _QFIXED.size > len(data):
            raise Malformed("truncated")
        questions.append(DnsQuestion(name, *_QFIXED.unpack_from(data, offset)))
        offset += _QFIXED.size
    sections: list[tuple[DnsRecord, ...]] = []
    for count in (ancount, nscount, arcount):
        records, offset = _read_records(data, offset, count, header.tc)
        sections.append(records)
    return _from_flags(
        ident,
        flags,
        questions=tuple(questions),
        answers=sections[0],
        authorities=sections[1],
        additionals=sections[2],
    )


def _flags_of(message: DnsMessage) -> int:
    return (
        (message.qr << 15)
        | ((message.opcode & 0xF) << 11)
        | (message.aa << 10)
        | (message.tc << 9)
        | (message.rd << 8)
        | (message.ra << 7)
        | ((message.z & 0x7) << 4)
        | (message.rcode & 0xF)
    )


def _emit_record(record: DnsRecord) -> bytes:
    rdata = _emit_rdata(record)
    fixed = _FIXED.pack(record.rtype, record.rclass, record.ttl, len(rdata))
    return encode_name(record.name) + fixed + rdata


def emit(message: DnsMessage) -> bytes:
    """Encode a message without name compression; ValueError on an unencodable field."""
    parts = [
        _HEADER.pack(
            message.id,
            _flags_of(message),
            len(message.questions),
            len(message.answers),
            len(message.authorities),
            len(message.additionals),
        )
    ]
    for question in message.questions:
        parts.append(encode_name(question.name) + _QFIXED.pack(question.qtype, question.qclass))
    for section in (message.answers, message.authorities, message.additionals):
        parts.extend(_emit_record(record) for record in section)
    return b"".join(parts)


def make_query(ident: int, name: str, qtype: int = TYPE_A, *, rd: bool = True) -> DnsMessage:
    """A standard query for one question (RFC 1035 §4.1.1), recursion desired by default."""
    return DnsMessage(id=ident, rd=rd, questions=(DnsQuestion(name, qtype, CLASS_IN),))


def make_response(
    query: DnsMessage,
    answers: tuple[DnsRecord, ...] = (),
    *,
    rcode: int = RCODE_NOERROR,
    authorities: tuple[DnsRecord, ...] = (),
    tc: bool = False,
    aa: bool = True,
) -> DnsMessage:
    """The answer a server gives to ``query``: same ID and question, QR set (RFC 1035 §4.1.1)."""
    return DnsMessage(
        id=query.id,
        qr=True,
        opcode=query.opcode,
        aa=aa,
        tc=tc,
        rd=query.rd,
        ra=True,
        rcode=rcode,
        questions=query.questions,
        answers=answers,
        authorities=authorities,
    )


def frame_tcp(message: bytes) -> bytes:
    """Prefix a message with its two-byte length for DNS over TCP (RFC 1035 §4.2.2)."""
    if len(message) > 0xFFFF:
        raise ValueError("DNS message longer than 65535 bytes cannot be sent over TCP")
    return len(message).to_bytes(2, "big") + message


def rdtype_code(rdtype: str | int) -> int:
    """``"AAAA"`` or ``28`` -> 28; ValueError for an unknown mnemonic."""
    if isinstance(rdtype, int):
        return rdtype
    try:
        return TYPE_NAMES[rdtype.upper()]
    except KeyError:
        raise ValueError(f"unknown DNS record type {rdtype!r}") from None
