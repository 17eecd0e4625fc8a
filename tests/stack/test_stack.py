"""Two stacks on a simulated wire under a deterministic clock: ping, UDP, fragments, pcaps."""

from __future__ import annotations

import errno
import hashlib
from typing import Any

import pytest

from pystack.apps.udp_application import UDPApplication
from pystack.pystack import PyStack
from pystack.sim import SimNet


class Echo(UDPApplication):
    """Sends every datagram back to its sender."""

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        ip, udp = kwargs["IP"], kwargs["UDP"]
        self.sendto(packet, (ip.src, udp.src_port))


def test_ping_resolves_arp_and_returns_the_rtt() -> None:
    net = SimNet(2, delay=0.005)
    rtt = net.wait(net.a.ping_deferred("198.18.0.2", timeout=1))
    assert rtt == pytest.approx(0.020)  # ARP request + reply, then echo + reply
    assert net.wait(net.a.ping_deferred("198.18.0.2")) == pytest.approx(0.010)
    assert net.a.arp.get_mac("198.18.0.2") == net.b.mac


def test_ping_times_out_and_unresolved_host_is_unreachable() -> None:
    net = SimNet(2)
    with pytest.raises(TimeoutError):
        net.wait(net.a.ping_deferred("198.18.0.9", timeout=0.5))
    with pytest.raises(OSError) as info:
        net.wait(net.a.ping_deferred("198.18.0.9", timeout=10))
    assert info.value.errno == errno.EHOSTUNREACH
    assert net.a.stats.dropped("ARP", "unresolved") == 2


def test_blocking_ping_under_a_simulated_clock_says_to_use_the_deferred() -> None:
    net = SimNet(2)
    with pytest.raises(RuntimeError, match="would block"):
        net.a.ping("198.18.0.2")


def test_udp_exchange_reports_the_real_peer() -> None:
    net = SimNet(2)
    server, client = Echo(), UDPApplication()
    net.b.register_udp_application(server)
    net.a.register_udp_application(client)
    server.bind(7)
    client.sendto(b"hello", ("198.18.0.2", 7))
    assert net.run_until(lambda: client.data)
    data, peer = client.recvfrom()  # type: ignore[misc]
    assert (data, peer) == (b"hello", ("198.18.0.2", 7))
    assert client.fetch_data() == b""


def test_closed_port_gets_port_unreachable_passed_to_the_app() -> None:
    net = SimNet(2)
    client = UDPApplication()
    net.a.register_udp_application(client)
    client.sendto(b"anyone?", ("198.18.0.2", 9999))
    assert net.run_until(lambda: client.errors)
    assert client.errors == [("unreachable", 3, ("198.18.0.2", 9999))]
    assert net.b.stats.dropped("UDP", "no_port") == 1
    assert net.b.stats.get("ICMP", "errors_sent") == 1


def test_binding_a_taken_port_raises() -> None:
    net = SimNet(1)
    first, second = UDPApplication(), UDPApplication()
    net.a.register_udp_application(first)
    net.a.register_udp_application(second)
    first.bind(53)
    with pytest.raises(OSError) as info:
        second.bind(53)
    assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError):
        UDPApplication().send_packet(b"x")


class Collector(UDPApplication):
    """Keeps every payload it receives, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytes] = []

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.received.append(packet)


def _echo_through(net: SimNet, payloads: list[bytes], retry: float = 0.5) -> list[bytes]:
    """Send each payload until its echo is back (the test's retransmission)."""
    server, client = Echo(), Collector()
    net.b.register_udp_application(server)
    net.a.register_udp_application(client)
    server.bind(7)
    client.connect("198.18.0.2", 7)
    for payload in payloads:
        for _ in range(40):
            client.send_packet(payload)
            if net.run_until(lambda p=payload: p in client.received, retry):  # type: ignore[misc]
                break
    return [p for p in payloads if p in client.received]


def test_udp_echo_through_loss_and_reordering() -> None:
    net = SimNet(2, seed=5, loss=0.2, reorder=0.3, duplicate=0.05)
    payloads = [bytes([i]) * (i + 1) for i in range(40)]
    assert _echo_through(net, payloads) == payloads
    assert net.wire.counters.lost > 0 and net.wire.counters.reordered > 0


def test_8000_byte_datagrams_both_ways_are_fragmented_and_reassembled() -> None:
    net = SimNet(2, seed=2)
    big = bytes(range(256)) * 31 + bytes(64)  # 8000 bytes
    assert len(big) == 8000
    assert _echo_through(net, [big, big[::-1]]) == [big, big[::-1]]
    for stack in net.stacks:
        assert stack.stats.get("IP", "fragments_created") == 12
        assert stack.stats.get("IP", "datagrams_reassembled") == 2


def test_fragmented_udp_through_loss_still_arrives() -> None:
    net = SimNet(2, seed=9, loss=0.1, reorder=0.2)
    big = bytes(range(200)) * 40
    assert _echo_through(net, [big], retry=1.0) == [big]


def _pcaps(tmp: Any, seed: int) -> list[str]:
    net = SimNet(2, seed=seed, loss=0.2, reorder=0.2, pcap_dir=str(tmp))
    _echo_through(net, [b"abc" * 100, bytes(3000)])
    net.a.ping_deferred("198.18.0.2", timeout=5).addErrback(lambda f: None)
    net.advance(6)
    net.close()
    return [hashlib.sha256(open(f"{tmp}/{i}.pcap", "rb").read()).hexdigest() for i in (0, 1)]


def test_same_seed_gives_byte_identical_pcaps(tmp_path: Any) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "three").mkdir()
    first = _pcaps(tmp_path / "one", seed=11)
    assert first == _pcaps(tmp_path / "two", seed=11)
    assert first != _pcaps(tmp_path / "three", seed=12)


def test_gateway_routing_and_no_route() -> None:
    net = SimNet(2)
    off_link = PyStack(link=net.wire.attach(), ip="198.18.1.1/24", gateway="198.18.1.254",
                       clock=net.clock)  # fmt: skip
    client = UDPApplication()
    off_link.register_udp_application(client)
    client.sendto(b"x", ("198.19.0.1", 1))
    assert net.run_until(lambda: off_link.arp.cache, 0.1)
    assert "198.18.1.254" in off_link.arp.cache  # next hop is the gateway
    no_gw = UDPApplication()
    net.a.register_udp_application(no_gw)
    no_gw.sendto(b"x", ("198.19.0.1", 1))
    assert net.a.stats.dropped("IP", "no_route") == 1
    assert no_gw.errors == [("unreachable", 0, ("198.19.0.1", 1))]


def test_unknown_options_are_rejected_and_options_reach_layers() -> None:
    net = SimNet(1)
    with pytest.raises(TypeError, match="unknown PyStack options: bogus"):
        PyStack(link=net.wire.attach(), ip="198.18.0.7/24", clock=net.clock, bogus=1)
    stack = PyStack(link=net.wire.attach(), ip="198.18.0.8/24", clock=net.clock, ttl=7,
                    overlap_policy="bsd", arp_retries=5)  # fmt: skip
    assert (stack.ip.ttl, stack.ip.overlap_policy.value, stack.arp.retries) == (7, "bsd", 5)
    assert int(stack.mac[:2], 16) & 0b11 == 0b10  # locally administered, unicast


def test_stats_print_like_netstat() -> None:
    net = SimNet(2)
    net.wait(net.a.ping_deferred("198.18.0.2"))
    text = str(net.a.stats)
    assert "Icmp:\n" in text and "1 echo requests sent" in text
