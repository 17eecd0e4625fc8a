"""getaddrinfo with AF_UNSPEC: A and AAAA asked through the stack's resolver, ordered in
the spirit of RFC 6724 §6 (a family with a usable source address first, then IPv6 before
IPv4); two stacks on a memory wire (the real reactor in its thread), the server answering
DNS from a zone with both families."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from twisted.internet import reactor

import pystack.pystack_socket as socket
from pystack.addrinfo import order_destinations, usable_families
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread
from pystack.routes import AddressEntry
from pystack.stack import PyStack

pytestmark = pytest.mark.timeout(60)
DUAL4, DUAL6 = "198.18.0.1", "2001:db8::1"
ONLY4 = "198.18.0.3"
SERVER4, SERVER6 = "198.18.0.2", "2001:db8::2"
ZONE = {"both.lab": [SERVER4, SERVER6], "v6.lab": [SERVER6], "v4.lab": [SERVER4],
        "alias.lab": "CNAME both.lab"}  # fmt: skip


class Net:
    def __init__(self) -> None:
        ensure_thread(reactor)
        wire = MemoryWire(reactor, seed=7)
        self.dual = PyStack(link=wire.attach(), ip=f"{DUAL4}/24", ip6=f"{DUAL6}/64",
                            clock=reactor, dad_transmits=0)  # fmt: skip
        self.only4 = PyStack(link=wire.attach(), ip=f"{ONLY4}/24", clock=reactor,
                             dad_transmits=0)  # fmt: skip
        self.server = PyStack(link=wire.attach(), ip=f"{SERVER4}/24", ip6=f"{SERVER6}/64",
                              clock=reactor, dad_transmits=0)  # fmt: skip
        zone = TinyDnsServer(ZONE, ttl=60)
        self.server.register_udp_application(zone)
        zone.bind(53)
        for stack in (self.dual, self.only4):
            stack.dns = resolver_for_stack(stack, servers=[SERVER4], timeout=0.5)

    def stop(self) -> None:
        for stack in (self.dual, self.only4, self.server):
            stack.stop()


@pytest.fixture
def net() -> Iterator[Net]:
    made = blocking_call(Net, _reactor=reactor)
    try:
        yield made
    finally:
        socket.use_stack(None)
        blocking_call(made.stop, _reactor=reactor)


def _addresses(infos: list[tuple[int, int, int, str, tuple[object, ...]]]) -> list[object]:
    return [(family, sockaddr[0]) for family, _, _, _, sockaddr in infos]


def test_dual_stack_host_gets_ipv6_first(net: Net) -> None:
    socket.use_stack(net.dual)
    infos = socket.getaddrinfo("both.lab", 80, type=socket.SOCK_STREAM)
    assert infos == [
        (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (SERVER6, 80, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (SERVER4, 80)),
    ]
    named = socket.getaddrinfo("alias.lab", 80, type=socket.SOCK_STREAM,
                               flags=socket.AI_CANONNAME)  # fmt: skip
    assert named[0][3] == "both.lab" and _addresses(named)[0] == (socket.AF_INET6, SERVER6)


def test_ipv4_only_host_gets_ipv4_first(net: Net) -> None:
    socket.use_stack(net.only4)
    infos = socket.getaddrinfo("both.lab", 80, type=socket.SOCK_STREAM)
    assert _addresses(infos) == [(socket.AF_INET, SERVER4), (socket.AF_INET6, SERVER6)]


def test_a_family_without_records_is_left_out(net: Net) -> None:
    socket.use_stack(net.dual)
    assert _addresses(socket.getaddrinfo("v4.lab", 80, type=socket.SOCK_DGRAM)) == [
        (socket.AF_INET, SERVER4)
    ]
    assert _addresses(socket.getaddrinfo("v6.lab", 80, type=socket.SOCK_DGRAM)) == [
        (socket.AF_INET6, SERVER6)
    ]
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("nope.lab", 80)
    # An explicit family still asks only its own question.
    assert _addresses(socket.getaddrinfo("both.lab", 80, socket.AF_INET, socket.SOCK_STREAM)) \
        == [(socket.AF_INET, SERVER4)]  # fmt: skip


def _entry(cidr: str, state: str = "assigned") -> AddressEntry:
    return AddressEntry(ipaddress.ip_interface(cidr), "link0", state)


def test_usable_families_skip_loopback_link_local_and_tentative() -> None:
    assert usable_families([_entry("127.0.0.1/8"), _entry("::1/128"),
                            _entry("fe80::1/64"), _entry("169.254.3.4/16")]) == set()  # fmt: skip
    assert usable_families([_entry("2001:db8::1/64", "tentative"),
                            _entry("198.18.0.1/24")]) == {socket.AF_INET}  # fmt: skip
    assert usable_families([_entry("2001:db8::1/64", "deprecated")]) == {socket.AF_INET6}


def test_order_is_stable_within_a_family() -> None:
    addresses = ["198.18.0.9", "2001:db8::9", "198.18.0.8", "2001:db8::8"]
    both = {socket.AF_INET, socket.AF_INET6}
    assert order_destinations(addresses, both) == [
        "2001:db8::9", "2001:db8::8", "198.18.0.9", "198.18.0.8"]  # fmt: skip
    assert order_destinations(addresses, {socket.AF_INET}) == [
        "198.18.0.9", "198.18.0.8", "2001:db8::9", "2001:db8::8"]  # fmt: skip
    assert order_destinations(addresses, set()) == order_destinations(addresses, both)


def test_create_connection_by_name_takes_the_preferred_family(net: Net) -> None:
    socket.use_stack(net.server)
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)  # dual-stack
    listener.bind(("::", 8080))
    listener.listen(4)
    try:
        socket.use_stack(net.dual)
        with socket.create_connection(("both.lab", 8080), timeout=5) as conn:
            assert conn.getpeername()[:2] == (SERVER6, 8080)
        socket.use_stack(net.only4)
        with socket.create_connection(("both.lab", 8080), timeout=5) as conn:
            assert conn.getpeername() == (SERVER4, 8080)
    finally:
        listener.close()
