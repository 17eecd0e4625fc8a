"""The evasion policy against Linux (root): examples/evasion_http.py sends an HTTP request
in shaped fragments and segments to a socket server in a lab namespace, which records
the bytes its application read. Linux reads what the stack's ``linux`` overlap policy
reads from the same fragments, and each policy reads what the table of docs/extending.md
says. Run with ``pytest -s`` to see the tables."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pystack.evasion import Evasion
from pystack.lab import Lab

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]
REPO = Path(__file__).resolve().parents[2]

# Which copy each policy keeps when the decoy is sent before / after the real fragment.
KEEPS = {
    "before": {"first": "decoy", "last": "real", "bsd": "decoy", "linux-legacy": "real",
               "windows": "decoy", "linux": "decoy", "rfc5722": "nothing"},
    "after": {"first": "real", "last": "decoy", "bsd": "real", "linux-legacy": "decoy",
              "windows": "real", "linux": "real", "rfc5722": "nothing"},
}  # fmt: skip


def load_example() -> ModuleType:
    path = REPO / "examples" / "evasion_http.py"
    spec = importlib.util.spec_from_file_location("evasion_http_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("order", "sent"), [("reverse", "before"), ("in-order", "after"), ("random", "before")]
)
def test_linux_reads_what_the_linux_policy_reads(order: str, sent: str) -> None:
    example = load_example()
    evasion = Evasion(ip_fragment_size=8, ip_order=order,  # type: ignore[arg-type]
                      ip_overlap_decoy=b"X", ip_decoy_sent=sent, seed=5)  # type: ignore[arg-type]  # fmt: skip
    with Lab() as lab:
        result = example.shoot(lab, evasion)
    print(f"\n{order}, decoy {sent}:\n{example.report(result)}")
    request = result["request"]
    assert result["answer"].startswith(b"HTTP/1.0 200")
    assert result["linux"] == result["policies"]["linux"]
    if sent == "after":
        assert result["linux"] == request
    else:
        assert result["linux"] != request and result["linux"].count(b"X") > len(request) // 2
    verdicts = {p: example.verdict(got, request) for p, got in result["policies"].items()}
    assert verdicts == KEEPS[sent]


def test_linux_gets_the_request_cut_small_and_out_of_order() -> None:
    example = load_example()
    ip = Evasion(ip_fragment_size=8, ip_order="random", seed=2)
    tcp = Evasion(tcp_segment_size=5, tcp_order="reverse")
    with Lab() as lab:
        result = example.shoot(lab, ip, tcp)
    assert result["linux"] == result["request"]
    assert all(got == result["request"] for got in result["policies"].values())
    assert result["pieces"] > 3 * len(result["request"]) // 8  # every datagram in fragments


@pytest.mark.parametrize("sent", ["before", "after"])
@pytest.mark.parametrize("order", ["in-order", "reverse"])
def test_linux_tcp_keeps_the_first_copy_of_a_segment(order: str, sent: str) -> None:
    """TCP decoys at the same sequence number and length: Linux's application reads the
    copy that came first, in order and out of order, as PyStack's receiver does."""
    example = load_example()
    tcp = Evasion(tcp_segment_size=8, tcp_order=order,  # type: ignore[arg-type]
                  tcp_overlap_decoy=b"Y", tcp_decoy_sent=sent)  # type: ignore[arg-type]  # fmt: skip
    with Lab() as lab:
        result = example.shoot(lab, Evasion(), tcp)
    request = result["request"]
    assert result["answer"].startswith(b"HTTP/1.0 200")
    assert result["linux"] == (b"Y" * len(request) if sent == "before" else request)


def test_the_example_prints_which_targets_read_the_decoy() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "evasion_http.py"), "--decoy-sent", "after"],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    ).stdout  # fmt: skip
    print(out)
    assert "Linux application received: b'GET /admin/secret" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[5:] if line.strip()}
    assert rows == KEEPS["after"]
