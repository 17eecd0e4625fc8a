"""Every example of examples/ runs: two stacks on a memory wire (no root needed).

The blocking examples run as their users run them, with the real reactor in its thread
(``stack.run(doreactor=False)``); the wire is a MemoryWire on that reactor.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from twisted.internet import reactor

import pystack.pystack_socket as socket
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

pytestmark = pytest.mark.timeout(120)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIENT, SERVER = "198.18.0.1", "198.18.0.2"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Pair:
    """Two stacks on a memory wire driven by the real reactor (its background thread)."""

    def __init__(self) -> None:
        wire = MemoryWire(reactor, seed=11)
        self.client = PyStack(link=wire.attach(), ip=f"{CLIENT}/24", clock=reactor)
        self.server = PyStack(link=wire.attach(), ip=f"{SERVER}/24", clock=reactor)

    def stop(self) -> None:
        self.client.stop()
        self.server.stop()


@pytest.fixture
def pair() -> Iterator[Pair]:
    ensure_thread(reactor)
    made = blocking_call(Pair, _reactor=reactor)
    try:
        yield made
    finally:
        socket.use_stack(None)
        blocking_call(made.stop, _reactor=reactor)


def test_every_example_has_a_docstring_saying_how_to_run_it() -> None:
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text()
        assert text.startswith('"""'), path.name
        assert f"python examples/{path.name}" in text, f"{path.name}: no command line"


def test_echo_server_and_tcp_client(pair: Pair) -> None:
    echo, client = load("echo_server"), load("tcp_client")
    blocking_call(echo.serve, pair.server, 8888, _reactor=reactor)
    payload = b"hello echo " * 5000

    def fetch() -> bytes:
        conn = client.TCPApplication()
        pair.client.register_tcp_application(conn)
        assert conn.connect(SERVER, 8888, timeout=5) is True
        blocking_call(conn.send_packet, payload, _reactor=reactor)
        got = b""
        while len(got) < len(payload):
            got += blocking_call(conn.fetch_data, _reactor=reactor)
        blocking_call(conn.close, _reactor=reactor)
        return got

    assert fetch() == payload
    assert fetch() == payload  # one shared EchoServer serves client after client


def test_tcp_client_fetch_reads_until_the_server_closes(pair: Pair) -> None:
    client = load("tcp_client")
    from pystack.apps.tcp_application import TCPApplication

    class Answer(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            self.send_packet(b"HTTP/1.0 200 OK\r\n\r\n" + packet.upper())
            self.close()

    def serve() -> None:
        app = Answer()
        pair.server.register_tcp_application(app)
        app.bind(80, app, True)
        app.listen(5)

    blocking_call(serve, _reactor=reactor)
    answer = client.fetch(pair.client, SERVER, 80, b"get / http/1.0\r\n\r\n", wait=10)
    assert answer == b"HTTP/1.0 200 OK\r\n\r\nGET / HTTP/1.0\r\n\r\n"


def test_socket_client_and_server(pair: Pair) -> None:
    example = load("socket_client_server")
    socket.use_stack(pair.server)
    listener = example.listen(5555)
    served: list[Any] = []
    thread = threading.Thread(target=lambda: served.append(example.serve_one(listener)))
    thread.start()
    socket.use_stack(pair.client)
    answer = example.client(SERVER, 5555, b"hello, world\nsecond line\n")
    thread.join(30)
    listener.close()
    assert answer == b"HELLO, WORLD\nSECOND LINE\n"
    assert served[0][0] == CLIENT


def test_web_server_and_hijacked_urllib(pair: Pair, tmp_path: Path) -> None:
    web, hijack = load("web_server"), load("socket_hijack")
    blob = os.urandom(512 * 1024)
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "index.html").write_text("<h1>pystack</h1>")
    blocking_call(web.serve, pair.server, str(tmp_path), 8080, _reactor=reactor)
    body = hijack.fetch(pair.client, f"http://{SERVER}:8080/blob.bin")
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(blob).hexdigest()
    assert hijack.fetch(pair.client, f"http://{SERVER}:8080/") == b"<h1>pystack</h1>"


def test_covert_channel_carries_the_secret_under_cover_text() -> None:
    lines: list[str] = []
    assert load("covert_channel").main(["--secret", "meet at dawn"], say=lines.append) == 0
    assert lines[0] == "cover text echoed: 'an entirely innocent conversation about the weather '"
    assert lines[1] == "hidden bytes read by the server: b'meet at dawn'"


def test_covert_session_segments_are_ordinary_to_a_plain_peer() -> None:
    """Only the sender runs CovertSession: the plain receiver ignores the field."""
    example = load("covert_channel")
    from pystack.sim import SimNet

    with SimNet(2, seed=2) as net:
        example.use_covert_sessions(net.a)
        server = example.Cover()
        net.b.register_tcp_application(server)
        server.bind(9000, server, True)
        server.listen(1)
        client = example.TCPApplication()
        net.a.register_tcp_application(client)
        assert net.wait(client.connect_deferred(net.b.address, 9000), 5)
        example.hide(client.session, b"xyz")
        client.send_packet(b"weather")
        assert net.run_until(lambda: client.session.readable == 7, 5)
        assert len(client.session.outbox) < 3  # hidden in what was sent
        assert client.fetch_data() == b"weather"


