"""Shared-address mode against the kernel (issue 5 §3, §6): the stack and its namespace's
kernel both own 198.18.0.2 on s0; the kernel filter keeps that kernel from resetting the
stack's connections, and no rule outlives the stack, whatever ends it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.kernel_peers import (
    Sender,
    echo_server,
    exchange,
    kernel_connect,
    kernel_server,
    random_bytes,
    sha,
    wait_for,
)

from pystack import netns
from pystack.apps.udp_application import UDPApplication
from pystack.lab import Lab
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

pytestmark = [pytest.mark.root, pytest.mark.needs_tool("iptables-legacy", "iptables")]
PORT = 7
PYSTACK = [sys.executable, "-m", "pystack.cli"]


def legacy_rules(lab: Lab) -> list[str]:
    """The stack namespace's OUTPUT rules as ``iptables-legacy -S`` lists them (iptc
    writes x_tables rules, which the nf_tables ``iptables`` here does not show)."""
    out = netns.run(lab.info.stack_ns, ["iptables-legacy", "-S", "OUTPUT"],
                    capture_output=True, text=True, check=True)  # fmt: skip
    return [line for line in out.stdout.splitlines() if "pystack:" in line]


def dropped(lab: Lab) -> int:
    """Packets the pystack rules dropped: the kernel's answers that never left."""
    out = netns.run(lab.info.stack_ns, ["iptables-legacy", "-L", "OUTPUT", "-v", "-n", "-x"],
                    capture_output=True, text=True, check=True)  # fmt: skip
    return sum(int(line.split()[0]) for line in out.stdout.splitlines() if "pystack:" in line)


@pytest.fixture
def shared_stack(shared_lab: Lab) -> Iterator[Any]:
    """A stack sharing s0's address (no ip=: shared mode), reactor in its thread."""
    ensure_thread()
    with shared_lab.stack_side():
        stack = PyStack(interface="s0")
    try:
        stack.run(doreactor=False)
        yield stack
    finally:
        stack.stop()


def test_a_kernel_peer_reaches_the_stack_through_the_shared_address(
    shared_lab: Lab, shared_stack: Any
) -> None:
    assert shared_stack.address == shared_lab.stack_ip
    assert shared_stack.kernel_filter is not None
    echo_server(shared_stack, PORT)
    assert any(f"--sport {PORT}" in rule for rule in legacy_rules(shared_lab))
    payload = random_bytes(256 * 1024)
    # Without the filter the shared namespace's kernel would answer this SYN with a RST.
    with kernel_connect(shared_lab, PORT) as sock:
        back, _ = exchange(sock, payload)
    assert sha(back) == sha(payload)
    assert dropped(shared_lab) >= 1  # the shared kernel did try to reset the SYN


def test_the_stack_connects_out_from_the_shared_address(shared_lab: Lab, shared_stack: Any) -> None:
    to_kernel, to_stack = random_bytes(256 * 1024), random_bytes(256 * 1024)
    port, kernel_received = kernel_server(shared_lab, to_stack)
    client = Sender(to_kernel)
    blocking_call(shared_stack.register_tcp_application, client)
    assert client.connect(shared_lab.kernel_ip, port, timeout=10)
    assert client.session is not None
    local_port = client.session.local_port
    assert local_port in shared_stack.kernel_filter.tcp_ports  # the SYN,ACK is not reset
    blocking_call(client.start_sending)
    got, _ = kernel_received()
    assert sha(got) == sha(to_kernel)
    wait_for(lambda: client.eof, 10, "the kernel's FIN")
    assert sha(bytes(client.received)) == sha(to_stack)


def test_udp_on_the_shared_address_is_not_refused_by_the_kernel(
    shared_lab: Lab, shared_stack: Any
) -> None:
    class Echo(UDPApplication):
        def packet_received(self, packet: Any, **kwargs: Any) -> None:
            self.sendto(bytes(packet), (kwargs["IP"].src, kwargs["UDP"].src_port))

    app = Echo()
    blocking_call(shared_stack.register_udp_application, app)
    blocking_call(app.bind, PORT)
    assert PORT in shared_stack.kernel_filter.udp_ports
    with shared_lab.kernel():
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with client:
        # Connected: a port unreachable from the shared kernel would raise ECONNREFUSED.
        client.connect((shared_lab.stack_ip, PORT))
        client.settimeout(2)
        for n in range(5):
            client.send(b"ping %d" % n)
            assert client.recv(100) == b"ping %d" % n


def test_stop_leaves_no_rule(shared_lab: Lab) -> None:
    ensure_thread()
    with shared_lab.stack_side():
        stack = PyStack(interface="s0")
    with stack:
        stack.run(doreactor=False)
        echo_server(stack, PORT)
        with kernel_connect(shared_lab, PORT) as sock:
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
            assert len(legacy_rules(shared_lab)) >= 1
    assert stack.stopped
    assert legacy_rules(shared_lab) == []


def test_released_ports_lose_their_rule(shared_lab: Lab, shared_stack: Any) -> None:
    echo_server(shared_stack, PORT)
    assert PORT in shared_stack.kernel_filter.tcp_ports
    blocking_call(lambda: [s.close() for s in list(shared_stack.tcp.listeners.values())])
    assert PORT not in shared_stack.kernel_filter.tcp_ports
    assert legacy_rules(shared_lab) == []


# ============================================================ a stack in another process


def start_server(lab: Lab) -> Any:
    """``pystack serve echo`` in shared mode in the stack namespace, once it is listening."""
    cmd = [*PYSTACK, "serve", "echo", "--interface", "s0", "--port", str(PORT)]
    proc: Any = netns.popen(lab.info.stack_ns, cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "echo server on" not in line:
        proc.kill()
        proc.wait()
        pytest.fail(f"pystack serve did not start: {line!r}")
    return proc


def echo_once(lab: Lab) -> bytes:
    with kernel_connect(lab, PORT) as sock:
        sock.sendall(b"hello\n")
        return sock.recv(100)


def test_sigterm_to_a_shared_address_stack_process_leaves_no_rule(shared_lab: Lab) -> None:
    proc = start_server(shared_lab)
    try:
        assert echo_once(shared_lab) == b"hello\n"
        assert len(legacy_rules(shared_lab)) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        proc.kill()
        proc.wait()
    assert legacy_rules(shared_lab) == []


def test_cleanup_removes_the_rules_of_a_killed_stack_process(shared_lab: Lab) -> None:
    proc = start_server(shared_lab)
    try:
        assert echo_once(shared_lab) == b"hello\n"
    finally:
        proc.kill()  # SIGKILL: nothing in the process runs
        proc.wait()
    assert len(legacy_rules(shared_lab)) == 1
    cmd = [*PYSTACK, "cleanup", "--netns", shared_lab.info.stack_ns]
    dry = subprocess.run([*cmd, "--dry-run"], capture_output=True, text=True, check=True)
    assert f"would remove rule of pid {proc.pid}" in dry.stdout
    assert len(legacy_rules(shared_lab)) == 1
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"removed rule of pid {proc.pid}" in done.stdout
    assert legacy_rules(shared_lab) == []
