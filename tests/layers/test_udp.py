"""UDP and UDPApplication as the seed documents them, with Python 3 bytes."""

from __future__ import annotations

import pytest

from pystack.apps.udp_application import UDPApplication
from pystack.links import LossyLink
from pystack.pystack import PyStack
from pystack.sim import SimNet, WireTap
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet

A, B = "198.18.0.1", "198.18.0.2"


def _apps(net: SimNet) -> tuple[UDPApplication, UDPApplication]:
    server, client = UDPApplication(), UDPApplication()
    net.a.register_udp_application(server)
    net.b.register_udp_application(client)
    return server, client


@pytest.mark.requirement("RFC1122:4.1.3.5-source-address")
def test_bind_sendto_recvfrom_fetch_data_from() -> None:
    net = SimNet(2)
    server, client = _apps(net)
    assert server.bind(5000) == 5000
    client.sendto(b"one", (A, 5000))
    client.sendto(b"two", (A, 5000))
    net.advance(0.1)
    assert server.fetch_data_from() == (B, client.localPort, b"one")
    assert server.fetch_data(2) == b"tw"  # datagram semantics: the rest is discarded
    assert server.fetch_data() == b"" and server.recvfrom() is None
    assert server.get_self_addr() == (A, 5000)


def test_connected_app_keeps_only_its_peer() -> None:
    net = SimNet(3)
    server, client = _apps(net)
    third = UDPApplication()
    net.stacks[2].register_udp_application(third)
    client.bind(6000)
    client.connect(A, 5000)
    server.bind(5000)
    third.sendto(b"intruder", (B, 6000))
    server.sendto(b"peer", (B, 6000))
    net.advance(0.1)
    assert client.recvfrom() == (b"peer", (A, 5000)) and client.dropped == 1
    assert client.get_conn_addr() == (A, 5000)


@pytest.mark.requirement("RFC1122:4.1.3.4-checksum-check", "RFC1122:4.1.3.4-checksum-able")
def test_checksum_zero_is_accepted_and_a_bad_one_dropped() -> None:
    net = SimNet(2)
    server, _ = _apps(net)
    server.bind(7)
    tap = WireTap(net)
    good = udp_wire.emit(udp_wire.UdpDatagram(1, 7, b"sum"), B, A)
    tap.inject(Ipv4Packet(B, A, 17, good[:6] + b"\0\0" + good[8:]))
    tap.inject(Ipv4Packet(B, A, 17, good[:6] + b"\x12\x34" + good[8:]))
    assert server.fetch_data() == b"sum"
    assert net.a.stats.dropped("UDP", "bad_checksum") == 1


def test_close_releases_the_port_and_bind_with_app() -> None:
    net = SimNet(2)
    server, _ = _apps(net)
    server.bind(7)
    assert not net.a.is_udp_port_free(7)
    server.close()
    assert net.a.is_udp_port_free(7)
    other = UDPApplication()
    server.bind(8, app=other)
    assert net.a.udp.bindings[8] is other
    with pytest.raises(RuntimeError, match="register"):
        UDPApplication().bind(9)


def test_stack_over_a_lossy_link_still_talks() -> None:
    net = SimNet(1)
    lossy = LossyLink(net.wire.attach(), net.clock, loss=0.3, seed=4)
    b = PyStack(link=lossy, ip=f"{B}/24", clock=net.clock)
    server, client = UDPApplication(), UDPApplication()
    net.a.register_udp_application(server)
    b.register_udp_application(client)
    server.bind(7)
    for _ in range(30):
        client.sendto(b"hi", (A, 7))
        if net.run_until(lambda: server.data, 1.5):
            break
    assert server.fetch_data() == b"hi" and lossy.lost > 0
