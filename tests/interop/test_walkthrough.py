"""The walkthrough of docs/real-networks.md ("Try it in two minutes"), run as written:
`pystack lab up`, `pystack serve echo` in the stack's namespace, `nc` from the lab's kernel
side through `pystack lab exec`, then `pystack lab down` (issue 5, "Done when")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from pystack import netns

pytestmark = pytest.mark.root
BIN = os.path.dirname(sys.executable)  # where the `pystack` entry point is installed
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


def sh(command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """One line of the walkthrough, as a user types it in a root shell."""
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=ENV,
                          timeout=timeout)  # fmt: skip


@pytest.mark.parametrize(
    ("up_option", "stack_ns", "attach"),
    [("", "{name}-s", "--interface s0"), (" --tap", "{name}-k", "--tap tap0")],
    ids=["veth", "tap"],
)
def test_lab_serve_echo_and_nc_from_the_kernel_side(
    up_option: str, stack_ns: str, attach: str
) -> None:
    name = f"pst{os.getpid()}xwalk"  # swept by `pystack cleanup` if this run dies
    server: Any = None
    try:
        up = sh(f"pystack lab up --name {name}{up_option}")
        assert up.returncode == 0, up.stderr
        serve = f"ip netns exec {stack_ns.format(name=name)} pystack serve echo {attach} "
        serve += "--ip 198.18.0.2/24 --port 7"
        assert serve in up.stdout  # what the lab tells the user to run
        server = subprocess.Popen(["sh", "-c", f"exec {serve}"], stdout=subprocess.PIPE,
                                  text=True, env=ENV)  # fmt: skip
        assert server.stdout is not None
        assert "echo server on 198.18.0.2:7" in server.stdout.readline()
        nc = sh(f"echo hello | pystack lab exec --name {name} -- nc -N 198.18.0.2 7")
        assert (nc.returncode, nc.stdout) == (0, "hello\n"), nc.stderr
        server.send_signal(signal.SIGTERM)  # what `kill %1` does
        assert server.wait(timeout=15) is not None
    finally:
        if server is not None:
            server.kill()
            server.wait()
        down = sh(f"pystack lab down --name {name}")
    assert down.returncode == 0, down.stderr
    assert not any(ns.startswith(name) for ns in netns.listing())
