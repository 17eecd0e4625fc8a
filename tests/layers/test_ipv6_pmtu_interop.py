"""Path MTU discovery against a real router (root): the lab's kernel namespace routes
between the stack's link (MTU 1500) and a far namespace behind a link of MTU 1300, so
Linux sends the stack a real Packet Too Big (RFC 8201) for a datagram that does not fit.
Addresses: 2001:db8::/64 on the stack's link, 2001:db8:1::/64 on the far link."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers.kernel_peers import wait_for

from pystack import netns
from pystack.lab import Lab
from pystack.reactor import blocking_call

pytestmark = [pytest.mark.root, pytest.mark.needs_tool("sysctl", "procps")]

ROUTER6, STACK6 = "2001:db8::1", "2001:db8::2"
ROUTER_FAR, FAR6 = "2001:db8:1::1", "2001:db8:1::2"
FAR_MTU = 1300


@pytest.fixture
def routed() -> Iterator[tuple[Lab, Any]]:
    from pystack.stack import PyStack

    with Lab(mode="veth") as lab:
        i = lab.info
        far = f"{i.name}-f"  # the lab's name: a stale one is swept like the lab's own
        netns.ip("netns", "add", far)
        try:
            k = ("-n", i.kernel_ns)
            netns.ip(*k, "addr", "add", f"{ROUTER6}/64", "dev", i.kernel_interface, "nodad")
            netns.ip(*k, "link", "add", "r1", "mtu", str(FAR_MTU), "type", "veth",
                     "peer", "name", "f0", "netns", far)  # fmt: skip
            netns.ip(*k, "addr", "add", f"{ROUTER_FAR}/64", "dev", "r1", "nodad")
            netns.ip(*k, "link", "set", "r1", "up")
            netns.run(i.kernel_ns, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
                      check=True)  # fmt: skip
            netns.ip("-n", far, "link", "set", "f0", "mtu", str(FAR_MTU), "up")
            netns.ip("-n", far, "link", "set", "lo", "up")
            netns.ip("-n", far, "addr", "add", f"{FAR6}/64", "dev", "f0", "nodad")
            netns.ip("-n", far, "-6", "route", "add", "default", "via", ROUTER_FAR)
            stack = PyStack(link=lab.open_link(), ip=lab.stack_cidr, ip6=f"{STACK6}/64")
            try:
                stack.run(doreactor=False)
                wait_for(lambda: stack.ipv6.is_ours(STACK6), 10, "DAD of the stack's address")
                blocking_call(stack.routes.add, "2001:db8:1::/64", ROUTER6)
                yield lab, stack
            finally:
                stack.stop()
        finally:
            netns.ip("netns", "del", far, check=False)


def test_a_real_packet_too_big_lowers_the_path_mtu(routed: tuple[Lab, Any]) -> None:
    _, stack = routed
    payload = bytes(range(256)) * 6  # 1536 bytes: 1584 on the wire, fits 1500 not 1300
    assert stack.ping(FAR6, timeout=3) < 3  # the path works for small datagrams
    with pytest.raises(OSError):  # the router dropped it and said why
        stack.ping(FAR6, timeout=3, data=payload)
    assert blocking_call(lambda: stack.stats.get("ICMPv6", "errors_received")) >= 1
    assert blocking_call(lambda: stack.ipv6.path_mtu(FAR6)) == FAR_MTU
    assert blocking_call(lambda: stack.stats.get("IPv6", "pmtu_lowered")) == 1
    assert stack.ping(FAR6, timeout=3, data=payload) < 3  # now fragmented to 1300
    assert blocking_call(lambda: stack.ipv6.path_mtu(ROUTER6)) == 1500
