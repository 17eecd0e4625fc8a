"""``--personality`` of ``pystack serve`` and ``pystack get``: ``help`` lists the shipped
personalities; an unknown name stops the command before anything is opened."""

from __future__ import annotations

import subprocess
import sys

import pytest

PYSTACK = [sys.executable, "-m", "pystack.cli"]


@pytest.mark.parametrize("command", [["serve", "echo"], ["get", "http://198.18.0.1/"]])
def test_help_lists_the_personalities(command: list[str]) -> None:
    run = subprocess.run([*PYSTACK, *command, "--personality", "help"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0
    names = [line.split()[0] for line in run.stdout.splitlines()]
    assert names == ["linux", "windows", "freebsd"]


@pytest.mark.parametrize("command", [["serve", "echo"], ["get", "http://198.18.0.1/"]])
def test_unknown_name_is_a_usage_error(command: list[str]) -> None:
    run = subprocess.run([*PYSTACK, *command, "--personality", "beos", "--tap", "psnope0"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2
    assert "unknown personality 'beos'; known: linux, windows, freebsd" in run.stderr
