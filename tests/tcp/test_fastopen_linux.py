"""TCP Fast Open (RFC 7413) against Linux, both ways, in a namespace lab.

The kernel side's namespace gets ``net.ipv4.tcp_fastopen=3`` (client and server), set in
that namespace only; the stack runs in its own process with ``TcpConfig(fastopen=True)``.

- A Linux client (``sendto(data, MSG_FASTOPEN)``) asks the stack for a cookie on its
  first connection and sends its request in the SYN on the second; the stack's server
  reads it in SYN_RECEIVED and answers; Linux counts TcpExtTCPFastOpenActive.
- The stack's client does the same to a Linux server with the TCP_FASTOPEN socket
  option; Linux counts TcpExtTCPFastOpenPassive.

Run with ``pytest -s`` to see the counters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pystack import netns
from pystack.lab import Lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.needs_tool("nstat", "iproute2"),
    pytest.mark.needs_tool("sysctl", "procps"),
]

PORT = 8080

STACK_SERVER = r"""
import json, sys
from twisted.internet import reactor
from pystack.apps.tcp_application import TCPApplication
from pystack.links.packet_socket import PacketSocketLink
from pystack.stack import PyStack
from pystack.tcp.config import TcpConfig

port, cidr, gateway = int(sys.argv[1]), sys.argv[2], sys.argv[3]
stack = PyStack(link=PacketSocketLink("s0"), ip=cidr, gateway=gateway,
                tcp=TcpConfig(fastopen=True))
COUNTERS = ("fastopen_passive", "fastopen_passive_fail", "fastopen_cookie_sent")


class Answer(TCPApplication):
    def packet_received(self, packet, **kwargs):
        state = self._target(kwargs).state
        counters = {name: stack.stats.get("tcp", name) for name in COUNTERS}
        print(json.dumps({"data": packet.decode(), "state": state, **counters}), flush=True)
        self.send_packet(b"pong:" + packet, **kwargs)


def start():
    app = Answer()
    stack.register_tcp_application(app)
    app.bind(port, app=app)
    app.listen(16)
    print(json.dumps({"ready": True}), flush=True)


reactor.callWhenRunning(start)
stack.run()
"""

LINUX_CLIENT = r"""
import socket, sys
ip, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
for n in (1, 2):
    s = socket.socket()  # blocking: sendto(MSG_FASTOPEN) waits for the handshake
    s.sendto(b"hello%d" % n, socket.MSG_FASTOPEN, (ip, port))
    s.settimeout(5)
    answer = b""
    while len(answer) < len(prefix) + 6:  # the answer: prefix + b"helloN"
        chunk = s.recv(100)
        if not chunk:
            break
        answer += chunk
    print(answer.decode(), flush=True)
    s.close()
"""

LINUX_SERVER = r"""
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
srv.bind((ip, port))
srv.listen(16)
print("ready", flush=True)
srv.settimeout(20)
for _ in (1, 2):
    conn, _ = srv.accept()
    conn.settimeout(5)
    data = conn.recv(100)
    conn.sendall(b"pong:" + data)
    print(data.decode(), flush=True)
    conn.close()
"""

STACK_CLIENT = r"""
import json, sys
from twisted.internet import reactor
from pystack.apps.tcp_application import TCPApplication
from pystack.links.packet_socket import PacketSocketLink
from pystack.stack import PyStack
from pystack.tcp.config import TcpConfig

server, port, cidr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stack = PyStack(link=PacketSocketLink("s0"), ip=cidr, gateway=server,
                tcp=TcpConfig(fastopen=True))
results = []


def connect(n):
    app = TCPApplication()
    stack.register_tcp_application(app)
    answer = bytearray()

    def received(data, **kwargs):
        answer.extend(data)
        if answer.startswith(b"pong:") and len(answer) >= 11:
            session = app.session
            results.append({"answer": answer.decode(), "syn_data": session.fastopen_syn_data,
                            "fell_back": session.fastopen_fell_back})
            app.close()
            if n == 1:
                reactor.callLater(0.3, connect, 2)
            else:
                results.append({"fastopen_active": stack.stats.get("tcp", "fastopen_active")})
                print(json.dumps(results), flush=True)
                reactor.callLater(0.3, reactor.stop)

    app.packet_received = received
    app.connect_deferred(server, port)
    app.send_packet(b"hello%d" % n)  # before the SYN leaves: it rides on it with a cookie


