"""IPv6 between the stack and the Linux kernel in lab namespaces (root): ping -6 (whole
and fragmented), a kernel IPv6 client of the stack's TCP echo server, and the stack's
TCP client of a kernel IPv6 server. Addresses: 2001:db8::1 (kernel), 2001:db8::2 (stack);
neighbour discovery resolves both ways."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.kernel_peers import MiB, Sender, echo_server, exchange, random_bytes, sha, wait_for

from pystack import netns
from pystack.lab import Lab
from pystack.reactor import blocking_call
from pystack.testing import lab as lab_fixtures

shared_lab = lab_fixtures.shared_lab

pytestmark = [pytest.mark.root, pytest.mark.needs_tool("ping", "iputils-ping")]

KERNEL6, STACK6 = "2001:db8::1", "2001:db8::2"


@pytest.fixture(params=["veth", "tap", "tap-offloads"])
def lab6(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A lab whose kernel side also has 2001:db8::1/64 (no duplicate address detection,
    so the address is usable at once). ``tap-offloads``: the TAP with checksum and TCP
    segmentation offloads, so the kernel hands over partial checksums."""
    with Lab(mode=request.param.split("-")[0]) as created:
        created.offloads = request.param.endswith("offloads")  # type: ignore[attr-defined]
        i = created.info
        netns.ip("-n", i.kernel_ns, "addr", "add", f"{KERNEL6}/64", "dev",
                 i.kernel_interface, "nodad")  # fmt: skip
        yield created


@pytest.fixture
def stack6(lab6: Lab) -> Iterator[Any]:
    from pystack.stack import PyStack

    options: dict[str, Any] = {}
    if getattr(lab6, "offloads", False):
        from pystack.links.tap import OFFLOADS

        options = {"vnet_hdr": True, "offload_flags": OFFLOADS}
    created = PyStack(link=lab6.open_link(**options), ip=lab6.stack_cidr, ip6=f"{STACK6}/64")
    try:
        created.run(doreactor=False)
        # Duplicate address detection against the kernel runs first (RFC 4862 §5.4).
        wait_for(lambda: created.ipv6.is_ours(STACK6), 10, "DAD of the stack's address")
        yield created
    finally:
        created.stop()


