"""``stack.dns``: the stack's lazily created resolver, and TCPApplication.connect by name,
on the simulated wire with dns_stack's TinyDnsServer."""

from __future__ import annotations

from typing import Any

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.dns.resolver import DNSResolver, NXDomainError, read_resolv_conf
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.reactor import WouldBlock
from pystack.sim import SimNet

SERVER = "198.18.0.2"


@pytest.fixture
def net() -> Any:
    net = SimNet(2, dns_servers=[SERVER])
    zone = TinyDnsServer({"srv.lab": [SERVER], "www.lab": "CNAME srv.lab"}, ttl=60)
    net.b.register_udp_application(zone)
    zone.bind(53)
    net.zone = zone  # type: ignore[attr-defined]
    return net


def test_stack_dns_is_created_once_with_the_configured_servers(net: Any) -> None:
    resolver = net.a.dns
    assert isinstance(resolver, DNSResolver) and resolver.servers == [SERVER]
    assert net.a.dns is resolver
    answer = net.wait(resolver.resolve("www.lab"))
    assert answer.values == (SERVER,) and answer.canonical_name.rstrip(".") == "srv.lab"


def test_resolv_conf_is_the_default() -> None:
    other = SimNet(1)
    assert other.a.dns.servers == read_resolv_conf()


def test_nslookup_under_a_clock_answers_from_the_cache_only(net: Any) -> None:
    with pytest.raises(WouldBlock):
        net.a.dns.nslookup("srv.lab")  # nothing in the cache: would block the clock
    net.wait(net.a.dns.resolve("srv.lab"))
    assert net.a.dns.nslookup("srv.lab") == SERVER  # the seed's call, from the cache


def test_stack_dns_can_be_replaced(net: Any) -> None:
    mine = resolver_for_stack(net.a, servers=["198.18.0.99"])
    net.a.dns = mine
    assert net.a.dns is mine


def test_tcp_connect_resolves_host_names(net: Any) -> None:
    server = TCPApplication()
    net.b.register_tcp_application(server)
    server.bind(8080)
    server.listen(1)
    client = TCPApplication()
    net.a.register_tcp_application(client)
    assert net.wait(client.connect_deferred("www.lab", 8080)) is True
    assert client.session is not None and client.session.remote_ip == SERVER
    assert len(net.zone.queries) == 1


def test_tcp_connect_to_an_unknown_name_fails_with_the_resolver_error(net: Any) -> None:
    client = TCPApplication()
    net.a.register_tcp_application(client)
    with pytest.raises(NXDomainError):
        net.wait(client.connect_deferred("nope.lab", 8080))
    assert client.session is None


def test_tcp_connect_to_a_name_without_a_stack_is_misuse(net: Any) -> None:
    client = TCPApplication()
    net.a.tcp.register_application(client)  # registered with the layer only: no stack.dns
    with pytest.raises(ValueError, match="not an IPv4 address"):
        client.connect_deferred("www.lab", 80)


def test_udp_sendto_a_name_once_it_is_cached(net: Any) -> None:
    net.wait(net.a.dns.resolve("srv.lab"))
    sink = UDPApplication()
    net.b.register_udp_application(sink)
    sink.bind(7000)
    sender = UDPApplication()
    net.a.register_udp_application(sender)
    sender.sendto(b"hi", ("srv.lab", 7000))
    assert net.run_until(lambda: sink.data)
    assert sink.fetch_data() == b"hi"


def test_stop_cancels_queries_in_flight(net: Any) -> None:
    net.b.udp.unbind(53, net.zone)  # nobody answers now
    failures: list[Any] = []
    net.a.dns.resolve("srv.lab").addErrback(failures.append)
    net.a.stop()
    net.advance(0.1)
    assert failures
