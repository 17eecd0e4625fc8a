"""SACK with the Linux kernel (RFC 2018, RFC 6675): the kernel and the stack agree to use
it in both directions of the handshake, and transfers through a lossy link stay exact."""

from __future__ import annotations

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

from pystack.lab import Lab
from pystack.links.lossy import LossyLink
from pystack.reactor import blocking_call
from pystack.testing import lab as labs

pytestmark = [pytest.mark.root, pytest.mark.needs_tool("nstat", "iproute2")]
PORT = 7
SIZE = 512 * 1024


@pytest.fixture
def lossy_stack(tap_lab: Lab) -> Iterator[tuple[Any, LossyLink]]:
    """A stack whose link drops 5% of the frames each way; the seed is in the output."""
    with labs.lossy_stack(tap_lab, loss=0.05) as made:
        yield made


def kernel_sack_recoveries(lab: Lab) -> int:
    """How many loss recoveries the kernel's TCP ran on SACK information in the lab's
    namespace (TcpExtTCPSackRecovery, per network namespace)."""
    out = lab.run(["nstat", "-asz", "TcpExtTCPSackRecovery"], check=True).stdout
    fields = out.split()
    return int(fields[fields.index("TcpExtTCPSackRecovery") + 1])


def test_kernel_client_and_stack_server_negotiate_sack(
    tap_lab: Lab, lossy_stack: tuple[Any, LossyLink]
) -> None:
    stack, link = lossy_stack
    echo = echo_server(stack, PORT)
    payload = random_bytes(SIZE)
    with kernel_connect(tap_lab, PORT, timeout=30) as sock:
        back, _ = exchange(sock, payload)
    assert sha(back) == sha(payload)
    (session,) = echo.served
    assert session.sack_ok  # the kernel's SYN and our SYN,ACK carried SACK-permitted
    assert link.lost > 0


def test_stack_client_and_kernel_server_negotiate_sack(
    tap_lab: Lab, lossy_stack: tuple[Any, LossyLink]
) -> None:
    stack, link = lossy_stack
    to_kernel, to_stack = random_bytes(SIZE), random_bytes(SIZE)
    port, kernel_received = kernel_server(tap_lab, to_stack)
    client = Sender(to_kernel)
    blocking_call(stack.register_tcp_application, client)
    assert client.connect(tap_lab.kernel_ip, port, timeout=15)
    assert client.session is not None and client.session.sack_ok  # the kernel's SYN,ACK
    blocking_call(client.start_sending)
    got, _ = kernel_received()
    assert sha(got) == sha(to_kernel)
    wait_for(lambda: client.eof, 30, "the kernel's FIN")
    assert sha(bytes(client.received)) == sha(to_stack)
    assert link.lost > 0
    # The kernel, sending to us through the loss, recovered from our SACK blocks.
    assert kernel_sack_recoveries(tap_lab) > 0
