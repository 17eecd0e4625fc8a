"""pystack.attach.open_link: each attachment mode in a lab namespace."""

from __future__ import annotations

import pytest

from pystack import kernel_filter, netns
from pystack.attach import open_link, random_mac
from pystack.lab import Lab
from pystack.links import netdev
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab
shared_lab = lab_fixtures.shared_lab


def test_random_mac_is_locally_administered_unicast() -> None:
    first = int(random_mac().split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


def test_misuse_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="tap= or interface="):
        open_link(tap="t0", interface="eth0", ip="198.18.0.2/24")
    with pytest.raises(ValueError, match="needs the stack's own ip"):
        open_link(tap="t0")
    with pytest.raises(ValueError, match=r"a\.b\.c\.d/prefix"):
        open_link(tap="pstmisuse0", ip="198.18.0.2")
    # Misuse is refused before anything exists: no device appears in this namespace.
    assert not netdev.exists("pstmisuse0")


@pytest.mark.root
def test_tap_attachment_creates_then_removes_the_device(veth_lab: Lab) -> None:
    with veth_lab.kernel():
        att = open_link(tap="pstap1", ip="198.18.1.2/24", gateway="198.18.1.1")
        try:
            assert (att.mode, att.ip, att.gateway, att.mtu) == (
                "tap", "198.18.1.2/24", "198.18.1.1", 1500)  # fmt: skip
            assert att.kernel_filter is None and netdev.exists("pstap1")
        finally:
            att.close()
        assert not netdev.exists("pstap1")


@pytest.mark.root
def test_own_address_attachment_has_its_own_mac(veth_lab: Lab) -> None:
    with veth_lab.stack_side():
        att = open_link(interface="s0", ip="198.18.0.2/24")
    try:
        assert att.mode == "own" and att.kernel_filter is None
        assert att.mac != att.link.mac
    finally:
        att.close()
        att.close()


@pytest.mark.root
def test_shared_attachment_takes_the_kernels_address_and_filters(shared_lab: Lab) -> None:
    netns.ip("-n", shared_lab.info.stack_ns, "route", "add", "default", "via", "198.18.0.1")
    with shared_lab.stack_side():
        att = open_link()  # the default-route interface
    try:
        assert (att.mode, att.interface, att.ip, att.gateway) == (
            "shared", "s0", "198.18.0.2/24", "198.18.0.1")  # fmt: skip
        with shared_lab.stack_side():
            assert att.mac == netdev.mac("s0")
        assert att.kernel_filter is not None
        att.kernel_filter.block_tcp_port(80)
    finally:
        att.close()
    with shared_lab.stack_side():
        assert list(kernel_filter.tagged_rules()) == []


@pytest.mark.root
def test_shared_attachment_needs_an_address(veth_lab: Lab) -> None:
    with veth_lab.stack_side(), pytest.raises(ValueError, match="no IPv4 address"):
        open_link(interface="s0")
