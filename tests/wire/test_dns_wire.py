"""The DNS codec byte by byte: known messages, compression, and each malformed reason."""

from __future__ import annotations

import struct

import pytest

from pystack.wire import Malformed, dns

HEADER_1Q = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
QUERY = HEADER_1Q + b"\x03www\x07example\x00\x00\x01\x00\x01"


def reason(data: bytes) -> str:
    with pytest.raises(Malformed) as info:
        dns.parse(data)
    return info.value.reason


@pytest.mark.requirement("RFC1035:4.1")
def test_query_bytes_match_rfc1035_layout() -> None:
    assert dns.emit(dns.make_query(0xBEEF, "www.example")) == QUERY
    assert dns.parse(QUERY) == dns.make_query(0xBEEF, "www.example")


def test_trailing_dot_and_root() -> None:
    assert dns.encode_name("www.example.") == dns.encode_name("www.example")
    assert dns.encode_name(".") == b"\x00"
    root_query = HEADER_1Q + b"\x00\x00\x02\x00\x01"
    assert dns.parse(root_query).questions == (dns.DnsQuestion(".", dns.TYPE_NS),)


@pytest.mark.requirement("RFC1035:4.1")
def test_compressed_answer_is_expanded() -> None:
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, 6) + b"\x03web\xc0\x10"
    answer += b"\xc0\x29" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([198, 18, 0, 9])
    header = struct.pack("!HHHHHH", 0xBEEF, 0x8180, 1, 2, 0, 0)
    message = dns.parse(header + QUERY[12:] + answer)
    assert message.qr and message.ra and message.rcode == dns.RCODE_NOERROR
    assert message.answers == (
        dns.DnsRecord("www.example", dns.TYPE_CNAME, 1, 300, "web.example"),
        dns.DnsRecord("web.example", dns.TYPE_A, 1, 60, "198.18.0.9"),
    )


def test_self_pointer_is_a_loop() -> None:
    assert reason(HEADER_1Q + b"\xc0\x0c\x00\x01\x00\x01") == "pointer_loop"


def test_two_pointer_cycle_is_a_loop() -> None:
    assert reason(HEADER_1Q + b"\xc0\x0e\xc0\x0c\x00\x01\x00\x01") == "pointer_loop"


def test_label_then_pointer_back_to_itself_is_a_loop() -> None:
    assert reason(HEADER_1Q + b"\x01a\xc0\x0c\x00\x01\x00\x01") == "pointer_loop"


def test_pointer_past_the_end_is_rejected() -> None:
    assert reason(HEADER_1Q + b"\xc0\xff\x00\x01\x00\x01") == "pointer_out_of_bounds"


def test_reserved_label_types_are_rejected() -> None:
    assert reason(HEADER_1Q + b"\x41a\x00\x00\x01\x00\x01") == "bad_label_type"
    assert reason(HEADER_1Q + b"\x81a\x00\x00\x01\x00\x01") == "bad_label_type"


def test_names_over_255_octets_are_rejected() -> None:
    name = (b"\x3f" + b"a" * 63) * 4 + b"\x00"
    assert reason(HEADER_1Q + name + b"\x00\x01\x00\x01") == "name_too_long"
    with pytest.raises(ValueError):
        dns.encode_name(".".join(["a" * 63] * 4))


def test_truncated_everywhere_is_reported() -> None:
    for cut in range(len(QUERY)):
        assert reason(QUERY[:cut]) == "truncated"


def test_a_record_of_wrong_length_is_rejected() -> None:
    header = struct.pack("!HHHHHH", 1, 0x8180, 0, 1, 0, 0)
    record = b"\x00" + struct.pack("!HHIH", 1, 1, 5, 3) + b"abc"
    assert reason(header + record) == "bad_rdata_length"


def test_cname_rdata_must_end_at_rdlength() -> None:
    header = struct.pack("!HHHHHH", 1, 0x8180, 0, 1, 0, 0)
    record = b"\x00" + struct.pack("!HHIH", 5, 1, 5, 4) + b"\x01a\x00\x00"
    assert reason(header + record) == "bad_rdata_length"


def test_truncated_reply_keeps_complete_records() -> None:
    header = struct.pack("!HHHHHH", 0xBEEF, 0x8380, 1, 3, 0, 0)
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    message = dns.parse(header + QUERY[12:] + record + record[:5])
    assert message.tc and len(message.answers) == 1
    without_tc = struct.pack("!HHHHHH", 0xBEEF, 0x8180, 1, 3, 0, 0)
    assert reason(without_tc + QUERY[12:] + record + record[:5]) == "truncated"


def test_escaped_labels_round_trip() -> None:
    name = "a\\.b\\000c.example"
    assert dns.encode_name(name) == b"\x05a.b\x00c\x07example\x00"
    query = dns.make_query(1, name)
    assert dns.parse(dns.emit(query)) == query


def test_misuse_raises_value_error() -> None:
    with pytest.raises(ValueError):
        dns.encode_name("a..b")
    with pytest.raises(ValueError):
        dns.encode_name("bücher.example")
    with pytest.raises(ValueError):
        dns.rdtype_code("NOPE")
    with pytest.raises(ValueError):
        dns.emit(dns.DnsMessage(1, answers=(dns.DnsRecord("a", 99, 1, 0, "text"),)))


def test_helpers() -> None:
    assert dns.names_equal("WWW.Example.", "www.example")
    assert not dns.names_equal("www.example", "www.example.org")
    assert dns.rdtype_code("aaaa") == dns.TYPE_AAAA and dns.rdtype_code(15) == 15
    assert dns.frame_tcp(b"abc") == b"\x00\x03abc"
    query = dns.make_query(7, "x.example", dns.TYPE_AAAA)
    response = dns.make_response(query, rcode=dns.RCODE_NXDOMAIN)
    assert response.id == 7 and response.qr and response.questions == query.questions
    assert dns.parse_header(dns.emit(response)).rcode == dns.RCODE_NXDOMAIN
