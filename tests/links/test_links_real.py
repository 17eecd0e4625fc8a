"""PacketSocketLink and TapLink against the Linux kernel in a lab namespace."""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import pytest

from pystack import netns
from pystack.lab import Lab
from pystack.links import netdev
from pystack.links.tap import TapLink
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab
tap_lab = lab_fixtures.tap_lab

OUR_MAC = "02:00:00:00:00:02"


def _noop() -> None:
    pass


class FakeReactor:
    """Records readers; the test pumps them with select()."""

    def __init__(self) -> None:
        self.readers: list[Any] = []

    def addReader(self, reader: Any) -> None:
        self.readers.append(reader)

    def removeReader(self, reader: Any) -> None:
        self.readers.remove(reader)

    def pump_until(
        self, done: Callable[[], bool], timeout: float = 5.0, every: Callable[[], None] = _noop
    ) -> None:
        """Deliver frames until ``done()``; ``every`` runs at start and each 0.2 s of quiet
        (a freshly attached TAP drops frames until its carrier is up, so requests repeat)."""
        deadline = time.monotonic() + timeout
        every()
        while not done():
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for frames"
            ready, _, _ = select.select(self.readers, [], [], min(left, 0.2))
            if not ready:
                every()
            for reader in ready:
                reader.doRead()


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def arp_request(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    eth = b"\xff" * 6 + _mac(src_mac) + b"\x08\x06"
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    arp += _mac(src_mac) + socket.inet_aton(src_ip) + b"\0" * 6 + socket.inet_aton(target_ip)
    return eth + arp


def is_arp_reply_to(frame: bytes, mac: str) -> bool:
    return frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x02" and frame[0:6] == _mac(mac)


def exchange_arp(link: Any, lab: Lab) -> list[bytes]:
    reactor = link.reactor
    got: list[bytes] = []
    link.set_receiver(got.append)
    link.start()
    request = arp_request(OUR_MAC, lab.stack_ip, lab.kernel_ip)
    reactor.pump_until(
        lambda: any(is_arp_reply_to(f, OUR_MAC) for f in got), every=lambda: link.send(request)
    )
    return got


@pytest.mark.root
def test_packet_socket_link_talks_arp_with_the_kernel(veth_lab: Lab) -> None:
    link = veth_lab.open_link(reactor=FakeReactor())
    try:
        assert link.mtu == 1500
        assert link.mac is not None and len(link.mac) == 17
        frames = exchange_arp(link, veth_lab)
        # Our own ARP request went out through the socket and must not come back.
        assert not any(f[6:12] == _mac(OUR_MAC) for f in frames)
    finally:
        link.close()
    assert link.closed
    link.close()  # idempotent


@pytest.mark.root
def test_packet_socket_link_drains_every_pending_frame(veth_lab: Lab) -> None:
    link = veth_lab.open_link(reactor=FakeReactor())
    got: list[bytes] = []
    link.set_receiver(got.append)
    link.start()
    try:
        with veth_lab.kernel():
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        with sender:
            for i in range(50):
                sender.sendto(bytes([i]) * 10, ("198.18.0.255", 9))
        select.select([link], [], [], 5)
        link.doRead()  # one wake-up reads all 50
        udp = [f for f in got if f[12:14] == b"\x08\x00" and f[23] == 17]
        assert len(udp) == 50
    finally:
        link.close()


@pytest.mark.root
def test_tap_link_attaches_to_lab_tap_and_talks_arp(tap_lab: Lab) -> None:
    link = tap_lab.open_link(reactor=FakeReactor())
    try:
        assert link.mac is None  # the stack brings its own MAC
        assert not link.created
        exchange_arp(link, tap_lab)
    finally:
        link.close()
    with tap_lab.kernel():
        assert netdev.exists("tap0")  # not ours to remove


@pytest.mark.root
def test_tap_link_creates_and_removes_its_device(veth_lab: Lab) -> None:
    with veth_lab.kernel():
        link = TapLink("pstap9", reactor=FakeReactor())
        try:
            assert link.created and netdev.exists("pstap9")
            assert link.mtu == 1500
        finally:
            link.close()
        assert not netdev.exists("pstap9")


@pytest.mark.root
def test_tap_link_create_false_requires_the_device(veth_lab: Lab) -> None:
    with veth_lab.kernel(), pytest.raises(FileNotFoundError):
        TapLink("nosuchtap", create=False)


@pytest.mark.root
def test_lab_is_removed_on_exit_and_on_error() -> None:
    with pytest.raises(RuntimeError), Lab() as lab:
        names = (lab.info.kernel_ns, lab.info.stack_ns)
        assert all(netns.exists(n) for n in names)
        raise RuntimeError("boom")
    assert not any(netns.exists(n) for n in names)


def test_complete_checksum_fills_a_partial_udp_checksum() -> None:
    payload = b"hello"
    udp = struct.pack("!HHHH", 1000, 2000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("198.18.0.1"), socket.inet_aton("198.18.0.2"))  # fmt: skip
    frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
    fixed = netdev.complete_checksum(frame)
    # The sum over pseudo-header + UDP (with the checksum) must be 0xFFFF.
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    seg = fixed[34:]
    assert netdev._sum16(pseudo + seg) == 0xFFFF
    assert netdev.complete_checksum(b"\x00" * 10) == b"\x00" * 10


@pytest.mark.root
def test_kernel_ping_reaches_the_kernel_over_the_veth(veth_lab: Lab) -> None:
    # From the kernel side to its own address: proves the helper, fragments included.
    from pystack.lab import kernel_ping

    assert len(kernel_ping(veth_lab, veth_lab.kernel_ip, count=2)) == 2
    assert len(kernel_ping(veth_lab, veth_lab.kernel_ip, size=4000)) == 1
    assert kernel_ping(veth_lab, "198.18.0.77", timeout=0.3) == []
