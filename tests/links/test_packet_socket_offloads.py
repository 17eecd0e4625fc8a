"""Packet sockets with PACKET_VNET_HDR: the stack and Linux over a veth pair whose
offloads are on, 64 MiB each way, with offloads on (super-segments both ways) and off."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from pystack import netns
from pystack.benchmarks._tap_offloads import PORT, Sink, discard_server, kernel_sends
from pystack.lab import Lab
from pystack.links import netdev
from pystack.links.packet_socket import PacketSocketLink
from pystack.reactor import blocking_call
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab

PAYLOAD = os.urandom(64 << 20)
KERNEL6, STACK6 = "2001:db8:2::1", "2001:db8:2::2"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def offloads_on(name: str) -> None:
    """Turn the lab interface's offloads back on (the lab turns them off)."""
    for feature in netdev.OFFLOAD_FEATURES:
        subprocess.run(["ethtool", "-K", name, feature, "on"], capture_output=True, check=False)


@contextlib.contextmanager
def interface_stack(lab: Lab, offloads: bool) -> Iterator[Any]:
    from pystack.stack import PyStack

    with lab.kernel():
        offloads_on("k0")
    with lab.stack_side():
        offloads_on("s0")
        stack = PyStack(interface="s0", ip=lab.stack_cidr, ip6=f"{STACK6}/64",
                        dad_transmits=0, offloads=offloads)  # fmt: skip
    try:
        # No duplicate address detection either side: the addresses are usable at once.
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", f"{KERNEL6}/64", "dev",
                 lab.info.kernel_interface, "nodad")  # fmt: skip
        stack.run(doreactor=False)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(params=[True, False], ids=["offloads", "plain"])
def veth_stack(veth_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    with interface_stack(veth_lab, request.param) as stack:
        yield stack


@pytest.mark.root
@pytest.mark.needs_tool("ethtool", "ethtool")
def test_stack_to_linux_over_a_packet_socket(veth_lab: Lab, veth_stack: Any) -> None:
    from pystack.benchmarks._tap_offloads import stack_sends

    assert stack_sends(veth_lab, veth_stack, PAYLOAD, kernel_ip=veth_lab.kernel_ip) == DIGEST
    link = veth_stack.link
    assert (link.gso_frames > 0) == link.vnet_hdr


@pytest.mark.root
@pytest.mark.needs_tool("ethtool", "ethtool")
def test_linux_to_stack_over_a_packet_socket(veth_lab: Lab, veth_stack: Any) -> None:
    sink: Sink = discard_server(veth_stack)
    with veth_lab.kernel():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(60)
        sock.connect((veth_lab.stack_ip, PORT))
        sock.sendall(PAYLOAD)
        sock.shutdown(socket.SHUT_WR)
    assert sink.done.wait(60), f"only {sink.count} bytes arrived"
    assert blocking_call(lambda: sink.count) == len(PAYLOAD)
    assert sink.digest.hexdigest() == DIGEST
    link = veth_stack.link
    assert link.rx_drops == {}
    if link.vnet_hdr:  # without, the kernel's own side (here segmenting) decides
        assert link.super_frames > 0, "the kernel never sent a frame larger than the MTU"


@pytest.mark.root
@pytest.mark.needs_tool("ethtool", "ethtool")
def test_ipv6_both_ways_over_a_packet_socket(veth_lab: Lab, veth_stack: Any) -> None:
    """64 MiB each way over IPv6: GSO TCPv6 super-segments out, TCPv6 super-frames in."""
    from pystack.benchmarks._tap_offloads import stack_sends

    assert stack_sends(veth_lab, veth_stack, PAYLOAD, kernel_ip=KERNEL6) == DIGEST
    link = veth_stack.link
    assert (link.gso_frames > 0) == link.vnet_hdr
    sink: Sink = discard_server(veth_stack)
    kernel_sends(veth_lab, PAYLOAD, stack_ip=STACK6)
    assert sink.done.wait(60), f"only {sink.count} bytes arrived"
    assert blocking_call(lambda: sink.count) == len(PAYLOAD)
    assert sink.digest.hexdigest() == DIGEST
    assert link.rx_drops == {}
    if link.vnet_hdr:
        assert link.super_frames > 0, "the kernel never sent a frame larger than the MTU"


@pytest.mark.root
def test_without_the_header_the_interface_offloads_are_turned_off(veth_lab: Lab) -> None:
    with veth_lab.stack_side():
        offloads_on("s0")
        link = PacketSocketLink("s0", reactor=object())
        try:
            assert not link.vnet_hdr and link.tso_max == 0
            shown = subprocess.run(["ethtool", "-k", "s0"], capture_output=True, text=True)
        finally:
            link._release()
    assert "tcp-segmentation-offload: off" in shown.stdout


def test_a_socket_that_refuses_the_header_falls_back_to_plain_frames(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A Unix socket stands in for the packet socket: it refuses every SOL_PACKET option.
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    turned_off: list[str] = []
    monkeypatch.setattr(netdev, "mtu", lambda name: 1500)
    monkeypatch.setattr(netdev, "mac", lambda name: "02:00:00:00:00:01")
    monkeypatch.setattr(netdev, "disable_offloads", turned_off.append)
    monkeypatch.setattr(PacketSocketLink, "_open", staticmethod(lambda interface: ours))
    with caplog.at_level("WARNING", logger="pystack.links.packet_socket"):
        link = PacketSocketLink("fake0", reactor=object(), vnet_hdr=True)
    assert not link.vnet_hdr and link.tso_max == 0 and turned_off == ["fake0"]
    assert len(caplog.records) == 1 and "refuses offloads" in caplog.records[0].getMessage()
    with theirs:
        link.send(b"\x02" * 60)
        assert theirs.recv(100) == b"\x02" * 60  # no header in front
    link._release()
