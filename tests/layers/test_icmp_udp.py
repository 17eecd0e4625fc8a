"""ICMP and UDP between the stack and the Linux kernel (issue 5 §6)."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest

from pystack.lab import Lab, kernel_ping
from pystack.reactor import blocking_call

pytestmark = pytest.mark.root
ECHO_PORT = 7


def udp_echo(stack: Any, port: int = ECHO_PORT) -> Any:
    from pystack.apps.udp_application import UDPApplication

    class Echo(UDPApplication):
        def packet_received(self, packet: Any, **kwargs: Any) -> None:
            ip, udp = kwargs["IP"], kwargs["UDP"]
            self.sendto(bytes(packet), (ip.src, udp.src_port))

    app = Echo()
    blocking_call(stack.register_udp_application, app)
    blocking_call(app.bind, port)
    return app


def test_kernel_pings_the_stack(lab: Lab, stack: Any) -> None:
    assert len(kernel_ping(lab, lab.stack_ip, count=5, timeout=3)) == 5


def test_kernel_pings_the_stack_with_fragments_both_ways(lab: Lab, stack: Any) -> None:
    # 4000 bytes of ICMP data: the kernel fragments the request, the stack its reply.
    assert len(kernel_ping(lab, lab.stack_ip, size=4000, count=2, timeout=3)) == 2


def test_stack_pings_the_kernel(lab: Lab, stack: Any) -> None:
    rtt = stack.ping(lab.kernel_ip, timeout=3)
    assert 0 < rtt < 3


@pytest.mark.parametrize("size", [0, 1, 1472, 1473, 8000])
def test_kernel_udp_client_gets_its_datagram_echoed(lab: Lab, stack: Any, size: int) -> None:
    udp_echo(stack)
    payload = bytes((i * 7) & 0xFF for i in range(size))
    with lab.kernel():
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with client:
        client.settimeout(1)
        for _attempt in range(5):  # the first datagram may wait on ARP
            client.sendto(payload, (lab.stack_ip, ECHO_PORT))
            try:
                data, peer = client.recvfrom(65535)
            except TimeoutError:
                continue
            assert (data, peer) == (payload, (lab.stack_ip, ECHO_PORT))
            return
    pytest.fail("no echo")


def test_connected_kernel_udp_to_a_closed_stack_port_is_refused(lab: Lab, stack: Any) -> None:
    with lab.kernel():
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with client:
        client.settimeout(1)
        client.connect((lab.stack_ip, 9999))
        for _attempt in range(5):
            client.send(b"anyone?")
            try:
                client.recv(100)
            except ConnectionRefusedError as exc:
                assert exc.errno == errno.ECONNREFUSED
                return
            except TimeoutError:
                continue
    pytest.fail("no ICMP port unreachable")
