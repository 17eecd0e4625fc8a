"""The pages' programs that need a device run as written, as root, in a TAP lab.

Each ``<!-- needs-root: echo PORT -->`` or ``<!-- needs-root: http PORT -->`` Python
snippet of README.md and docs/*.md, and the ``twist web`` command of docs/api.md, runs in
the kernel namespace of a TAP lab (``tap0``, kernel side 198.18.0.1, as the pages say);
the test talks to it from the kernel side, then stops it with Ctrl+C (SIGINT) as a user
does, and expects a clean exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.docblocks import Block, all_blocks, all_commands

from pystack.lab import Lab

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]
# Device programs name the server the test reaches ("echo 7", "http 8080"); a bare
# needs-root block (the default stack on the host's default route) is compiled by
# test_readme_snippets and its program run by tests/stack/test_default_stack_interop.py.
SERVERS = [b for b in all_blocks("python") if b.needs_root and b.mark_arg]
BIN = Path(sys.executable).parent  # the environment `. .venv/bin/activate` activates


def exchange(lab: Lab, kind: str, port: int, deadline: float = 30.0) -> bytes:
    """Connect from the kernel side (retrying while the program starts) and talk."""
    request = b"hello from the kernel\n" if kind == "echo" else b"GET / HTTP/1.0\r\n\r\n"
    end = time.monotonic() + deadline
    while True:
        try:
            with lab.kernel():
                conn = socket.create_connection((lab.info.stack_ip, port), timeout=2)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    with conn:
        conn.settimeout(10)
        conn.sendall(request)
        if kind == "echo":
            got = b""
            while len(got) < len(request):
                got += conn.recv(4096) or b"(closed)"
            return got
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def interrupt(program: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl+C, then the exit status and what the program printed."""
    program.send_signal(signal.SIGINT)
    try:
        out, _ = program.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        program.kill()
        out, _ = program.communicate()
        return -9, out
    return program.returncode, out


def start(lab: Lab, argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    """Run ``argv`` in the lab's kernel namespace, with the environment active."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.Popen(["ip", "netns", "exec", lab.info.kernel_ns, *argv], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)  # fmt: skip


def test_the_pages_have_device_programs() -> None:
    assert {b.mark_arg.split()[0] for b in SERVERS} == {"echo", "http"}


@pytest.mark.parametrize("block", SERVERS, ids=[b.where for b in SERVERS])
def test_device_snippet_serves_and_stops_on_ctrl_c(block: Block, tmp_path: Path) -> None:
    kind, port = block.mark_arg.split()
    (tmp_path / "snippet.py").write_text(block.text)
    (tmp_path / "index.html").write_text("<p>served by the stack</p>\n")
    with Lab(mode="tap") as lab:
        assert f'ip="{lab.stack_cidr}"' in block.text  # the lab is the one the page names
        program = start(lab, [sys.executable, "snippet.py"], tmp_path)
        try:
            got = exchange(lab, kind, int(port))
        finally:
            status, out = interrupt(program)
    if kind == "echo":
        assert got == b"hello from the kernel\n"
    else:
        assert got.startswith(b"HTTP/1.0 200") and b"served by the stack" in got
    assert status == 0 and "Traceback" not in out, out


def test_twist_web_command_serves_the_directory(tmp_path: Path) -> None:
    (command,) = [c.text for c in all_commands() if c.text.startswith("twist web")]
    (tmp_path / "index.html").write_text("<p>served by twist</p>\n")
    with Lab(mode="tap") as lab:
        assert f"ip={lab.stack_cidr}" in command
        twist = start(lab, ["sh", "-c", f"exec {command}"], tmp_path)
        try:
            got = exchange(lab, "http", 8080)
        finally:
            status, out = interrupt(twist)
    assert got.startswith(b"HTTP/1.0 200") and b"served by twist" in got, got[:300]
    # twist stops its reactor, then ends by the signal it got, as Twisted's runner does.
    assert status in (0, -signal.SIGINT) and "Main loop terminated." in out, out
    assert "Traceback" not in out, out
