"""kernel_filter: rules installed, effective, scoped, tagged and removed on every exit path.

Every test works inside a lab namespace it created (never the host's tables)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from pystack import kernel_filter, netns
from pystack.kernel_filter import KernelFilter, make_tag, parse_tag
from pystack.lab import Lab
from pystack.testing import lab as lab_fixtures

shared_lab = lab_fixtures.shared_lab
TCP_PORT, UDP_PORT = 7000, 7001

HOLDER = f"""
import signal, sys
from pystack.kernel_filter import KernelFilter
f = KernelFilter("s0", "held")
f.block_tcp_port({TCP_PORT})
f.block_udp_port({UDP_PORT})
print("ready", flush=True)
signal.pause()
"""


def test_tags_round_trip() -> None:
    assert parse_tag(make_tag("s1", pid=42)) == (42, "s1")
    assert parse_tag("someone else's rule") is None
    assert parse_tag("pystack:notapid:x") is None


def kernel_tcp_connect(lab: Lab, port: int) -> str:
    with lab.kernel():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with s:
        s.settimeout(0.5)
        try:
            s.connect((lab.stack_ip, port))
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
    return "connected"


def kernel_udp_probe(lab: Lab, port: int) -> str:
    with lab.kernel():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.settimeout(0.5)
        s.connect((lab.stack_ip, port))
        s.send(b"probe")
        try:
            s.recv(100)
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
    return "answered"


def rule_count(lab: Lab) -> int:
    with lab.stack_side():
        return len(list(kernel_filter.tagged_rules()))


@pytest.mark.root
def test_filter_silences_the_kernel_for_its_ports_only(shared_lab: Lab) -> None:
    assert kernel_tcp_connect(shared_lab, TCP_PORT) == "refused"
    assert kernel_udp_probe(shared_lab, UDP_PORT) == "refused"
    with shared_lab.stack_side():
        kf = KernelFilter("s0", "t1")
    with kf:
        kf.block_tcp_port(TCP_PORT)
        kf.block_udp_port(UDP_PORT)
        kf.block_tcp_port(TCP_PORT)  # idempotent
        assert len(kf.rules()) == 2
        assert all(r.tag == kf.tag and r.stack_id == "t1" for r in kf.rules())
        assert kernel_tcp_connect(shared_lab, TCP_PORT) == "timeout"
        assert kernel_udp_probe(shared_lab, UDP_PORT) == "timeout"
        # Scoped by port: neighbours are still refused by the kernel.
        assert kernel_tcp_connect(shared_lab, TCP_PORT + 10) == "refused"
        assert kernel_udp_probe(shared_lab, UDP_PORT + 10) == "refused"
        kf.unblock_udp_port(UDP_PORT)
        assert len(kf.rules()) == 1
    assert kf.closed
    assert rule_count(shared_lab) == 0
    kf.close()  # idempotent
    assert kernel_tcp_connect(shared_lab, TCP_PORT) == "refused"


def start_holder(lab: Lab) -> subprocess.Popen[bytes]:
    proc = netns.popen(lab.info.stack_ns, [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    return proc


@pytest.mark.root
def test_sigterm_removes_the_rules_and_kills(shared_lab: Lab) -> None:
    proc = start_holder(shared_lab)
    try:
        assert rule_count(shared_lab) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM  # killed by it, as without rules
    finally:
        proc.kill()
        proc.wait()
    assert rule_count(shared_lab) == 0


@pytest.mark.root
def test_cleanup_removes_rules_of_a_killed_owner(shared_lab: Lab) -> None:
    proc = start_holder(shared_lab)
    pid = proc.pid
    proc.kill()
    proc.wait()
    with shared_lab.stack_side():
        # ip netns exec execs the python process, so the pid in the tag is proc.pid.
        listed = kernel_filter.cleanup(dry_run=True)
        assert {r.pid for r in listed} == {pid} and len(listed) == 2
        assert len(list(kernel_filter.tagged_rules())) == 2
        removed = kernel_filter.cleanup()
        assert len(removed) == 2
        assert list(kernel_filter.tagged_rules()) == []


@pytest.mark.root
def test_cleanup_leaves_live_owners_alone(shared_lab: Lab) -> None:
    with shared_lab.stack_side():
        kf = KernelFilter("s0", "alive")
    with kf:
        kf.block_tcp_port(TCP_PORT)
        with shared_lab.stack_side():
            assert kernel_filter.cleanup() == []
        assert len(kf.rules()) == 1
