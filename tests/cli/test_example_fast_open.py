"""examples/fast_open.py: run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fast_open.py"


def run(*args: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_second_connection_sends_its_request_in_the_syn_and_saves_a_round_trip() -> None:
    out = run("--delay", "0.05")
    first, second = out.split("connection 2:")
    assert "cookie request" in first and "server read the request in ESTABLISHED" in first
    assert "6 bytes of data" in second.splitlines()[1]  # the client's SYN
    assert "server read the request in SYN_RECEIVED; answer after 100 ms" in second
    assert "client: 1 requests taken in the SYN" in out
    assert out.rstrip().endswith("server read the request in ESTABLISHED; answer after 200 ms")


def test_bad_cookie_falls_back_then_the_fresh_cookie_works() -> None:
    out = run("--bad-cookie", "--connections", "3")
    assert out.count("read the request in ESTABLISHED") == 2  # the bad one, the plain one
    assert out.count("read the request in SYN_RECEIVED") == 2
    assert "cookie 6e6f742d676976656e" in out  # b"not-given"


def test_bad_arguments_are_refused() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE), "--connections", "0"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "--connections" in result.stderr