def test_ssh_server_runs_a_command(pair: Pair) -> None:
    """twisted.conch's client logs in over the stack and runs ``echo ok``."""
    pytest.importorskip("cryptography", reason="twisted.conch needs cryptography")
    pytest.importorskip("bcrypt", reason="twisted.conch needs bcrypt")
    ssh_example = load("ssh_server")
    blocking_call(ssh_example.serve, pair.server, 2222, "demo", "secret", _reactor=reactor)
    out = blocking_call(run_command, pair.client, "demo", "secret", b"echo ok", _reactor=reactor)
    assert out == b"ok\n"


def run_command(stack: Any, user: str, password: str, command: bytes) -> Any:
    """A Deferred firing with the output of ``command`` run over SSH on SERVER:2222."""
    from twisted.conch.ssh import channel, common, connection, transport, userauth
    from twisted.internet import defer, protocol

    from pystack.twisted import PystackClientEndpoint

    done: defer.Deferred[bytes] = defer.Deferred()

    class Exec(channel.SSHChannel):
        name = b"session"

        def channelOpen(self, data: bytes) -> None:
            self.out = b""
            assert self.conn is not None
            self.conn.sendRequest(self, b"exec", common.NS(command), wantReply=True)

        def dataReceived(self, data: bytes) -> None:
            self.out += data

        def closed(self) -> None:
            if not done.called:
                done.callback(self.out)
            assert self.conn is not None and self.conn.transport is not None
            self.conn.transport.loseConnection()

    class Conn(connection.SSHConnection):
        def serviceStarted(self) -> None:
            self.openChannel(Exec(conn=self))

    class Auth(userauth.SSHUserAuthClient):
        def getPassword(self, prompt: Any = None) -> Any:
            return defer.succeed(password.encode())

    class Client(transport.SSHClientTransport):
        def verifyHostKey(self, hostKey: bytes, fingerprint: str) -> Any:
            return defer.succeed(True)  # the key is new at every start of the example

        def connectionSecure(self) -> None:
            self.requestService(Auth(user.encode(), Conn()))

    endpoint = PystackClientEndpoint(stack, SERVER, 2222, timeout=10)
    endpoint.connect(protocol.Factory.forProtocol(Client)).addErrback(done.errback)
    return done


REAL_DEVICE = ("echo_server", "tcp_client", "socket_client_server", "socket_hijack",
               "web_server", "ssh_server", "covert_channel", "dns_lookup")  # fmt: skip
# What the README says of them.
SIMULATED_ONLY = ("custom_isn", "syn_hello", "aimd_congestion", "udp_echo", "os_personality",
                  "fast_open")  # fmt: skip
# Examples that make their own namespace lab (root); a test in their area runs each.
LAB_ONLY = ("evasion_http",)


def docstring(name: str) -> str:
    text = (EXAMPLES / f"{name}.py").read_text()
    return text[3 : text.index('"""', 3)]


def test_the_readme_names_every_example_and_what_it_takes() -> None:
    every = REAL_DEVICE + SIMULATED_ONLY + LAB_ONLY
    assert sorted(every) == sorted(p.stem for p in EXAMPLES.glob("*.py"))
    readme = " ".join((EXAMPLES.parent / "README.md").read_text().split())
    assert (
        "all but `custom_isn.py`, `syn_hello.py`, `aimd_congestion.py`, `udp_echo.py`, "
        "`os_personality.py` and `fast_open.py`, which run on a simulated wire" in readme
    )


@pytest.mark.parametrize("name", REAL_DEVICE + SIMULATED_ONLY + LAB_ONLY)
def test_help_exits_0_and_describes_the_example_as_its_docstring(name: str) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--help"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    first_paragraph = " ".join(docstring(name).split("\n\n")[0].split())
    assert first_paragraph in " ".join(result.stdout.split())
    assert ("--tap" in result.stdout) == (name in REAL_DEVICE)
    assert ("--interface" in result.stdout) == (name in REAL_DEVICE)


class Parsed(Exception):
    """Raised in place of running the example, once its arguments parsed."""


def docstring_commands(name: str) -> list[list[str]]:
    """The `python examples/NAME.py ...` command lines of an example's docstring."""
    text = docstring(name).replace("\\\\\n", " ")  # a line continued by a backslash
    return [shlex.split(line.strip())[2:] for line in text.splitlines()
            if line.strip().startswith(f"python examples/{name}.py")]  # fmt: skip


@pytest.mark.parametrize("name", REAL_DEVICE + SIMULATED_ONLY + LAB_ONLY)
def test_the_command_lines_in_the_docstring_parse(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = docstring_commands(name)
    assert lines, f"{name}: no command line in its docstring"
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, ns: Any = None) -> Any:
        raise Parsed(parse(self, args, ns))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    module = load(name)
    for argv in lines:
        with pytest.raises(Parsed):  # not SystemExit: argparse took the line as it is
            module.main(argv)
