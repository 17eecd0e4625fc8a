"""pystack.twisted over IPv6 on a simulated wire: endpoints with IPv6 literals, transports
and listening ports giving IPv6Address, and an endpoint string with escaped colons."""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.internet.address import IPv6Address
from twisted.internet.endpoints import clientFromString

from pystack.sim import SimNet
from pystack.twisted import PystackClientEndpoint, PystackServerEndpoint
from pystack.twisted.strports import register_stack

PORT = 8443


class Recorder(protocol.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()

    def dataReceived(self, data: bytes) -> None:
        self.data += data


class Echo(Recorder):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Factory(protocol.Factory):
    def __init__(self, cls: type[protocol.Protocol]) -> None:
        self.cls = cls
        self.built: list[Any] = []

    def buildProtocol(self, addr: Any) -> Any:
        self.built.append(self.cls())
        return self.built[-1]


def test_echo_over_ipv6_with_ipv6_addresses() -> None:
    with SimNet(2, seed=3, ipv6=True) as net:
        server = Factory(Echo)
        port = net.wait(PystackServerEndpoint(net.b, PORT, interface="::").listen(server))
        client_factory = Factory(Recorder)
        client = net.wait(PystackClientEndpoint(net.a, "2001:db8::2", PORT).connect(client_factory))
        client.transport.write(b"six")
        assert net.run_until(lambda: client.data == b"six", 5)
        assert client.transport.getPeer() == IPv6Address("TCP", "2001:db8::2", PORT)
        assert client.transport.getHost().host == "2001:db8::1"
        assert server.built[0].transport.getPeer().host == "2001:db8::1"
        assert port.getHost() == IPv6Address("TCP", "2001:db8::2", PORT)


def test_client_endpoint_string_with_an_escaped_ipv6_host() -> None:
    with SimNet(2, seed=4, ipv6=True) as net:
        register_stack("six", net.a)
        net.wait(PystackServerEndpoint(net.b, PORT).listen(Factory(Echo)))
        endpoint: Any = clientFromString(
            net.clock, r"pystack:host=2001\:db8\:\:2:port=8443:stack=six"
        )
        client = net.wait(endpoint.connect(Factory(Recorder)))
        client.transport.write(b"string")
        assert net.run_until(lambda: client.data == b"string", 5)
