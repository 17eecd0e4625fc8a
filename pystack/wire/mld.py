"""Multicast Listener Discovery version 2 messages (RFC 3810 §5): the Query and the
Report, as carried in an :class:`~pystack.wire.icmpv6.Icmpv6Message`.

A host needs only these: :func:`report` builds a Version 2 Multicast Listener Report
(type 143, §5.2) from address records, :func:`parse_report` reads one back, and
:func:`parse_query` reads a Multicast Listener Query (type 130; the 24-byte MLDv1 form
of RFC 2710 and the longer MLDv2 form of §5.1) far enough to answer it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pystack.wire import Malformed
from pystack.wire.icmpv6 import Icmpv6Message
from pystack.wire.ipv6 import ip6_to_bytes, ip6_to_str

__all__ = [
    "ALL_MLDV2_ROUTERS",
    "CHANGE_TO_EXCLUDE",
    "CHANGE_TO_INCLUDE",
    "MODE_IS_EXCLUDE",
    "TYPE_QUERY",
    "TYPE_REPORT_V2",
    "AddressRecord",
    "Query",
    "parse_query",
    "parse_report",
    "report",
]

TYPE_QUERY = 130
TYPE_REPORT_V2 = 143
ALL_MLDV2_ROUTERS = "ff02::16"  # RFC 3810 §5.2.14
# RFC 3810 §5.2.12, record types.
MODE_IS_INCLUDE = 1
MODE_IS_EXCLUDE = 2
CHANGE_TO_INCLUDE = 3
CHANGE_TO_EXCLUDE = 4
_RECORD = struct.Struct("!BBH16s")


@dataclass(frozen=True, slots=True)
class AddressRecord:
    """One Multicast Address Record (§5.2.4) without auxiliary data."""

    record_type: int
    address: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """A Multicast Listener Query: ``address`` is :: for a General Query (§5.1.5);
    ``max_response_delay`` in seconds (§5.1.3, the MLDv1 form's milliseconds alike)."""

    address: str
    max_response_delay: float


def report(records: tuple[AddressRecord, ...]) -> Icmpv6Message:
    """A Version 2 Multicast Listener Report (§5.2): reserved zero, the record count."""
    if len(records) > 0xFFFF:
        raise ValueError("at most 65535 records")
    body = b"".join(
        _RECORD.pack(r.record_type, 0, len(r.sources), ip6_to_bytes(r.address))
        + b"".join(ip6_to_bytes(s) for s in r.sources)
        for r in records
    )
    return Icmpv6Message(TYPE_REPORT_V2, 0, len(records), body)


def parse_report(msg: Icmpv6Message) -> tuple[AddressRecord, ...]:
    """The records of a Version 2 Report. Raises :class:`Malformed` "truncated"."""
    count, body, at, out = msg.rest & 0xFFFF, msg.payload, 0, []
    for _ in range(count):
        if at + _RECORD.size > len(body):
            raise Malformed("truncated", f"record at {at}")
        kind, aux, nsources, address = _RECORD.unpack_from(body, at)
        at += _RECORD.size
        end = at + 16 * nsources
        if end + 4 * aux > len(body):
            raise Malformed("truncated", f"sources at {at}")
        sources = tuple(ip6_to_str(body[i : i + 16]) for i in range(at, end, 16))
        out.append(AddressRecord(kind, ip6_to_str(address), sources))
        at = end + 4 * aux  # §5.2.6: auxiliary data is skipped
    return tuple(out)


def parse_query(msg: Icmpv6Message) -> Query:
    """A Query (§5.1). Raises :class:`Malformed` "truncated" below the 24 bytes of
    RFC 2710 (16 after the ICMPv6 header)."""
    if msg.type != TYPE_QUERY or len(msg.payload) < 16:
        raise Malformed("truncated", f"query of {len(msg.payload) + 4} bytes")
    code = msg.rest >> 16
    if len(msg.payload) >= 20 and code >= 0x8000:  # §5.1.3: exponential form
        exp, mant = (code >> 12) & 0x7, code & 0xFFF
        code = (mant | 0x1000) << (exp + 3)
    return Query(ip6_to_str(msg.payload[:16]), code / 1000)
