"""The TCP section of ``pystack demo`` (pystack.testing.harness.demo_transfer)."""

from __future__ import annotations

import re
from typing import Any

from pystack.testing.harness import demo_transfer
from pystack.testing.twostack import SimNet


def test_demo_transfer_prints_transitions_and_arrives_intact() -> None:
    seen: list[tuple[str, str, str]] = []

    def observer(obj: Any, old: str, trigger: str, new: str) -> None:
        if obj.fsm.spec.name == "tcp":
            seen.append((old, trigger, new))

    lines: list[str] = []
    net = SimNet(2, seed=1, delay=0.0005, observer=observer)
    assert demo_transfer(net, lines.append)
    assert any("sha256 equal" in line for line in lines)
    assert ("FIN_WAIT_2", "rcv_fin", "TIME_WAIT") in seen
    assert ("TIME_WAIT", "timeout_2msl", "CLOSED") in seen
    assert ("LAST_ACK", "rcv_ack_of_fin", "CLOSED") in seen


def test_demo_transfer_is_not_held_by_a_delayed_ack() -> None:
    # 100 000 bytes in 1448-byte segments (timestamps) is 69 full segments and a tail:
    # the tail and FIN used to wait for the receiver's 200 ms delayed ACK (Nagle).
    lines: list[str] = []
    assert demo_transfer(SimNet(2, seed=1, delay=0.0005), lines.append)
    (took,) = [m for line in lines if (m := re.search(r"in ([0-9.]+) ms of simulated", line))]
    assert float(took.group(1)) < 20