reactor.callWhenRunning(connect, 1)
reactor.callLater(20, reactor.stop)
stack.run()
"""


def linux_counters(lab: Lab) -> dict[str, int]:
    """The kernel side's absolute counters (nstat -a, history neither read nor written)."""
    text = lab.run(["nstat", "-asz"], check=True).stdout.splitlines()
    counters: dict[str, int] = {}
    for line in text:
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            counters[fields[0]] = int(fields[1])
    return counters


def fastopen_counters(lab: Lab) -> dict[str, int]:
    return {k: v for k, v in linux_counters(lab).items() if "FastOpen" in k}


@pytest.fixture
def tfo_lab() -> Iterator[Lab]:
    with Lab(mode="veth") as lab:
        # Client and server (1|2), in the kernel side's namespace only; no blackhole
        # detection, so that one refused SYN does not turn active Fast Open off.
        for setting in ("net.ipv4.tcp_fastopen=3", "net.ipv4.tcp_fastopen_blackhole_timeout_sec=0"):
            lab.run(["sysctl", "-q", "-w", setting], check=True)
        assert lab.run(["sysctl", "-n", "net.ipv4.tcp_fastopen"]).stdout.strip() == "3"
        yield lab


def stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def read_json_line(proc: Any, deadline: float) -> Any:
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith((b"{", b"[")):
            return json.loads(line)
    raise AssertionError("the stack process stopped without answering")