def _ping(lab: Lab, *extra: str) -> str:
    result = lab.run(["ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "3", *extra, STACK6],
                     capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_kernel_ping6_gets_replies(lab6: Lab, stack6: Any) -> None:
    out = _ping(lab6)
    assert "3 received" in out
    assert blocking_call(lambda: stack6.ipv6.neighbors.state_of(KERNEL6)) is not None
    assert blocking_call(lambda: stack6.stats.get("ICMPv6", "echo_replies_sent")) == 3


def test_kernel_ping6_fragmented_both_ways(lab6: Lab, stack6: Any) -> None:
    out = _ping(lab6, "-s", "3000")
    assert "3 received" in out
    stats = stack6.stats
    assert blocking_call(lambda: stats.get("IPv6", "datagrams_reassembled")) == 3
    assert blocking_call(lambda: stats.get("IPv6", "fragments_created")) >= 9


def test_stack_pings_the_kernel(lab6: Lab, stack6: Any) -> None:
    assert stack6.ping(KERNEL6, timeout=3) < 3


def test_stack_pings_the_kernel_with_fragmented_datagrams(lab6: Lab, stack6: Any) -> None:
    """The stack originates the fragmented datagram (the kernel reassembles it) and
    reassembles the kernel's fragmented reply."""
    stats = stack6.stats
    assert stack6.ping(KERNEL6, timeout=3, data=bytes(range(256)) * 12) < 3
    assert blocking_call(lambda: stats.get("IPv6", "fragments_created")) >= 3
    assert blocking_call(lambda: stats.get("IPv6", "datagrams_reassembled")) == 1


def test_kernel_ipv6_client_gets_its_bytes_echoed(lab6: Lab, stack6: Any) -> None:
    echo = echo_server(stack6, 7)
    payload = random_bytes(MiB)
    with lab6.kernel():
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(15)
        sock.connect((STACK6, 7))
        back, sent_all = exchange(sock, payload)
    assert sent_all and sha(back) == sha(payload)
    (session,) = echo.served
    assert (session.local_ip, session.remote_ip) == (STACK6, KERNEL6)


def test_stack_client_and_kernel_ipv6_server_exchange_bytes(lab6: Lab, stack6: Any) -> None:
    to_kernel, to_stack = random_bytes(MiB), random_bytes(256 * 1024)
    with lab6.kernel():
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with listener:
        listener.bind((KERNEL6, 0))
        listener.listen(1)
        listener.settimeout(15)
        client = Sender(to_kernel)
        blocking_call(stack6.register_tcp_application, client)
        connected = blocking_call(client.connect_deferred, KERNEL6, listener.getsockname()[1], 10)
        assert connected
        conn, peer = listener.accept()
        with conn:
            conn.settimeout(15)
            blocking_call(client.start_sending)
            got, sent_all = exchange(conn, to_stack)
    assert peer[0] == STACK6 and sent_all and sha(got) == sha(to_kernel)
    wait_for(lambda: client.eof, 10, "the kernel's FIN")
    assert sha(bytes(client.received)) == sha(to_stack)


def test_a_stack_sharing_the_hosts_mac_has_no_link_local_address(shared_lab: Lab) -> None:
    """Its EUI-64 address would be the kernel's own: it would answer for it."""
    from pystack.reactor import ensure_thread
    from pystack.stack import PyStack

    ensure_thread()
    with shared_lab.stack_side():
        stack = PyStack(interface="s0")
    try:
        stack.run(doreactor=False)
        assert stack.kernel_filter is not None and stack.ipv6.addresses == []
    finally:
        stack.stop()


def test_pystack_ping_takes_an_ipv6_host() -> None:
    with Lab(mode="veth") as lab:  # the command attaches to the veth's stack side
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", f"{KERNEL6}/64", "dev", "k0", "nodad")
        cmd = [sys.executable, "-m", "pystack.cli", "ping", KERNEL6, "-c", "2",
               "--interface", "s0", "--ip", lab.stack_cidr, "--ip6", f"{STACK6}/64"]  # fmt: skip
        out = netns.run(lab.info.stack_ns, cmd, timeout=60, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(f"reply from {KERNEL6}") == 2


def test_pystack_get_fetches_from_a_kernel_ipv6_http_server(tmp_path: Any) -> None:
    body = os.urandom(200_000)
    (tmp_path / "f.bin").write_bytes(body)
    with Lab(mode="veth") as lab:
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", f"{KERNEL6}/64", "dev", "k0", "nodad")
        server = netns.popen(lab.info.kernel_ns,
                             [sys.executable, "-m", "http.server", "8080", "--bind", KERNEL6,
                              "--directory", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            out_path = tmp_path / "got.bin"
            cmd = [sys.executable, "-m", "pystack.cli", "get", f"http://[{KERNEL6}]:8080/f.bin",
                   "-o", str(out_path), "--interface", "s0", "--ip", lab.stack_cidr,
                   "--ip6", f"{STACK6}/64"]  # fmt: skip
            for _ in range(20):  # the server may still be starting: refused is retried
                result = netns.run(lab.info.stack_ns, cmd, timeout=60, capture_output=True,
                                   text=True)  # fmt: skip
                if "cannot connect" not in result.stderr:
                    break
            assert result.returncode == 0, result.stderr
            assert out_path.read_bytes() == body
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()


@pytest.mark.needs_tool("curl", "curl")
@pytest.mark.timeout(180)
def test_curl_6_fetches_from_twist_web_over_the_stack(tmp_path: Any) -> None:
    repo = Path(__file__).resolve().parents[2]
    served = tmp_path / "www"
    served.mkdir()
    body = os.urandom(512 * 1024)
    (served / "blob.bin").write_bytes(body)
    with Lab(mode="tap") as lab:
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", f"{KERNEL6}/64", "dev", "tap0", "nodad")
        env = {**os.environ, "PYTHONPATH": str(repo)}  # finds twisted/plugins in the tree
        endpoint = rf"pystack:8080:tap=tap0:ip={lab.stack_cidr}:ip6=2001\:db8\:\:2/64"
        argv = ["ip", "netns", "exec", lab.info.kernel_ns, sys.executable, "-m",
                "twisted", "web", "--listen", endpoint, "--path", str(served)]  # fmt: skip
        twist = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out = tmp_path / "got.bin"
            for _ in range(20):  # twist may still be starting
                result = lab.run(["curl", "-6", "-sS", "--max-time", "10", "-o", str(out),
                                  f"http://[{STACK6}]:8080/blob.bin"],
                                 capture_output=True, text=True, check=False)  # fmt: skip
                if result.returncode == 0:
                    break
                time.sleep(0.5)
            assert result.returncode == 0, result.stderr
            assert out.read_bytes() == body
        finally:
            twist.send_signal(signal.SIGTERM)
            try:
                twist.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                twist.kill()
                twist.communicate()
