"""The stack and Linux over a TAP, 64 MiB each way, over IPv4 (198.18.1.2 and .1) and
IPv6 (2001:db8:1::2 and ::1), with offloads on (the stack's TCP sends super-segments the
kernel cuts, GSO TCPv4 or TCPv6; the kernel hands over super-segments) and off."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from pystack.benchmarks._tap_offloads import (
    KERNEL6_CIDR,
    KERNEL_CIDR,
    STACK6_CIDR,
    STACK_CIDR,
    discard_server,
    kernel_sends,
    stack_sends,
    tap_stack,
)
from pystack.lab import Lab
from pystack.reactor import blocking_call
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab

pytestmark = pytest.mark.root

PAYLOAD = os.urandom(64 << 20)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
# (the kernel's address, the stack's) per IP version
ADDRESSES = {
    4: (KERNEL_CIDR.split("/")[0], STACK_CIDR.split("/")[0]),
    6: (KERNEL6_CIDR.split("/")[0], STACK6_CIDR.split("/")[0]),
}


@pytest.fixture(params=[True, False], ids=["offloads", "plain"])
def tap_stack_on(veth_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    with tap_stack(veth_lab, offloads=request.param) as stack:
        yield stack


@pytest.mark.parametrize("version", [4, 6], ids=["ipv4", "ipv6"])
def test_stack_to_linux(veth_lab: Lab, tap_stack_on: Any, version: int) -> None:
    kernel_ip, _ = ADDRESSES[version]
    assert stack_sends(veth_lab, tap_stack_on, PAYLOAD, kernel_ip=kernel_ip) == DIGEST
    link = tap_stack_on.link
    if link.vnet_hdr:
        # Only this connection sent data: every super-segment was one of its version.
        assert link.tso_max and link.gso_frames > 0, "no super-segment went out"
        assert tap_stack_on.stats.get("tcp", "super_segments_out") == link.gso_frames
    else:
        assert link.gso_frames == 0 and not link.tso_max


@pytest.mark.parametrize("version", [4, 6], ids=["ipv4", "ipv6"])
def test_linux_to_stack(veth_lab: Lab, tap_stack_on: Any, version: int) -> None:
    _, stack_ip = ADDRESSES[version]
    sink = discard_server(tap_stack_on)
    kernel_sends(veth_lab, PAYLOAD, stack_ip=stack_ip)
    assert sink.done.wait(60), f"only {sink.count} bytes arrived"
    assert blocking_call(lambda: sink.count) == len(PAYLOAD)
    assert sink.digest.hexdigest() == DIGEST
    # Frames longer than the MTU: the kernel's super-segments, taken whole.
    assert (tap_stack_on.link.super_frames > 0) == tap_stack_on.link.vnet_hdr
    assert not tap_stack_on.link.rx_drops
