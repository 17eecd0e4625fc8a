"""nmap -O and p0f, run from the kernel side of a namespace lab, name the OS each shipped
personality imitates.

nmap scans ``pystack serve echo --personality P`` (port 7 open, port 8 closed, every UDP
port closed); p0f watches the kernel's end of the link while ``pystack get
--personality P`` fetches a page from a kernel-side HTTP server. Run with ``pytest -s``
to see the lines the tools printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pystack import netns
from pystack.lab import Lab
from pystack.personality import PERSONALITIES

pytestmark = [pytest.mark.root, pytest.mark.timeout(90)]

PYSTACK = [sys.executable, "-m", "pystack.cli"]
OPEN_PORT, CLOSED_PORT, HTTP_PORT = 7, 8, 8000
FAMILIES = {name: p.family for name, p in PERSONALITIES.items()}
# What the tools call each family: nmap says "Microsoft Windows".
NMAP_NAMES = {"Linux": "Linux", "Windows": "Microsoft Windows", "FreeBSD": "FreeBSD"}


def stop(proc: Any) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(mode="veth") as made:
        yield made


def nmap_verdict(output: str) -> str:
    """nmap's "Running:" line, else its first "Aggressive OS guesses:" line ("" if none)."""
    lines = output.splitlines()
    for prefix in ("Running:", "Aggressive OS guesses:"):
        for line in lines:
            if line.startswith(prefix):
                return line
    return ""


@pytest.mark.needs_tool("nmap", "nmap")
@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_nmap_names_the_personality(lab: Lab, name: str) -> None:
    argv = [*PYSTACK, "serve", "echo", "--port", str(OPEN_PORT), "-i", "s0",
            "--ip", lab.stack_cidr, "--personality", name]  # fmt: skip
    server = netns.popen(lab.info.stack_ns, argv, stdout=subprocess.PIPE, text=True)
    try:
        assert "echo server on" in server.stdout.readline()
        scan = lab.run(
            ["nmap", "-O", "-Pn", "-n", "-T4", "--max-os-tries", "1", "--osscan-guess",
             "-p", f"{OPEN_PORT},{CLOSED_PORT}", lab.stack_ip],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        stop(server)
        server.stdout.close()
    verdict = nmap_verdict(scan.stdout)
    print(f"\n{name}: {verdict}")
    assert f"{OPEN_PORT}/tcp open" in scan.stdout, scan.stdout
    assert f"{CLOSED_PORT}/tcp closed" in scan.stdout, scan.stdout
    family = NMAP_NAMES[FAMILIES[name]]
    if verdict.startswith("Running:"):
        assert verdict.split(":", 1)[1].strip().startswith(family), scan.stdout
    else:  # the first (best) guess
        first = verdict.split(":", 1)[1].strip()
        assert first.startswith(family), scan.stdout


def p0f_syn_line(log: str) -> str:
    """p0f's log line for the client's SYN (``mod=syn|``), "" if none."""
    return next((line for line in log.splitlines() if " mod=syn|" in line), "")


@pytest.mark.needs_tool("p0f", "p0f")
@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_p0f_classifies_the_syn(lab: Lab, name: str) -> None:
    kns = lab.info.kernel_ns
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "p0f.log")
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("hello\n")
        console = open(os.path.join(d, "p0f.out"), "w")  # noqa: SIM115 (closed below)
        p0f = netns.popen(kns, ["stdbuf", "-oL", "-eL", "p0f", "-i", "k0", "-o", log],
                          stdout=console, stderr=subprocess.STDOUT)  # fmt: skip
        http = netns.popen(kns, [sys.executable, "-m", "http.server", "--bind", lab.kernel_ip,
                                 str(HTTP_PORT), "--directory", d],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            ready = os.path.join(d, "p0f.out")
            wait_for(lambda: "main event loop" in read(ready) and listening(lab, HTTP_PORT))
            get = netns.run(
                lab.info.stack_ns,
                [*PYSTACK, "get", f"http://{lab.kernel_ip}:{HTTP_PORT}/index.html", "-i",
                 "s0", "--ip", lab.stack_cidr, "--personality", name],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert get.stdout == "hello\n", get.stderr
            wait_for(lambda: p0f_syn_line(read(log)) != "")
        finally:
            stop(p0f)
            stop(http)
            console.close()
        line = p0f_syn_line(read(log))
    print(f"\n{name}: {line}")
    fields = dict(part.split("=", 1) for part in line.split("|")[1:] if "=" in part)
    assert fields.get("subj") == "cli", line
    assert fields.get("os", "").startswith(FAMILIES[name]), line


def read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def listening(lab: Lab, port: int) -> bool:
    out = lab.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
    return str(port) in out.stdout


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)
