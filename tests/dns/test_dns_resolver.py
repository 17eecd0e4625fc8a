"""The stub resolver over a fake UDP network, under a Clock: what a user of resolve() sees."""

from __future__ import annotations

import errno
import random
import socket
from dataclasses import dataclass

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from pystack.dns import resolver as resolver_mod
from pystack.dns.resolver import (
    CnameLoopError,
    DNSError,
    DNSResolver,
    DNSTimeoutError,
    NoDataError,
    NXDomainError,
    ServFailError,
    TruncatedError,
)
from pystack.reactor import WouldBlock
from pystack.wire import dns as wire

SERVER_A = "198.18.0.53"
SERVER_B = "198.18.1.53"


@dataclass
class Sent:
    port: int
    data: bytes
    to: tuple[str, int]
    at: float

    @property
    def query(self) -> wire.DnsMessage:
        return wire.parse(self.data)


class FakeNet:
    """Ports opened by the resolver; every datagram it sends is recorded."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.ports: dict[int, object] = {}
        self.sent: list[Sent] = []
        self.refuse = 0  # how many of the next opens fail with EADDRINUSE
        self.opens = 0

    def open_udp(self, port: int, receive):  # UdpPortOpener
        self.opens += 1
        if port in self.ports or self.refuse:
            self.refuse = max(0, self.refuse - 1)
            raise OSError(errno.EADDRINUSE, "in use")
        self.ports[port] = receive
        return FakePort(self, port)

    def deliver(self, sent: Sent, message: wire.DnsMessage | bytes, source=None) -> None:
        data = message if isinstance(message, bytes) else wire.emit(message)
        self.ports[sent.port](data, source or sent.to)


class FakePort:
    def __init__(self, net: FakeNet, port: int) -> None:
        self.net, self.port = net, port

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.net.sent.append(Sent(self.port, data, address, self.net.clock.seconds()))

    def close(self) -> None:
        del self.net.ports[self.port]


def a(name: str, ip: str, ttl: int = 300) -> wire.DnsRecord:
    return wire.DnsRecord(name, wire.TYPE_A, wire.CLASS_IN, ttl, ip)


def cname(name: str, target: str, ttl: int = 300) -> wire.DnsRecord:
    return wire.DnsRecord(name, wire.TYPE_CNAME, wire.CLASS_IN, ttl, target)


def soa(ttl: int = 60, minimum: int = 30) -> wire.DnsRecord:
    data = wire.SoaData("ns.example", "admin.example", 1, 2, 3, 4, minimum)
    return wire.DnsRecord("example", wire.TYPE_SOA, wire.CLASS_IN, ttl, data)


def reply(sent: Sent, *answers: wire.DnsRecord, **kw) -> wire.DnsMessage:
    return wire.make_response(sent.query, tuple(answers), **kw)


class Harness:
    def __init__(self, **options) -> None:
        self.clock = Clock()
        self.net = FakeNet(self.clock)
        options.setdefault("servers", [SERVER_A])
        self.resolver = DNSResolver(
            self.net, clock=self.clock, rng=random.Random(7), timeout=1.0, **options
        )

    def resolve(self, name: str, rdtype: str = "A") -> list:
        """[result] once the Deferred fires (an answer or a Failure); [] until then."""
        out: list = []
        self.resolver.resolve(name, rdtype).addBoth(out.append)
        return out

    def drops(self) -> dict[str, int]:
        return self.resolver.stats.drops("DNS")


def error_of(out: list) -> BaseException:
    assert len(out) == 1 and isinstance(out[0], Failure), out
    return out[0].value


# ---------------------------------------------------------------- the happy path


def test_answer_is_delivered_and_port_closed() -> None:
    h = Harness()
    out = h.resolve("www.example")
    (sent,) = h.net.sent
    assert sent.to == (SERVER_A, 53)
    assert 1024 <= sent.port <= 65535
    assert sent.query.questions == (wire.DnsQuestion("www.example", wire.TYPE_A),)
    assert sent.query.rd
    h.net.deliver(sent, reply(sent, a("www.example", "198.18.0.9")))
    assert out[0].values == ("198.18.0.9",) and out[0].canonical_name == "www.example"
    assert h.net.ports == {}


def test_ids_and_source_ports_are_random_per_query() -> None:
    h = Harness(cache_entries=0)
    for i in range(20):
        h.resolve(f"host{i}.example")
    ids = {sent.query.id for sent in h.net.sent}
    ports = {sent.port for sent in h.net.sent}
    assert len(ids) == 20 and len(ports) == 20


def test_taken_source_ports_are_skipped() -> None:
    h = Harness()
    h.net.refuse = 5
    h.resolve("www.example")
    assert len(h.net.sent) == 1 and h.net.opens == 6
    h.net.refuse = 1000
    error = error_of(h.resolve("other.example"))
    assert isinstance(error, DNSError) and "no free UDP source port" in str(error)
    assert h.net.ports.keys() == {h.net.sent[0].port}


def test_aaaa_and_other_types() -> None:
    h = Harness()
    out = h.resolve("www.example", "AAAA")
    sent = h.net.sent[0]
    assert sent.query.questions[0].qtype == wire.TYPE_AAAA
    record = wire.DnsRecord("www.example", wire.TYPE_AAAA, 1, 60, "2001:db8::1")
    h.net.deliver(sent, reply(sent, record))
    assert out[0].values == ("2001:db8::1",)


def test_ip_literals_answer_themselves() -> None:
    h = Harness()
    out = h.resolve("198.18.0.7")
    assert out[0].values == ("198.18.0.7",) and h.net.sent == []


# ---------------------------------------------------------------- matching (RFC 5452 §9.1)


def test_spoofed_and_mismatched_answers_are_ignored_and_counted() -> None:
    h = Harness()
    out = h.resolve("www.example")
    sent = h.net.sent[0]
    good = reply(sent, a("www.example", "198.18.0.9"))
    evil = reply(sent, a("www.example", "6.6.6.6"))
    h.net.deliver(sent, evil, source=("198.18.0.66", 53))
    h.net.deliver(sent, evil, source=(SERVER_A, 5353))
    h.net.deliver(sent, wire.DnsMessage(**{**_fields(evil), "id": (evil.id + 1) % 65536}))
    other_q = (wire.DnsQuestion("evil.example", wire.TYPE_A),)
    h.net.deliver(sent, wire.DnsMessage(**{**_fields(evil), "questions": other_q}))
    h.net.deliver(sent, wire.DnsMessage(**{**_fields(evil), "qr": False}))
    h.net.deliver(sent, b"\x00\x01garbage")
    assert out == []
    assert h.drops() == {
        "wrong_source": 2,
        "wrong_id": 1,
        "wrong_question": 1,
        "not_response": 1,
        "malformed": 1,
    }
    h.net.deliver(sent, good)
    assert out[0].values == ("198.18.0.9",)


def test_question_name_matches_case_insensitively() -> None:
    h = Harness()
    out = h.resolve("www.example")
    sent = h.net.sent[0]
    upper = (wire.DnsQuestion("WWW.Example", wire.TYPE_A),)
    message = reply(sent, a("WWW.Example", "198.18.0.9"))
    h.net.deliver(sent, wire.DnsMessage(**{**_fields(message), "questions": upper}))
    assert out[0].values == ("198.18.0.9",)


def _fields(message: wire.DnsMessage) -> dict:
    return {name: getattr(message, name) for name in wire.DnsMessage.__slots__}


# ---------------------------------------------------------------- retries and failures


def test_retries_with_backoff_across_servers_then_timeout() -> None:
    h = Harness(servers=[SERVER_A, SERVER_B], attempts=2, backoff=2.0)
    out = h.resolve("www.example")
    h.clock.pump([0.5] * 20)
    assert [(s.to[0], s.at) for s in h.net.sent] == [
        (SERVER_A, 0.0),
        (SERVER_B, 1.0),
        (SERVER_A, 2.0),
        (SERVER_B, 4.0),
    ]
    error = error_of(out)
    assert isinstance(error, DNSTimeoutError) and isinstance(error, TimeoutError)
    assert error.errno == socket.EAI_AGAIN
    assert h.net.ports == {}
    assert len({s.query.id for s in h.net.sent}) == 4


def test_late_answer_to_an_earlier_try_is_accepted() -> None:
    h = Harness(servers=[SERVER_A, SERVER_B])
    out = h.resolve("www.example")
    h.clock.advance(1.0)
    first, _second = h.net.sent
    h.net.deliver(first, reply(first, a("www.example", "198.18.0.9")))
    assert out[0].values == ("198.18.0.9",)
    assert h.net.ports == {}


def test_answer_after_completion_is_counted_late() -> None:
    h = Harness(servers=[SERVER_A, SERVER_B])
    h.resolve("www.example")
    h.clock.advance(1.0)
    first, second = h.net.sent
    receive = h.net.ports[first.port]
    h.net.deliver(second, reply(second, a("www.example", "198.18.0.9")))
    receive(wire.emit(reply(first, a("www.example", "198.18.0.9"))), first.to)
    assert h.drops() == {"late": 1}


def test_nxdomain_fails_at_once_and_is_cached_per_soa() -> None:
    h = Harness(servers=[SERVER_A, SERVER_B])
    out = h.resolve("nope.example")
    sent = h.net.sent[0]
    h.net.deliver(sent, reply(sent, rcode=wire.RCODE_NXDOMAIN, authorities=(soa(60, 30),)))
    error = error_of(out)
    assert isinstance(error, NXDomainError) and error.errno == socket.EAI_NONAME
    assert isinstance(error, socket.gaierror) and isinstance(error, DNSError)
    assert len(h.net.sent) == 1
    assert isinstance(error_of(h.resolve("nope.example")), NXDomainError)
    assert len(h.net.sent) == 1  # from the cache, for min(SOA TTL, MINIMUM) = 30 s
    h.clock.advance(30)
    h.resolve("nope.example")
    assert len(h.net.sent) == 2


def test_servfail_moves_to_the_next_server() -> None:
    h = Harness(servers=[SERVER_A, SERVER_B])
    out = h.resolve("www.example")
    first = h.net.sent[0]
    h.net.deliver(first, reply(first, rcode=wire.RCODE_SERVFAIL))
    second = h.net.sent[1]
    assert second.to == (SERVER_B, 53) and second.at == 0.0
    h.net.deliver(second, reply(second, a("www.example", "198.18.0.9")))
    assert out[0].values == ("198.18.0.9",)


def test_servfail_everywhere_is_servfail() -> None:
    h = Harness(servers=[SERVER_A, SERVER_B], attempts=1)
    out = h.resolve("www.example")
    for _ in range(2):
        sent = h.net.sent[-1]
        h.net.deliver(sent, reply(sent, rcode=wire.RCODE_SERVFAIL))
    error = error_of(out)
    assert isinstance(error, ServFailError) and "SERVFAIL" in str(error)
    assert error.errno == socket.EAI_AGAIN
    assert h.net.ports == {}


def test_nodata_is_its_own_error() -> None:
    h = Harness()
    out = h.resolve("mail.example")
    sent = h.net.sent[0]
    h.net.deliver(sent, reply(sent, authorities=(soa(),)))
    assert isinstance(error_of(out), NoDataError)


def test_no_servers_is_a_clear_error() -> None:
    h = Harness(servers=[])
    assert "no DNS servers" in str(error_of(h.resolve("www.example")))


def test_misuse_raises() -> None:
    h = Harness()
    with pytest.raises(ValueError):
        h.resolver.resolve("a..b")
    with pytest.raises(ValueError):
        h.resolver.resolve("www.example", "BOGUS")
    with pytest.raises(ValueError):
        DNSResolver(h.net, clock=h.clock, servers=["not-an-ip"])


# ---------------------------------------------------------------- cache


def test_cache_honours_the_smallest_ttl() -> None:
    h = Harness()
    h.resolve("www.example")
    sent = h.net.sent[0]
    records = (cname("www.example", "web.example", 100), a("web.example", "198.18.0.9", 40))
    h.net.deliver(sent, reply(sent, *records))
    h.clock.advance(15)
    (cached,) = h.resolve("WWW.example.")
    assert cached.from_cache and cached.ttl == 25 and cached.values == ("198.18.0.9",)
    assert len(h.net.sent) == 1
    h.clock.advance(25)
    h.resolve("www.example")
    assert len(h.net.sent) == 2


def test_identical_questions_in_flight_share_one_query() -> None:
    h = Harness()
    first, second = h.resolve("www.example"), h.resolve("www.example")
    (sent,) = h.net.sent
    h.net.deliver(sent, reply(sent, a("www.example", "198.18.0.9")))
    assert first[0].values == second[0].values == ("198.18.0.9",)


# ---------------------------------------------------------------- CNAME chains


def test_cname_chain_in_one_response() -> None:
    h = Harness()
    out = h.resolve("www.example")
    sent = h.net.sent[0]
    records = (
        cname("www.example", "a.example"),
        cname("a.example", "b.example"),
        a("b.example", "198.18.0.10"),
    )
    h.net.deliver(sent, reply(sent, *records))
    assert out[0].canonical_name == "b.example" and out[0].values == ("198.18.0.10",)


def test_cname_without_target_data_is_followed_with_a_new_query() -> None:
    h = Harness()
    out = h.resolve("www.example")
    first = h.net.sent[0]
    h.net.deliver(first, reply(first, cname("www.example", "cdn.example")))
    second = h.net.sent[1]
    assert second.query.questions[0].name == "cdn.example"
    h.net.deliver(second, reply(second, a("cdn.example", "198.18.0.11")))
    assert out[0].name == "www.example" and out[0].values == ("198.18.0.11",)


def test_cname_loop_is_an_error() -> None:
    h = Harness()
    out = h.resolve("www.example")
    sent = h.net.sent[0]
    records = (cname("www.example", "a.example"), cname("a.example", "www.example"))
    h.net.deliver(sent, reply(sent, *records))
    assert isinstance(error_of(out), CnameLoopError)


def test_cname_chain_length_is_bounded() -> None:
    h = Harness(max_cname=3)
    out = h.resolve("n0.example")
    for i in range(4):
        sent = h.net.sent[-1]
        h.net.deliver(sent, reply(sent, cname(f"n{i}.example", f"n{i + 1}.example")))
    assert isinstance(error_of(out), CnameLoopError)
    assert len(h.net.sent) == 4


def test_nxdomain_at_the_end_of_a_chain() -> None:
    h = Harness()
    out = h.resolve("www.example")
    first = h.net.sent[0]
    h.net.deliver(first, reply(first, cname("www.example", "gone.example")))
    second = h.net.sent[1]
    h.net.deliver(second, reply(second, rcode=wire.RCODE_NXDOMAIN))
    error = error_of(out)
    assert isinstance(error, NXDomainError) and "gone.example" in str(error)


# ---------------------------------------------------------------- truncation and TCP


class FakeStream:
    def __init__(self) -> None:
        self.asked: list[tuple[wire.DnsMessage, Deferred]] = []
        self.closed = False

    def query(self, message: bytes) -> Deferred:
        d: Deferred = Deferred()
        self.asked.append((wire.parse(message), d))
        return d

    def close(self) -> None:
        self.closed = True


class FakeTcp:
    def __init__(self) -> None:
        self.connects: list[tuple[tuple[str, int], Deferred]] = []

    def connect_tcp(self, server: tuple[str, int]) -> Deferred:
        d: Deferred = Deferred()
        self.connects.append((server, d))
        return d


def truncated(h: Harness, tcp: FakeTcp) -> tuple[list, Sent]:
    out = h.resolve("big.example")
    sent = h.net.sent[0]
    h.net.deliver(sent, reply(sent, a("big.example", "198.18.2.1"), tc=True))
    assert len(tcp.connects) == 1
    return out, sent


def test_truncated_answer_is_retried_over_tcp() -> None:
    tcp, stream = FakeTcp(), FakeStream()
    h = Harness(tcp=tcp)
    out, sent = truncated(h, tcp)
    ((server, connecting),) = tcp.connects
    assert server == (SERVER_A, 53) and out == []
    connecting.callback(stream)
    ((query, d),) = stream.asked
    assert query.questions == sent.query.questions
    records = tuple(a("big.example", f"198.18.2.{i}") for i in range(1, 40))
    d.callback(wire.emit(wire.make_response(query, records)))
    assert len(out[0].values) == 39
    assert stream.closed and h.net.ports == {}


def test_tcp_reply_must_match_the_tcp_query() -> None:
    tcp, stream = FakeTcp(), FakeStream()
    h = Harness(servers=[SERVER_A, SERVER_B], tcp=tcp)
    out, _sent = truncated(h, tcp)
    tcp.connects[0][1].callback(stream)
    query, d = stream.asked[0]
    wrong = wire.make_response(wire.make_query((query.id + 1) % 65536, "big.example"))
    d.callback(wire.emit(wrong))
    assert h.drops() == {"wrong_id": 1}
    assert isinstance(error_of(out), TruncatedError) and stream.closed


def test_tcp_refused_fails_the_query() -> None:
    tcp = FakeTcp()
    h = Harness(servers=[SERVER_A, SERVER_B], tcp=tcp)
    out, _sent = truncated(h, tcp)
    tcp.connects[0][1].errback(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    error = error_of(out)
    assert isinstance(error, TruncatedError) and "refused" in str(error)


def test_tcp_connect_and_answer_are_timed() -> None:
    tcp, stream = FakeTcp(), FakeStream()
    h = Harness(tcp=tcp)
    out, _sent = truncated(h, tcp)
    h.clock.advance(1.0)
    assert isinstance(error_of(out), TruncatedError)
    tcp.connects[0][1].callback(stream)  # too late: closed at once
    assert stream.closed

    h2 = Harness(tcp=(tcp2 := FakeTcp()))
    out2, _sent = truncated(h2, tcp2)
    tcp2.connects[0][1].callback(stream2 := FakeStream())
    h2.clock.advance(1.0)
    assert isinstance(error_of(out2), DNSTimeoutError)
    query, d = stream2.asked[0]
    d.callback(wire.emit(wire.make_response(query)))
    assert h2.drops() == {"late": 1}


def test_truncated_without_tcp_is_an_error() -> None:
    h = Harness()
    out = h.resolve("big.example")
    sent = h.net.sent[0]
    h.net.deliver(sent, reply(sent, tc=True))
    assert isinstance(error_of(out), TruncatedError)


def test_stop_cancels_queries_in_flight() -> None:
    h = Harness()
    out = h.resolve("www.example")
    h.resolver.stop()
    assert "cancelled" in str(error_of(out)) and h.net.ports == {}


# ---------------------------------------------------------------- the blocking API


def test_nslookup_returns_cached_or_refuses_to_block_under_a_clock() -> None:
    h = Harness()
    with pytest.raises(WouldBlock):
        h.resolver.nslookup("www.example")
    sent = h.net.sent[0]
    h.net.deliver(sent, reply(sent, a("www.example", "198.18.0.9")))
    assert h.resolver.nslookup("www.example") == "198.18.0.9"
    assert h.resolver.nslookup("198.18.0.1") == "198.18.0.1"


def test_resolv_conf_is_read(tmp_path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nsearch example\nnameserver 198.18.0.53\nnameserver ::1\n"
        "nameserver 198.18.1.53 # second\noptions ndots:1\n"
    )
    assert resolver_mod.read_resolv_conf(str(conf)) == [SERVER_A, SERVER_B]
    assert resolver_mod.read_resolv_conf(str(tmp_path / "missing")) == []
    h = Harness(servers=None, resolv_conf=str(conf))
    assert h.resolver.servers == [SERVER_A, SERVER_B]
