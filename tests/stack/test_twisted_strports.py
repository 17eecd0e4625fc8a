"""Endpoint strings: ``pystack:`` parsed by the plugin for serverFromString/clientFromString."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import endpoints, protocol

from pystack.sim import SimNet
from pystack.twisted import PystackClientEndpoint, PystackServerEndpoint
from pystack.twisted.strports import PystackServerParser, register_stack

REPO = Path(__file__).resolve().parents[2]


class Echo(protocol.Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Collect(protocol.Protocol):
    def connectionMade(self) -> None:
        self.data = b""
        self.transport.write(b"ping")

    def dataReceived(self, data: bytes) -> None:
        self.data += data


@pytest.fixture
def net() -> Any:
    with SimNet(2, seed=3) as created:
        register_stack("a", created.a)
        register_stack("b", created.b)
        yield created


def test_server_and_client_strings_talk(net: SimNet) -> None:
    server = endpoints.serverFromString(net.clock, "pystack:7007:stack=b:backlog=3")
    assert isinstance(server, PystackServerEndpoint)
    assert (server.port, server.backlog) == (7007, 3)
    net.wait(server.listen(protocol.Factory.forProtocol(Echo)))
    client = endpoints.clientFromString(net.clock, "pystack:198.18.0.2:7007:stack=a:timeout=5")
    assert isinstance(client, PystackClientEndpoint) and client.timeout == 5
    proto = net.wait(client.connect(protocol.Factory.forProtocol(Collect)))
    assert net.run_until(lambda: proto.data == b"ping", 5)


def test_named_arguments() -> None:
    register_stack("x", object())
    server = endpoints.serverFromString(None, "pystack:port=80:stack=x:listen_ip=198.18.0.2")
    assert (server.port, server.interface) == (80, "198.18.0.2")
    client = endpoints.clientFromString(None, "pystack:host=example.lab:port=25:stack=x")
    assert (client.host, client.port) == ("example.lab", 25)


@pytest.mark.parametrize(
    "description, message",
    [
        ("pystack:80", "needs tap=DEVICE or interface=NAME"),
        ("pystack:80:stack=nope", "no stack registered as 'nope'"),
        ("pystack:80:stack=x:tap=tap0", "excludes tap"),
        ("pystack:80:stack=x:colour=red", "unknown pystack endpoint arguments: colour="),
        ("pystack:stack=x", "needs a port"),
    ],
)
def test_bad_strings_say_what_is_wrong(description: str, message: str) -> None:
    register_stack("x", object())
    with pytest.raises(ValueError, match=message):
        endpoints.serverFromString(None, description)


def test_parser_provides_the_plugin_interfaces() -> None:
    from twisted.internet.interfaces import IStreamServerEndpointStringParser
    from twisted.plugin import IPlugin

    assert IPlugin.providedBy(PystackServerParser())
    assert IStreamServerEndpointStringParser.providedBy(PystackServerParser())


def test_plugin_is_found_from_the_source_tree(tmp_path: Path) -> None:
    """With the repository on sys.path (a regular or compat-editable install puts
    twisted/plugins/pystack_endpoints.py there) Twisted's plugin scan finds both parsers."""
    probe = (
        "from twisted.plugin import getPlugins\n"
        "from twisted.internet import interfaces as i\n"
        "s = [p.prefix for p in getPlugins(i.IStreamServerEndpointStringParser)]\n"
        "c = [p.prefix for p in getPlugins(i.IStreamClientEndpointStringParserWithReactor)]\n"
        "print('pystack' in s, 'pystack' in c)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=60, check=False)  # fmt: skip
    assert out.stdout.split() == ["True", "True"], out.stderr
