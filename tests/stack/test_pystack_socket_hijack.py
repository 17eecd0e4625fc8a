"""hijack(): unmodified http.server, socketserver and urllib over two stacks on a memory wire."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet import reactor

import pystack.pystack_socket as psocket
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.links.memory import MemoryWire
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

pytestmark = pytest.mark.timeout(120)
CLIENT, SERVER = "198.18.0.1", "198.18.0.2"


def make_pair() -> tuple[PyStack, PyStack]:
    wire = MemoryWire(reactor, seed=4)
    client = PyStack(link=wire.attach(), ip=f"{CLIENT}/24", clock=reactor)
    server = PyStack(link=wire.attach(), ip=f"{SERVER}/24", clock=reactor)
    zone = TinyDnsServer({"files.lab": [SERVER]}, ttl=60)
    server.register_udp_application(zone)
    zone.bind(53)
    client.dns = resolver_for_stack(client, servers=[SERVER], timeout=0.5)
    return client, server


@pytest.fixture
def stacks() -> Iterator[tuple[PyStack, PyStack]]:
    ensure_thread(reactor)
    client, server = blocking_call(make_pair, _reactor=reactor)
    try:
        yield client, server
    finally:
        blocking_call(client.stop, _reactor=reactor)
        blocking_call(server.stop, _reactor=reactor)


def test_urllib_fetches_2_mib_from_http_server_intact(stacks, tmp_path: Path) -> None:
    client, server = stacks
    blob = os.urandom(2 * 1024 * 1024)
    (tmp_path / "blob.bin").write_bytes(blob)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    with psocket.hijack(server):
        httpd = http.server.ThreadingHTTPServer(("", 8080), handler)
    assert isinstance(httpd.socket, psocket.socket)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = "http://files.lab:8080/blob.bin"
        with psocket.hijack(client), urllib.request.urlopen(url, timeout=30) as reply:
            body = reply.read()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(blob).hexdigest()


def test_seed_style_module_swap_and_restore(stacks) -> None:
    client, _server = stacks
    import socket as before

    with psocket.hijack(client):
        import socket

        assert socket is psocket
        assert before.create_connection is psocket.create_connection
    import socket as after

    assert after is before and after.socket is not psocket.socket
