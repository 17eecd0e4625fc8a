"""The lab walkthrough of README.md ("Real networks") and docs/real-networks.md ("Try it
in two minutes"), run as written: `pystack lab up`, `pystack serve echo` in the stack's
namespace, `nc` from the lab's kernel side through `pystack lab exec`, then `pystack lab
down`. The commands are read from the README; the lab gets a name of its own
(`--name`, and its namespaces instead of `pslab-*`) so that runs never collide."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.docblocks import Block, all_blocks, commands

from pystack import netns

pytestmark = pytest.mark.root
ROOT = Path(__file__).resolve().parents[2]
BIN = os.path.dirname(sys.executable)  # where the `pystack` entry point is installed
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


def walkthrough(page: str) -> Block:
    """The console block of ``page`` that starts with `pystack lab up`."""
    (block,) = [b for b in all_blocks("console") if b.where.startswith(page)
                and commands(b) and commands(b)[0].text == "pystack lab up"]  # fmt: skip
    return block


def readme_steps() -> list[str]:
    """The README's walkthrough: up, serve (in the background), nc, kill and down."""
    steps = [c.text for c in commands(walkthrough("README.md"))]
    docs = [c.text for c in commands(walkthrough("docs/real-networks.md"))]
    assert "; ".join(docs[-2:]) == steps[-1] and docs[:-2] == steps[:-1]  # the same steps
    assert len(steps) == 4 and steps[1].endswith(" &") and steps[3].startswith("kill %1; ")
    return steps


def named(command: str, name: str) -> str:
    """A walkthrough command for the lab called ``name`` instead of the default pslab."""
    for verb in ("up", "exec", "down"):
        command = command.replace(f"pystack lab {verb}", f"pystack lab {verb} --name {name}")
    return command.replace("pslab-", f"{name}-")


def sh(command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """One line of the walkthrough, as a user types it in a root shell."""
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=ENV,
                          timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("tap", [False, True], ids=["veth", "tap"])
def test_lab_serve_echo_and_nc_from_the_kernel_side(tap: bool) -> None:
    up_cmd, serve_cmd, nc_cmd, stop_cmd = readme_steps()
    assert "hello" in walkthrough("README.md").text.split(nc_cmd)[1].splitlines()[1]
    if tap:  # docs/real-networks.md: the TAP lab, the stack in the kernel's namespace
        up_cmd += " --tap"
        serve_cmd = serve_cmd.replace("pslab-s", "pslab-k").replace("--interface s0", "--tap tap0")
        prose = " ".join((ROOT / "docs" / "real-networks.md").read_text().split())
        assert serve_cmd.removesuffix(" &") in prose
    name = f"pst{os.getpid()}xwalk"  # swept by `pystack cleanup` if this run dies
    server: Any = None
    try:
        up = sh(named(up_cmd, name))
        assert up.returncode == 0, up.stderr
        serve = named(serve_cmd, name).removesuffix(" &")
        assert serve in up.stdout  # what the lab tells the user to run
        server = subprocess.Popen(["sh", "-c", f"exec {serve}"], stdout=subprocess.PIPE,
                                  text=True, env=ENV)  # fmt: skip
        assert server.stdout is not None
        assert "echo server on 198.18.0.2:7" in server.stdout.readline()
        nc = sh(named(nc_cmd, name))
        assert (nc.returncode, nc.stdout) == (0, "hello\n"), nc.stderr
        server.send_signal(signal.SIGTERM)  # what `kill %1` does
        assert server.wait(timeout=15) is not None
    finally:
        if server is not None:
            server.kill()
            server.wait()
        down = sh(named(stop_cmd.removeprefix("kill %1; "), name))
    assert down.returncode == 0, down.stderr
    assert not any(ns.startswith(name) for ns in netns.listing())
