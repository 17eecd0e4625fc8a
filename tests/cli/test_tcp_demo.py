"""The TCP section of ``pystack demo`` (pystack.clicmd.demo.demo_transfer)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pystack.clicmd.demo import demo_transfer
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig


@pytest.mark.parametrize("compact", [False, True], ids=["demo-sessions", "default-records"])
def test_demo_transfer_prints_transitions_and_arrives_intact(compact: bool) -> None:
    seen: list[tuple[str, str, str]] = []

    def observer(obj: Any, old: str, trigger: str, new: str) -> None:
        if obj.fsm.spec.name == "tcp":
            seen.append((old, trigger, new))

    lines: list[str] = []
    tcp = TcpConfig(compact_time_wait=compact)  # pystack demo keeps whole sessions
    net = SimNet(2, seed=1, delay=0.0005, observer=observer, tcp=tcp)
    assert demo_transfer(net, lines.append)
    assert any("sha256 equal" in line for line in lines)
    assert ("FIN_WAIT_2", "rcv_fin", "TIME_WAIT") in seen
    end = ("TIME_WAIT", "time_wait_handoff" if compact else "timeout_2msl", "CLOSED")
    assert end in seen
    assert ("LAST_ACK", "rcv_ack_of_fin", "CLOSED") in seen
    assert net.a.tcp.time_wait_records() == []  # 2*MSL has passed either way


def test_demo_transfer_is_not_held_by_a_delayed_ack() -> None:
    # 100 000 bytes in 1448-byte segments (timestamps) is 69 full segments and a tail:
    # the tail and FIN used to wait for the receiver's 200 ms delayed ACK (Nagle).
    lines: list[str] = []
    assert demo_transfer(SimNet(2, seed=1, delay=0.0005), lines.append)
    (took,) = [m for line in lines if (m := re.search(r"in ([0-9.]+) ms of simulated", line))]
    assert float(took.group(1)) < 20
