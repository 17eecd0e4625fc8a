"""Hostile datagrams on a query's port: never an exception, never a wrong answer."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from pystack.dns.resolver import DNSResolver
from pystack.testing import examples
from pystack.wire import dns as wire

SERVER = ("198.18.0.53", 53)


class Net:
    def __init__(self) -> None:
        self.ports: dict[int, object] = {}
        self.sent: list[tuple[int, bytes]] = []

    def open_udp(self, port: int, receive):
        self.ports[port] = receive
        net = self

        class Port:
            def sendto(self, data: bytes, address: tuple[str, int]) -> None:
                net.sent.append((port, data))

            def close(self) -> None:
                net.ports.pop(port, None)

        return Port()


sources = st.sampled_from([SERVER, ("198.18.0.66", 53), (SERVER[0], 5353)])


@settings(max_examples=examples(ci=500, dev=100))
@given(st.lists(st.tuples(st.binary(max_size=80), sources), max_size=8), st.data())
def test_junk_never_raises_and_only_a_matching_answer_resolves(junk, data) -> None:
    clock, net = Clock(), Net()
    resolver = DNSResolver(net, clock=clock, rng=random.Random(3), servers=[SERVER[0]])
    out: list = []
    resolver.resolve("www.example").addBoth(out.append)
    port, query_bytes = net.sent[0]
    query = wire.parse(query_bytes)
    for payload, source in junk:
        # Half the time, graft the real ID onto the junk so that deeper checks run.
        if data.draw(st.booleans()) and len(payload) >= 2:
            payload = query.id.to_bytes(2, "big") + payload[2:]
        if port in net.ports:
            net.ports[port](payload, source)  # type: ignore[operator]
    if out:  # something was accepted: it must have been a well-formed matching response
        result = out[0]
        assert not hasattr(result, "value") or isinstance(result.value, Exception)
    genuine = wire.make_response(query, (wire.DnsRecord("www.example", 1, 1, 60, "198.18.0.9"),))
    if port in net.ports:
        net.ports[port](wire.emit(genuine), SERVER)  # type: ignore[operator]
        assert out and out[0].values == ("198.18.0.9",)
    assert sum(resolver.stats.drops("DNS").values()) <= len(junk)