def test_linux_client_sends_its_request_in_the_syn_to_the_stack(tfo_lab: Lab) -> None:
    lab = tfo_lab
    argv = [sys.executable, "-c", STACK_SERVER, str(PORT), lab.stack_cidr, lab.kernel_ip]
    stack = netns.popen(lab.info.stack_ns, argv, stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        assert read_json_line(stack, deadline) == {"ready": True}
        before = fastopen_counters(lab)
        client = lab.run([sys.executable, "-c", LINUX_CLIENT, lab.stack_ip, str(PORT), "pong:"],
                         timeout=30)  # fmt: skip
        assert client.returncode == 0, client.stderr
        assert client.stdout.split() == ["pong:hello1", "pong:hello2"]
        first, second = read_json_line(stack, deadline), read_json_line(stack, deadline)
        after = fastopen_counters(lab)
    finally:
        stop(stack)
        stack.stdout.close()
    print("\nLinux client:", before, "->", after, "\nstack server:", first, second)
    # First connection: a cookie request, the data after the handshake.
    assert first["data"] == "hello1" and first["state"] == "ESTABLISHED"
    assert first["fastopen_cookie_sent"] == 1 and first["fastopen_passive"] == 0
    # Second: the data in the SYN, read before the handshake completed.
    assert second["data"] == "hello2" and second["state"] == "SYN_RECEIVED"
    assert second["fastopen_passive"] == 1 and second["fastopen_passive_fail"] == 0
    assert after["TcpExtTCPFastOpenActive"] == before.get("TcpExtTCPFastOpenActive", 0) + 1
    assert after.get("TcpExtTCPFastOpenActiveFail", 0) == before.get(
        "TcpExtTCPFastOpenActiveFail", 0
    )


def test_stack_client_sends_its_request_in_the_syn_to_linux(tfo_lab: Lab) -> None:
    lab = tfo_lab
    server = netns.popen(lab.info.kernel_ns,
                         [sys.executable, "-c", LINUX_SERVER, lab.kernel_ip, str(PORT)],
                         stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert server.stdout.readline().strip() == b"ready"
        before = fastopen_counters(lab)
        argv = [sys.executable, "-c", STACK_CLIENT, lab.kernel_ip, str(PORT), lab.stack_cidr]
        client = netns.run(lab.info.stack_ns, argv, timeout=60)
        assert client.returncode == 0, client.stderr
        results = json.loads(client.stdout.strip().splitlines()[-1])
        served = [server.stdout.readline().strip() for _ in range(2)]
        after = fastopen_counters(lab)
    finally:
        stop(server)
        server.stdout.close()
    print("\nLinux server:", before, "->", after, "\nstack client:", results)
    assert served == [b"hello1", b"hello2"]
    first, second, totals = results
    assert first == {"answer": "pong:hello1", "syn_data": 0, "fell_back": False}
    assert second == {"answer": "pong:hello2", "syn_data": 6, "fell_back": False}
    assert totals == {"fastopen_active": 1}
    assert after["TcpExtTCPFastOpenPassive"] == before.get("TcpExtTCPFastOpenPassive", 0) + 1
    assert after["TcpExtTCPFastOpenCookieReqd"] == before.get("TcpExtTCPFastOpenCookieReqd", 0) + 1


# ------------------------------------------------------------------ the command line

PYSTACK = [sys.executable, "-m", "pystack.cli"]
ATTACH = ["--interface", "s0", "--ip", "198.18.0.2/24"]

LINUX_HTTP = r"""
import socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
srv.bind((ip, port))
srv.listen(16)
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    conn.recv(1000)
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nfast")
    conn.close()
"""


def test_pystack_serve_fastopen_takes_a_linux_clients_syn_data(tfo_lab: Lab) -> None:
    lab = tfo_lab
    cmd = [*PYSTACK, "serve", "echo", "--port", str(PORT), "--fastopen", *ATTACH]
    proc = netns.popen(lab.info.stack_ns, cmd, stdout=subprocess.PIPE)
    try:
        assert b"echo server" in proc.stdout.readline()
        before = fastopen_counters(lab)
        client = lab.run([sys.executable, "-c", LINUX_CLIENT, lab.stack_ip, str(PORT), ""],
                         timeout=30)  # fmt: skip
        after = fastopen_counters(lab)
    finally:
        stop(proc)
        proc.stdout.close()
    print("\nLinux client to pystack serve --fastopen:", before, "->", after)
    assert client.returncode == 0, client.stderr
    assert client.stdout.split() == ["hello1", "hello2"]  # echoed
    assert after["TcpExtTCPFastOpenActive"] == before.get("TcpExtTCPFastOpenActive", 0) + 1


def test_pystack_get_fastopen_asks_for_a_cookie_then_sends_the_request_in_the_syn(
    tfo_lab: Lab,
) -> None:
    lab = tfo_lab
    server = netns.popen(lab.info.kernel_ns,
                         [sys.executable, "-c", LINUX_HTTP, lab.kernel_ip, str(PORT)],
                         stdout=subprocess.PIPE)  # fmt: skip
    url = f"http://{lab.kernel_ip}:{PORT}/"
    try:
        assert server.stdout.readline().strip() == b"ready"
        first = netns.run(lab.info.stack_ns, [*PYSTACK, "get", url, "--fastopen", *ATTACH],
                          timeout=60)  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert first.stdout == "fast"
        assert "request sent after the handshake" in first.stderr
        cookie = first.stderr.split("server cookie ")[1].split()[0]
        assert len(bytes.fromhex(cookie)) >= 4
        before = fastopen_counters(lab)
        argv = [*PYSTACK, "get", url, "--fastopen", cookie, *ATTACH]
        second = netns.run(lab.info.stack_ns, argv, timeout=60)
        after = fastopen_counters(lab)
    finally:
        stop(server)
        server.stdout.close()
    print("\nLinux server to pystack get --fastopen:", before, "->", after)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "fast"
    assert "request sent in the SYN" in second.stderr
    assert after["TcpExtTCPFastOpenPassive"] == before.get("TcpExtTCPFastOpenPassive", 0) + 1
