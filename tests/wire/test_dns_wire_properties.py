"""Properties of the DNS codec: round trips, hostile bytes, compression, scapy agreement."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR

from pystack.testing import examples
from pystack.wire import Malformed, dns

labels = st.binary(min_size=1, max_size=20)
plain_labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


@st.composite
def names(draw: st.DrawFn, plain: bool = False) -> str:
    """Presentation names of any label bytes (escaped), always within 255 octets."""
    raw = draw(st.lists(plain_labels.map(str.encode) if plain else labels, max_size=6))
    if not raw:
        return "."
    return ".".join(dns._label_text(label) for label in raw)


ipv4 = st.builds(lambda b: ".".join(str(x) for x in b), st.binary(min_size=4, max_size=4))
ipv6 = st.binary(min_size=16, max_size=16).map(lambda b: str(ipaddress.IPv6Address(b)))
u32 = st.integers(0, 2**32 - 1)


@st.composite
def records(draw: st.DrawFn) -> dns.DnsRecord:
    rtype = draw(
        st.sampled_from(
            [
                dns.TYPE_A,
                dns.TYPE_AAAA,
                dns.TYPE_CNAME,
                dns.TYPE_NS,
                dns.TYPE_PTR,
                dns.TYPE_MX,
                dns.TYPE_SOA,
                dns.TYPE_TXT,
                99,
                dns.TYPE_OPT,
            ]
        )
    )
    data: dns.RData
    if rtype == dns.TYPE_A:
        data = draw(ipv4)
    elif rtype == dns.TYPE_AAAA:
        data = draw(ipv6)
    elif rtype in (dns.TYPE_CNAME, dns.TYPE_NS, dns.TYPE_PTR):
        data = draw(names())
    elif rtype == dns.TYPE_MX:
        data = dns.MxData(draw(st.integers(0, 65535)), draw(names()))
    elif rtype == dns.TYPE_SOA:
        data = dns.SoaData(draw(names()), draw(names()), *(draw(u32) for _ in range(5)))
    else:
        data = draw(st.binary(max_size=40))
    return dns.DnsRecord(draw(names()), rtype, draw(st.integers(0, 65535)), draw(u32), data)


messages = st.builds(
    dns.DnsMessage,
    id=st.integers(0, 65535),
    qr=st.booleans(),
    opcode=st.integers(0, 15),
    aa=st.booleans(),
    tc=st.booleans(),
    rd=st.booleans(),
    ra=st.booleans(),
    z=st.integers(0, 7),
    rcode=st.integers(0, 15),
    questions=st.lists(
        st.builds(dns.DnsQuestion, names(), st.integers(0, 65535), st.integers(0, 65535)),
        max_size=3,
    ).map(tuple),
    answers=st.lists(records(), max_size=4).map(tuple),
    authorities=st.lists(records(), max_size=2).map(tuple),
    additionals=st.lists(records(), max_size=2).map(tuple),
)


@settings(max_examples=examples(ci=1000, dev=200))
@given(messages)
def test_parse_of_emit_is_identity(message: dns.DnsMessage) -> None:
    assert dns.parse(dns.emit(message)) == message


@settings(max_examples=examples(ci=1000, dev=200))
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_message_or_malformed(data: bytes) -> None:
    try:
        message = dns.parse(data)
    except Malformed as exc:
        assert exc.reason
    else:
        assert isinstance(message, dns.DnsMessage)


@settings(max_examples=examples(ci=1000, dev=200))
@given(messages, st.data())
def test_mutated_messages_give_a_message_or_malformed(message: dns.DnsMessage, data) -> None:
    wire = bytearray(dns.emit(message))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(wire) - 1))
        wire[index] = data.draw(st.sampled_from([0x00, 0x3F, 0xC0, 0xFF, wire[index] ^ 0x40]))
    try:
        dns.parse(bytes(wire))
    except Malformed as exc:
        assert exc.reason


@settings(max_examples=examples(ci=1000, dev=200))
@given(st.lists(st.binary(max_size=4), min_size=1, max_size=6), st.data())
def test_compression_loops_are_rejected(slot_labels: list[bytes], data) -> None:
    """Slots of [optional label][pointer to the next slot]; the last points back into them."""
    offsets, offset = [], dns.HEADER_LEN
    for label in slot_labels:
        offsets.append(offset)
        offset += (len(label) + 1 if label else 0) + 2
    back = data.draw(st.sampled_from(offsets))
    body = bytearray()
    for i, label in enumerate(slot_labels):
        if label:
            body += bytes([len(label)]) + label
        target = offsets[i + 1] if i + 1 < len(offsets) else back
        body += struct.pack("!H", 0xC000 | target)
    wire = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + bytes(body) + b"\x00\x01\x00\x01"
    try:
        dns.parse(wire)
    except Malformed as exc:
        assert exc.reason == "pointer_loop"
    else:
        raise AssertionError("a compression loop was accepted")


@settings(max_examples=examples(ci=1000, dev=200))
@given(
    st.integers(0, 65535),
    names(plain=True),
    st.lists(st.tuples(names(plain=True), ipv4, u32), max_size=4),
)
def test_scapy_built_messages_parse_alike(ident: int, qname: str, answers: list) -> None:
    """Scapy compresses names when it builds; our parser must see the same message."""
    an = [DNSRR(rrname=n, type="A", ttl=ttl, rdata=ip) for n, ip, ttl in answers]
    packet = DNS(id=ident, qr=1, rd=1, qd=DNSQR(qname=qname, qtype="A"), an=an)
    message = dns.parse(bytes(packet))
    assert message.id == ident
    assert message.questions == (dns.DnsQuestion(qname, dns.TYPE_A, dns.CLASS_IN),)
    assert [(r.name, r.data, r.ttl) for r in message.answers] == answers


@settings(max_examples=examples(ci=1000, dev=200))
@given(messages)
def test_scapy_reads_our_header(message: dns.DnsMessage) -> None:
    packet = DNS(dns.emit(message))
    assert packet.id == message.id
    assert packet.qr == message.qr and packet.tc == message.tc and packet.rcode == message.rcode
    assert packet.qdcount == len(message.questions)
