"""`pystack demo` and examples/udp_echo.py run offline, quickly, and say what happened."""

from __future__ import annotations

import runpy
import time
from pathlib import Path
from typing import Any

from pystack.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_arp_ping_udp_and_writes_a_pcap(tmp_path: Path, capsys: Any) -> None:
    pcap = tmp_path / "demo.pcap"
    started = time.monotonic()
    assert main(["demo", "--pcap", str(pcap)]) == 0
    assert time.monotonic() - started < 10
    out = capsys.readouterr().out
    assert "arp 198.18.0.2: NONE -> INCOMPLETE (resolve)" in out
    assert "INCOMPLETE -> REACHABLE (rcv_reply)" in out
    assert "ping 198.18.0.2: rtt 2.000 ms" in out
    assert "4000 bytes, same bytes" in out
    assert "ipv4_reassembly" in out and "COLLECTING -> COMPLETE" in out
    if "== TCP" in out:  # once the TCP layer is in the stack, its transfer is in the demo
        assert "sha256 equal" in out and "tcp port 9: LISTEN -> SYN_RECEIVED" in out
    data = pcap.read_bytes()
    assert data[:4] == bytes.fromhex("d4c3b2a1") and len(data) > 8000


def test_demo_is_deterministic(tmp_path: Path, capsys: Any) -> None:
    main(["demo", "--quiet", "--pcap", str(tmp_path / "1.pcap")])
    main(["demo", "--quiet", "--pcap", str(tmp_path / "2.pcap")])
    assert (tmp_path / "1.pcap").read_bytes() == (tmp_path / "2.pcap").read_bytes()


def test_udp_echo_example(capsys: Any) -> None:
    module = runpy.run_path(str(ROOT / "examples" / "udp_echo.py"))
    replies = module["main"]()
    assert [r[0] for r in replies] == [b"hello", b"from", b"pystack"]
    assert all(peer == ("198.18.0.2", 7) for _, peer in replies)
