"""The TCP section of ``pystack demo`` (pystack.testing.harness.demo_transfer)."""

from __future__ import annotations

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
