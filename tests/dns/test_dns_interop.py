"""The resolver against a real DNS server: Debian's dnsmasq in a lab namespace.

dnsmasq serves www.lab (A), alias.lab (CNAME to www.lab), big.lab (40 A records: too big
for 512 bytes, so the UDP answer is truncated and the resolver must ask again over TCP),
NXDOMAIN for any other name under lab, and REFUSED outside it. The resolver runs in the
stack's namespace over kernel sockets (adapters below), driven by a Clock that follows
real time, so this checks our codec and resolver against a real server's bytes.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from pystack import netns
from pystack.dns.resolver import (
    DNSResolver,
    DNSTimeoutError,
    NXDomainError,
    ServFailError,
)
from pystack.lab import Lab
from pystack.wire import dns as wire

DNSMASQ = "/usr/sbin/dnsmasq"
BIG = [f"198.18.3.{i}" for i in range(1, 41)]

pytestmark = [
    pytest.mark.root,
    pytest.mark.needs_tool(DNSMASQ, "dnsmasq-base"),
]


# ---------------------------------------------------------------- kernel-socket adapters


class KernelUdp:
    """UdpPortOpener over kernel UDP sockets of the namespace the test thread is in."""

    def __init__(self) -> None:
        self.sockets: dict[socket.socket, Callable[[bytes, tuple[str, int]], None]] = {}

    def open_udp(self, port: int, receive: Callable[[bytes, tuple[str, int]], None]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.sockets[sock] = receive
        return KernelPort(self, sock)

    def run_until(self, clock: Clock, out: list, limit: float = 15.0) -> None:
        """Deliver datagrams and let the clock follow real time until ``out`` is filled."""
        start = last = time.monotonic()
        while not out and time.monotonic() - start < limit:
            readable, _, _ = select.select(list(self.sockets), [], [], 0.02)
            for sock in readable:
                receive = self.sockets.get(sock)
                if receive is not None:
                    data, source = sock.recvfrom(65535)
                    receive(data, source)
            now = time.monotonic()
            clock.advance(now - last)
            last = now


class KernelPort:
    def __init__(self, net: KernelUdp, sock: socket.socket) -> None:
        self.net, self.sock = net, sock

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(data, address)

    def close(self) -> None:
        self.net.sockets.pop(self.sock, None)
        self.sock.close()


class KernelTcp:
    """StreamConnector over blocking kernel TCP sockets (RFC 7766 framing)."""

    def __init__(self) -> None:
        self.connections = 0

    def connect_tcp(self, server: tuple[str, int]) -> Deferred:
        try:
            sock = socket.create_connection(server, timeout=2.0)
        except OSError as exc:
            return fail(exc)
        self.connections += 1
        return succeed(KernelStream(sock))


class KernelStream:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def query(self, message: bytes) -> Deferred:
        try:
            self.sock.sendall(wire.frame_tcp(message))
            length = int.from_bytes(self._read(2), "big")
            return succeed(self._read(length))
        except OSError as exc:
            return fail(exc)

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionResetError("closed before a full DNS message")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------- the server


def dnsmasq_argv(listen: str) -> list[str]:
    argv = [
        DNSMASQ,
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--port=53",
        f"--listen-address={listen}",
        "--bind-interfaces",
        "--pid-file=",
        "--local=/lab/",
        "--host-record=www.lab,198.18.0.10",
        "--cname=alias.lab,www.lab",
        "--local-ttl=60",  # dnsmasq answers its own records with TTL 0 by default
    ]
    return argv + [f"--host-record=big.lab,{ip}" for ip in BIG]


@contextlib.contextmanager
def dnsmasq(lab: Lab) -> Iterator[None]:
    """dnsmasq on the lab's kernel side at kernel_ip:53, stopped by its pid on exit."""
    server = netns.popen(
        lab.info.kernel_ns,
        dnsmasq_argv(lab.kernel_ip),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_serving(lab)
        yield
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def _wait_until_serving(lab: Lab) -> None:
    query = wire.emit(wire.make_query(1, "www.lab"))
    with lab.kernel(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.1)
        for _ in range(50):
            probe.sendto(query, (lab.kernel_ip, 53))
            try:
                probe.recv(512)
                return
            except OSError:
                continue
    raise RuntimeError("dnsmasq did not start serving")


@pytest.fixture
def dns_lab() -> Iterator[Lab]:
    """A shared-address veth lab (the stack namespace's kernel owns 198.18.0.2) with
    dnsmasq on the kernel side."""
    with Lab(mode="veth", shared=True) as lab, dnsmasq(lab):
        yield lab


class Client:
    def __init__(self, lab: Lab, **options) -> None:
        self.lab = lab
        self.clock = Clock()
        self.udp = KernelUdp()
        self.tcp = KernelTcp()
        options.setdefault("servers", [lab.kernel_ip])
        options.setdefault("timeout", 1.0)
        self.resolver = DNSResolver(
            self.udp, clock=self.clock, rng=random.Random(), tcp=self.tcp, **options
        )

    def resolve(self, name: str, rdtype: str = "A"):
        out: list = []
        with self.lab.stack_side():
            self.resolver.resolve(name, rdtype).addBoth(out.append)
            self.udp.run_until(self.clock, out)
        assert out, f"no result for {name}"
        result = out[0]
        if hasattr(result, "raiseException"):
            result.raiseException()
        return result


# ---------------------------------------------------------------- the cases


def test_a_record(dns_lab: Lab) -> None:
    answer = Client(dns_lab).resolve("www.lab")
    assert answer.values == ("198.18.0.10",) and answer.canonical_name == "www.lab"
    assert answer.ttl > 0


def test_cname_is_followed(dns_lab: Lab) -> None:
    answer = Client(dns_lab).resolve("alias.lab")
    assert answer.canonical_name == "www.lab" and answer.values == ("198.18.0.10",)


def test_nxdomain(dns_lab: Lab) -> None:
    with pytest.raises(NXDomainError) as info:
        Client(dns_lab).resolve("nope.lab")
    assert info.value.errno == socket.EAI_NONAME


def test_truncated_answer_is_fetched_over_tcp(dns_lab: Lab) -> None:
    client = Client(dns_lab)
    answer = client.resolve("big.lab")
    assert sorted(answer.values) == sorted(BIG)
    assert client.tcp.connections == 1
    assert client.resolver.stats.get("DNS", "tcp_fallbacks") == 1


def test_refused_is_a_server_failure(dns_lab: Lab) -> None:
    with pytest.raises(ServFailError, match="REFUSED"):
        Client(dns_lab, attempts=1).resolve("www.example")


def test_timeout_when_nobody_answers(dns_lab: Lab) -> None:
    client = Client(dns_lab, servers=["198.18.0.99"], timeout=0.2, attempts=2)
    started = time.monotonic()
    with pytest.raises(DNSTimeoutError):
        client.resolve("www.lab")
    assert 0.55 <= time.monotonic() - started < 5  # 0.2 s then 0.4 s


def test_second_lookup_comes_from_the_cache(dns_lab: Lab) -> None:
    client = Client(dns_lab)
    client.resolve("www.lab")
    sent = client.resolver.stats.get("DNS", "queries_sent")
    assert client.resolve("www.lab").from_cache
    assert client.resolver.stats.get("DNS", "queries_sent") == sent


# ---------------------------------------------------------------- the same, over the stack


@pytest.fixture(params=["veth", "tap"])
def stack_resolver(request: pytest.FixtureRequest) -> Iterator[DNSResolver]:
    """The stack (198.18.0.2, real reactor in its thread) on a lab running dnsmasq, and its
    resolver pointed at the kernel side."""
    stack_mod = pytest.importorskip("pystack.stack")
    from pystack.dns.transport import resolver_for_stack
    from pystack.reactor import blocking_call

    with Lab(mode=request.param) as lab, dnsmasq(lab):
        stack = stack_mod.PyStack(link=lab.open_link(), ip=lab.stack_cidr)
        try:
            stack.run(doreactor=False)
            yield blocking_call(resolver_for_stack, stack, servers=[lab.kernel_ip], timeout=1.0)
        finally:
            stack.stop()


def test_stack_resolves_a_and_cname(stack_resolver: DNSResolver) -> None:
    assert stack_resolver.nslookup("www.lab") == "198.18.0.10"
    alias = stack_resolver.resolve_blocking("alias.lab")
    assert alias.canonical_name == "www.lab" and alias.values == ("198.18.0.10",)


def test_stack_gets_nxdomain(stack_resolver: DNSResolver) -> None:
    with pytest.raises(NXDomainError):
        stack_resolver.nslookup("nope.lab")


def test_stack_fetches_a_truncated_answer_over_its_tcp(stack_resolver: DNSResolver) -> None:
    tcp = stack_resolver.tcp.stack.tcp  # type: ignore[union-attr]
    if not hasattr(tcp, "register_application"):
        pytest.skip("the stack's TCP layer does not take applications yet")
    answer = stack_resolver.resolve_blocking("big.lab")
    assert sorted(answer.values) == sorted(BIG)


def test_example_resolves_against_dnsmasq_on_a_tap() -> None:
    """examples/dns_lookup.py in real mode: the stack on a lab TAP asks dnsmasq."""
    pytest.importorskip("pystack.stack")
    example = Path(__file__).resolve().parents[2] / "examples" / "dns_lookup.py"
    with Lab(mode="tap") as lab, dnsmasq(lab):
        argv = [sys.executable, str(example), "--tap", "tap0", "--ip", lab.stack_cidr]
        argv += ["--server", lab.kernel_ip, "www.lab", "alias.lab", "big.lab", "nope.lab"]
        done = lab.run(argv, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("www.lab: 198.18.0.10")
    assert lines[1].startswith("alias.lab (alias of www.lab): 198.18.0.10")
    assert lines[2].count("198.18.3.") == 40
    assert lines[3].startswith("nope.lab: NXDomainError")
