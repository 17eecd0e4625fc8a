"""Two stacks on a MemoryWire under a Clock: the resolver on one, a tiny DNS server on the other."""

from __future__ import annotations

import random

import pytest
from twisted.internet.task import Clock

from pystack.dns.resolver import DNSTimeoutError, NXDomainError, TruncatedError
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.links.memory import MemoryWire
from pystack.stack import PyStack

SERVER_IP = "198.18.0.53"
RECORDS = {
    "www.lab": ["198.18.0.10"],
    "alias.lab": "CNAME www.lab",
    "v6.lab": ["2001:db8::10"],
    "big.lab": [f"198.18.3.{i}" for i in range(1, 41)],
}


class Net:
    def __init__(self, loss: float = 0.0, attempts: int = 2) -> None:
        self.clock = Clock()
        wire = MemoryWire(self.clock, loss=loss, seed=5)
        self.client = PyStack(link=wire.attach(), ip="198.18.0.2/24", clock=self.clock,
                              rng=random.Random(1))  # fmt: skip
        self.server = PyStack(link=wire.attach(), ip=f"{SERVER_IP}/24", clock=self.clock,
                              rng=random.Random(2))  # fmt: skip
        self.dns_server = TinyDnsServer(RECORDS, ttl=60)
        self.server.register_udp_application(self.dns_server)
        self.dns_server.bind(53)
        self.resolver = resolver_for_stack(self.client, servers=[SERVER_IP], attempts=attempts)

    def resolve(self, name: str, rdtype: str = "A"):
        out: list = []
        self.resolver.resolve(name, rdtype).addBoth(out.append)
        for _ in range(4000):  # up to 200 s of protocol time
            if out:
                break
            self.clock.advance(0.05)
        assert out, f"no result for {name}"
        if hasattr(out[0], "raiseException"):
            out[0].raiseException()
        return out[0]


def test_a_aaaa_cname_and_cache() -> None:
    net = Net()
    assert net.resolve("www.lab").values == ("198.18.0.10",)
    assert net.resolve("v6.lab", "AAAA").values == ("2001:db8::10",)
    alias = net.resolve("alias.lab")
    assert alias.canonical_name == "www.lab" and alias.values == ("198.18.0.10",)
    asked = len(net.dns_server.queries)
    assert net.resolve("www.lab").from_cache and len(net.dns_server.queries) == asked


def test_nxdomain_over_the_stack() -> None:
    with pytest.raises(NXDomainError):
        Net().resolve("nope.lab")


def needs_tcp(net: Net) -> None:
    if not hasattr(net.client.tcp, "register_application"):
        pytest.skip("the stack's TCP layer does not take applications yet")


def test_truncated_answer_is_fetched_over_the_stacks_tcp() -> None:
    net = Net()
    needs_tcp(net)
    net.dns_server.serve_tcp(net.server)
    answer = net.resolve("big.lab")
    assert sorted(answer.values) == sorted(RECORDS["big.lab"])
    assert net.client.stats.get("DNS", "tcp_fallbacks") == 1


def test_truncated_answer_without_tcp_listener_fails() -> None:
    net = Net()
    needs_tcp(net)
    with pytest.raises(TruncatedError):
        net.resolve("big.lab")


def test_timeout_when_the_server_is_gone() -> None:
    net = Net()
    net.dns_server.close()
    with pytest.raises(DNSTimeoutError):
        net.resolve("www.lab")
    assert net.client.stats.get("DNS", "queries_sent") == 2


def test_retries_carry_through_loss() -> None:
    net = Net(loss=0.3, attempts=10)  # 30% loss each way: a try fails half the time
    for i in range(5):
        name = "www.lab" if i % 2 else "alias.lab"
        net.resolver.cache.clear()
        assert net.resolve(name).values == ("198.18.0.10",)
