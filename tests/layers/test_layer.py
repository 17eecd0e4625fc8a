"""The seed's Layer API: registration, and a stack built by hand with a user's layer
(seed-style, scapy packets) inserted between IP and UDP."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet import UDP
from twisted.internet.task import Clock

from pystack.apps.udp_application import UDPApplication
from pystack.layers.arp import ARPProtocol
from pystack.layers.ethernet import EthernetProtocol
from pystack.layers.icmp import ICMPProtocol
from pystack.layers.ip import IPProtocol
from pystack.layers.layer import Default, Layer
from pystack.layers.udp import UDPProtocol
from pystack.links import MemoryWire
from pystack.sim import SimNet


class Scream(Layer):
    """A user's layer in the seed's style: sees scapy packets both ways and passes them on."""

    name = "UDP"

    def __init__(self) -> None:
        Layer.__init__(self)
        self.seen_up: list[tuple[Any, str]] = []
        self.seen_down: list[Any] = []

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.seen_up.append((packet, kwargs["IP"]["src"]))
        self.upperLayers["UDP"].packet_received(packet, **kwargs)

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        self.seen_down.append(packet)
        packet[UDP].dport = packet[UDP].dport  # a user may touch fields
        self.transfer_packet(packet, **kwargs)


def build_by_hand(wire: MemoryWire, ip: str, clock: Clock) -> tuple[Any, ...]:
    """As the seed's "Stack crafting" section, with the scream layer above IP."""
    eth = EthernetProtocol(wire.attach(), ip=ip, clock=clock)
    ip_layer = IPProtocol()
    eth.register_layer(ip_layer)
    arp = ARPProtocol()
    eth.register_layer(arp)
    ip_layer.register_layer(ICMPProtocol())
    scream = Scream()
    ip_layer.register_layer(scream)
    udp = UDPProtocol()
    scream.register_layer(udp)
    return eth, scream, udp


def test_registration_api() -> None:
    lower, upper = Layer(), Layer()
    upper.name = "X"
    assert isinstance(lower.upperLayers["default"], Default)
    lower.register_layer(upper)
    assert lower.upperLayers["X"] is upper and upper.lowerLayers["default"] is lower
    lower.register_layer_full("Y", upper)
    lower.unregister_upper_layer("Y")
    assert "Y" not in lower.upperLayers
    with pytest.raises(KeyError):
        lower.unregister_upper_layer("Y")
    with pytest.raises(RuntimeError, match="not part of a stack"):
        _ = upper.clock


def test_user_layer_between_ip_and_udp_sees_scapy_packets() -> None:
    net = SimNet(1)
    eth, scream, udp = build_by_hand(net.wire, "198.18.0.2/24", net.clock)
    assert udp.ctx is eth.ctx  # the context reached the top through the user's layer
    server = UDPApplication()
    server.register_lower_layer("default", udp)
    server.bind(9)
    client = UDPApplication()
    net.a.register_udp_application(client)
    client.sendto(b"through scream", ("198.18.0.2", 9))
    assert net.run_until(lambda: server.data)
    assert server.recvfrom() == (b"through scream", ("198.18.0.1", client.localPort))
    packet, src = scream.seen_up[0]
    assert isinstance(packet, UDP) and packet.dport == 9 and src == "198.18.0.1"
    server.sendto(b"back", ("198.18.0.1", client.localPort))  # type: ignore[arg-type]
    assert net.run_until(lambda: client.data)
    assert client.fetch_data() == b"back"
    assert isinstance(scream.seen_down[0], UDP) and scream.seen_down[0].sport == 9


def test_hand_built_stack_needs_a_clock() -> None:
    with pytest.raises(TypeError, match="clock"):
        EthernetProtocol(MemoryWire(Clock()).attach(), ip="198.18.0.1/24")


class Passthrough(Layer):
    """A seed-style layer that keeps the seed's default packet_received (decapsulate)."""

    name = "UDP"


def test_seed_default_packet_received_decapsulates_to_the_layer_above() -> None:
    net = SimNet(1)
    eth = EthernetProtocol(net.wire.attach(), ip="198.18.0.2/24", clock=net.clock)
    ip_layer = IPProtocol()
    eth.register_layer(ip_layer)
    eth.register_layer(ARPProtocol())
    passthrough = Passthrough()
    ip_layer.register_layer(passthrough)
    app = UDPApplication()
    passthrough.register_layer_full("Raw", app)
    client = UDPApplication()
    net.a.register_udp_application(client)
    client.sendto(b"raw payload", ("198.18.0.2", 9))
    assert net.run_until(lambda: app.data)
    assert app.recvfrom() == (b"raw payload", ("198.18.0.1", client.localPort))
