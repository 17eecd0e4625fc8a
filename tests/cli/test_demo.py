"""`pystack demo` and examples/udp_echo.py run offline, quickly, and say what happened;
the README's excerpt of the demo is what the demo prints."""

from __future__ import annotations

import re
import runpy
import time
from pathlib import Path
from typing import Any

import pytest

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
    assert "sha256 equal" in out and "LISTEN -> SYN_RECEIVED (rcv_syn)" in out
    data = pcap.read_bytes()
    assert data[:4] == bytes.fromhex("d4c3b2a1") and len(data) > 8000


def test_demo_is_deterministic(tmp_path: Path, capsys: Any) -> None:
    main(["demo", "--quiet", "--pcap", str(tmp_path / "1.pcap")])
    main(["demo", "--quiet", "--pcap", str(tmp_path / "2.pcap")])
    assert (tmp_path / "1.pcap").read_bytes() == (tmp_path / "2.pcap").read_bytes()


def test_udp_echo_example(capsys: Any) -> None:
    module = runpy.run_path(str(ROOT / "examples" / "udp_echo.py"))
    replies = module["main"]([])
    assert [r[0] for r in replies] == [b"hello", b"from", b"pystack"]
    assert all(peer == ("198.18.0.2", 7) for _, peer in replies)


def demo_output(tmp_path: Path, capsys: Any) -> list[str]:
    assert main(["demo", "--pcap", str(tmp_path / "demo.pcap")]) == 0
    return capsys.readouterr().out.splitlines()


def tcp_lines(lines: list[str], who: str) -> list[str]:
    return [line for line in lines if re.match(rf" +[0-9.]+ ms  {who}  tcp ", line)]


def test_demo_labels_the_listener_and_its_child(tmp_path: Path, capsys: Any) -> None:
    b = tcp_lines(demo_output(tmp_path, capsys), "B")
    listener = [line for line in b if "tcp port 9 (listener):" in line]
    child = [line for line in b if "tcp port 9 (child of listener 9, peer 198.18.0.1:" in line]
    assert len(listener) + len(child) == len(b)  # every B connection says which it is
    # The listener opens and, at the end, closes: nothing else.
    assert [line.split(": ", 1)[1] for line in listener] == [
        "CLOSED -> LISTEN (app_passive_open)",
        "LISTEN -> CLOSED (app_close)",
    ]
    # The child's first transition is its spawn, the machine's declared edge; then the
    # handshake.
    assert child[0].endswith("CLOSED -> LISTEN (spawned)")
    assert child[1].endswith("LISTEN -> SYN_RECEIVED (rcv_syn)")
    assert child[-1].endswith("LAST_ACK -> CLOSED (rcv_ack_of_fin)")
    a = tcp_lines(demo_output(tmp_path, capsys), "A")
    assert a and all(": " in line and "(peer 198.18.0.2:9)" in line for line in a)


def test_demo_prints_both_stacks_counters_in_one_style(tmp_path: Path, capsys: Any) -> None:
    lines = demo_output(tmp_path, capsys)
    starts = [i for i, line in enumerate(lines) if re.match(r"== [AB]'s counters", line)]
    assert [lines[i][:13] for i in starts] == ["== A's counte", "== B's counte"]
    ladder = next(i for i, line in enumerate(lines) if line.startswith("wrote the run as a"))
    for start, end in zip(starts, [*starts[1:], ladder], strict=True):
        block = [line for line in lines[start + 1 : end] if line]
        sections = [line[:-1] for line in block if not line.startswith(" ")]
        assert sections == ["Arp", "Ether", "Icmp", "Icmpv6", "Ip", "Ipv6", "Ndp", "Tcp", "Udp"]
    a_tcp = lines[lines.index("Tcp:", starts[0]) + 1 : lines.index("Tcp:", starts[0]) + 3]
    b_tcp = lines[lines.index("Tcp:", starts[1]) + 1 : lines.index("Tcp:", starts[1]) + 3]
    # What A sent, B received (the wire loses nothing in the demo).
    assert a_tcp[1].split()[0] == b_tcp[0].split()[0] and a_tcp[0].split()[0] == b_tcp[1].split()[0]


def readme_demo_excerpt() -> list[str]:
    """The ```text block of the README's "The demo" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The demo") :]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```text\n(.*?)```", section, re.S)
    assert block is not None, "README: no ```text excerpt in The demo"
    return block.group(1).splitlines()


def test_readme_demo_excerpt_is_a_real_run(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # as the README runs it: `pystack demo`, demo.pcap here
    assert main(["demo"]) == 0
    real = capsys.readouterr().out.splitlines()
    excerpt = readme_demo_excerpt()
    assert len([line for line in excerpt if line.strip() not in ("", "...")]) > 20
    # Each line appears in this order; lines follow each other in the output unless the
    # excerpt puts "..." between them.
    position, elided = 0, True
    for line in excerpt:
        if line.strip() == "...":
            elided = True
            continue
        if elided:
            found = [i for i in range(position, len(real)) if real[i] == line]
            assert found, f"README line not in the demo's output (in order): {line!r}"
            position = found[0] + 1
        else:
            got = real[position] if position < len(real) else "(end of output)"
            assert got == line, f"README shows {line!r} where the demo prints {got!r}"
            position += 1
        elided = False
