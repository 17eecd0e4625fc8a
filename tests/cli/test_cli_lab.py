"""`pystack lab` and `pystack cleanup` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pystack import netns

PYSTACK = [sys.executable, "-m", "pystack.cli"]


def pystack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYSTACK, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def lab_name() -> Iterator[str]:
    name = f"pst{os.getpid()}x-cli"
    yield name
    pystack("lab", "down", "--name", name)  # whatever the test did
    assert not netns.exists(f"{name}-k") and not netns.exists(f"{name}-s")


@pytest.mark.root
@pytest.mark.parametrize("mode", ["--veth", "--tap"])
def test_lab_up_exec_down(lab_name: str, mode: str) -> None:
    up = pystack("lab", "up", "--name", lab_name, mode)
    assert up.returncode == 0, up.stderr
    assert "nc 198.18.0.2 7" in up.stdout and "pystack serve echo" in up.stdout
    assert netns.exists(f"{lab_name}-k")  # outlives the `lab up` process
    again = pystack("lab", "up", "--name", lab_name)
    assert again.returncode == 1 and "already up" in again.stderr
    shown = pystack("lab", "exec", "--name", lab_name, "--", "ip", "-4", "addr")
    assert "198.18.0.1/24" in shown.stdout
    down = pystack("lab", "down", "--name", lab_name)
    assert down.returncode == 0
    assert not netns.exists(f"{lab_name}-k")


def test_lab_exec_without_a_lab_says_so() -> None:
    result = pystack("lab", "exec", "--name", "nosuchlab", "--", "true")
    assert result.returncode == 1 and "lab up" in result.stderr


@pytest.mark.root
def test_cleanup_dry_run_lists_nothing_when_clean() -> None:
    name = f"pst{os.getpid()}x-cleanup"
    netns.ip("netns", "add", name)
    try:
        result = pystack("cleanup", "--dry-run", "--netns", name)
        assert result.returncode == 0
        assert "would remove rule" not in result.stdout
    finally:
        netns.ip("netns", "del", name)


def test_help_texts() -> None:
    for cmd in (["lab", "--help"], ["lab", "up", "--help"], ["cleanup", "--help"]):
        result = pystack(*cmd)
        assert result.returncode == 0 and "usage" in result.stdout
