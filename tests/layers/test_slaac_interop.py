"""Address autoconfiguration against Linux in lab namespaces (root): the stack takes
2001:db8:1::/64 from radvd's Router Advertisements, forms its EUI-64 address, Linux pings
it and the stack reaches an off-link address through the advertised router; duplicate
address detection finds the address the kernel already holds; and a snooping Linux bridge
learns the stack's solicited-node groups from its MLDv2 reports."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.kernel_peers import wait_for

from pystack import netns
from pystack.lab import Lab
from pystack.layers.ipv6 import eui64_link_local
from pystack.layers.ndp import solicited_node_multicast
from pystack.reactor import blocking_call

pytestmark = [pytest.mark.root, pytest.mark.needs_tool("ping", "iputils-ping")]

PREFIX = ipaddress.IPv6Network("2001:db8:1::/64")
RADVD_CONF = """interface k0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    prefix 2001:db8:1::/64 { AdvOnLink on; AdvAutonomous on; };
};
"""


@pytest.fixture
def stack_on(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Builds a stack on a lab's link (run in a reactor thread), stopped afterwards."""
    stacks: list[Any] = []

    def make(lab: Lab, **options: Any) -> Any:
        from pystack.stack import PyStack

        stack = PyStack(link=lab.open_link(), ip=lab.stack_cidr, **options)
        stacks.append(stack)
        stack.run(doreactor=False)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def _slaac_address(stack: Any) -> str | None:
    for iface in blocking_call(lambda: list(stack.ipv6.addresses)):
        if iface.ip in PREFIX:
            return str(iface.ip)
    return None


@pytest.mark.needs_tool("radvd", "radvd")
@pytest.mark.timeout(120)
def test_stack_takes_its_address_from_radvd_and_linux_pings_it(
    tmp_path: Path, stack_on: Any
) -> None:
    conf = tmp_path / "radvd.conf"
    conf.write_text(RADVD_CONF)
    with Lab(mode="veth") as lab:
        kns = lab.info.kernel_ns
        netns.ip("-n", kns, "addr", "add", "2001:db8:1::1/64", "dev", "k0", "nodad")
        # An address beyond the router, off the stack's link: reached through it.
        netns.ip("-n", kns, "link", "set", "lo", "up")  # the lab namespace's own loopback
        netns.ip("-n", kns, "addr", "add", "2001:db8:2::1/128", "dev", "lo")
        # radvd advertises only on a router: forwarding inside the lab's namespace only.
        lab.run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"], check=True)
        radvd = netns.popen(kns, ["radvd", "-n", "-m", "stderr", "-C", str(conf),
                                  "-p", str(tmp_path / "radvd.pid")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            stack = stack_on(lab)
            wait_for(lambda: _slaac_address(stack) is not None, 30, "an address from radvd")
            address = _slaac_address(stack)
            mac = bytes.fromhex(stack.mac.replace(":", ""))
            iid = bytes((mac[0] ^ 2,)) + mac[1:3] + b"\xff\xfe" + mac[3:]
            assert address == str(ipaddress.IPv6Address(PREFIX.network_address.packed[:8] + iid))
            routers = blocking_call(lambda: list(stack.ipv6.routers.default_routers))
            assert len(routers) == 1 and routers[0].startswith("fe80:")
            for _ in range(3):  # the kernel resolves the new address first
                ping = lab.run(["ping", "-6", "-c", "1", "-W", "2", address],
                               capture_output=True, text=True, check=False)  # fmt: skip
                if ping.returncode == 0:
                    break
            assert ping.returncode == 0, ping.stdout + ping.stderr
            # Off-link: the echo goes to the default router, which answers for its own.
            assert stack.ping("2001:db8:2::1", timeout=3) < 3
        finally:
            os.killpg(radvd.pid, signal.SIGTERM)
            radvd.communicate(timeout=10)


@pytest.mark.timeout(60)
def test_duplicate_held_by_the_kernel_is_detected_and_not_used(stack_on: Any) -> None:
    with Lab(mode="veth") as lab:
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", "2001:db8::2/64", "dev", "k0", "nodad")
        stack = stack_on(lab, ip6="2001:db8::2/64", router_solicitations=0)
        wait_for(lambda: stack.stats.get("IPv6", "dad_duplicates") == 1, 10, "the duplicate")
        assert not blocking_call(lambda: stack.ipv6.has_address("2001:db8::2"))
        # Its own link-local address passes DAD.
        wait_for(lambda: stack.ipv6.link_local is not None, 10, "the link-local address")
        ping = lab.run(["ping", "-6", "-c", "1", "-W", "2", "2001:db8::2"],
                       capture_output=True, text=True, check=False)  # fmt: skip
        assert ping.returncode == 0  # the kernel answers itself: the stack kept out of it
        assert stack.stats.get("ICMPv6", "echo_replies_sent") == 0


@pytest.mark.needs_tool("bridge", "iproute2")
@pytest.mark.timeout(60)
def test_a_snooping_linux_bridge_learns_the_solicited_node_groups(stack_on: Any) -> None:
    with Lab(mode="veth") as lab:
        kns = lab.info.kernel_ns
        netns.ip("-n", kns, "link", "add", "br0", "type", "bridge", "mcast_snooping", "1")
        netns.ip("-n", kns, "link", "set", "k0", "master", "br0")
        netns.ip("-n", kns, "link", "set", "br0", "up")
        stack = stack_on(lab, ip6="2001:db8::2/64", router_solicitations=0)

        def groups() -> str:
            return str(lab.run(["bridge", "mdb", "show"], capture_output=True, text=True).stdout)

        for _ in range(50):  # the MLDv2 reports of RFC 3810 §6.1 reach the bridge
            if "grp ff02::1:ff00:2 " in groups():
                break
            time.sleep(0.1)
        mdb = groups()
        wanted = solicited_node_multicast(eui64_link_local(stack.mac))  # tentative or not
        assert "grp ff02::1:ff00:2 " in mdb and f"grp {wanted} " in mdb, mdb
        assert "grp ff02::1 " not in mdb
