"""Transfers with the kernel stay exact through a lossy link (issue 5 §6): the stack's
link drops 5% of the frames and holds back another 5% (reordering), both directions."""

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

pytestmark = pytest.mark.root
PORT = 7
SIZE = 256 * 1024


@pytest.fixture
def lossy(tap_lab: Lab) -> Iterator[tuple[Any, LossyLink]]:
    """A stack whose link loses and reorders frames; the seed is in the failure output."""
    with labs.lossy_stack(tap_lab, loss=0.05, reorder=0.05, reorder_delay=0.003) as made:
        yield made


def test_kernel_client_echo_through_loss_and_reordering(
    tap_lab: Lab, lossy: tuple[Any, LossyLink]
) -> None:
    lab = tap_lab
    stack, link = lossy
    echo_server(stack, PORT)
    payload = random_bytes(SIZE)
    with kernel_connect(lab, PORT, timeout=30) as sock:
        back, _ = exchange(sock, payload)
    assert sha(back) == sha(payload)
    assert link.lost > 0 and link.reordered > 0  # the impairments did happen


def test_stack_client_both_ways_through_loss_and_reordering(
    tap_lab: Lab, lossy: tuple[Any, LossyLink]
) -> None:
    lab = tap_lab
    stack, link = lossy
    to_kernel, to_stack = random_bytes(SIZE), random_bytes(SIZE)
    port, kernel_received = kernel_server(lab, to_stack)
    client = Sender(to_kernel)
    blocking_call(stack.register_tcp_application, client)
    assert client.connect(lab.kernel_ip, port, timeout=15)
    blocking_call(client.start_sending)
    got, _ = kernel_received()
    assert sha(got) == sha(to_kernel)
    wait_for(lambda: client.eof, 30, "the kernel's FIN")
    assert sha(bytes(client.received)) == sha(to_stack)
    assert link.lost > 0 and link.reordered > 0
