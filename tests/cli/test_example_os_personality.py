"""examples/os_personality.py prints what docs/extending.md ("OS personalities") says."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_examples import EXAMPLES, load


def test_it_prints_each_personalitys_synack_and_syn(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("os_personality").main([]) == 0
    out = capsys.readouterr().out
    # nmap-os-db's values for the first probe, and p0f.fp's signatures for the SYN
    assert "SYN,ACK  T=64 DF=Y ID=0 W=FE88 O=M5B4ST11NW7" in out
    assert "SYN      4:64:0:1460:64240,7:mss,sok,ts,nop,ws:df,id+:0" in out
    assert "W=2000 O=M5B4NW8ST11" in out and "T=128 DF=Y" in out
    assert "SYN      4:128:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0" in out
    assert "SYN,ACK  T=64 DF=Y ID=0 W=FFFF O=M5B4NW6ST11" in out
    assert "SYN      4:64:0:1460:65535,6:mss,nop,ws,sok,ts:df,id+:0" in out
    assert "SYN      4:128:0:1460:65535,0:mss,nop,ws,nop,nop,sok:df,id+:0" in out  # custom


def test_one_personality_and_help() -> None:
    path = str(EXAMPLES / "os_personality.py")
    one = subprocess.run([sys.executable, path, "--personality", "windows"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert one.returncode == 0 and one.stdout.startswith("windows (")
    assert "linux" not in one.stdout
    usage = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert usage.returncode == 0 and "--personality" in usage.stdout
