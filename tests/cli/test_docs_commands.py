"""The commands of README.md and docs/*.md work when pasted in order into a fresh clone.

The user's commands (``sh`` blocks, ``$`` prompts) run here, in order, in a copy of the
tracked files (what a clone holds) with the environment active. The two Quickstart
commands set everything up and run this very suite, so for them the Makefile's recipe is
checked (``make -n``). Root commands (``#`` prompts, ``<!-- needs-root -->`` blocks) are
run by the root tests named in ROOT_COMMANDS; a command that is in none of these lists
fails the test, so a new command in the documentation cannot go unchecked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.docblocks import ROOT, Command, all_commands, doc_files

pytestmark = pytest.mark.timeout(600)
BIN = Path(sys.executable).parent  # the environment `. .venv/bin/activate` activates

# The Quickstart: what the Makefile target must run, checked with `make -n`.
MAKE_TARGETS = {
    "make demo": ["scripts/setup.sh", "pystack demo"],
    "make test": ["scripts/setup.sh", "ruff check", "mypy", "pytest"],
}

# Root commands and the test that runs each one as written.
ROOT_COMMANDS = {
    "pystack lab up": "tests/cli/test_walkthrough.py",
    "ip netns exec pslab-s pystack serve echo --interface s0 --ip 198.18.0.2/24 --port 7 &":
        "tests/cli/test_walkthrough.py",
    "echo hello | pystack lab exec -- nc -N 198.18.0.2 7": "tests/cli/test_walkthrough.py",
    "kill %1; pystack lab down": "tests/cli/test_walkthrough.py",
    "kill %1": "tests/cli/test_walkthrough.py",
    "pystack lab down": "tests/cli/test_walkthrough.py",
    "twist web --listen pystack:8080:tap=tap0:ip=198.18.0.2/24 --path .":
        "tests/cli/test_readme_root_snippets.py",
    # The full run takes 9 minutes; the root tests there run it shortened (--runs 1 ...).
    "pystack bench --json": "tests/benchmarks/test_bench_net.py",
}  # fmt: skip


def fresh_clone(into: Path) -> Path:
    """The tracked files as they are in the working tree (a clone, with today's edits),
    and `.venv` pointing at the environment the tests run in."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name, follow_symlinks=False)
    (into / ".venv").symlink_to(BIN.parent)
    return into


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": ""}
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def user_commands() -> list[Command]:
    return [c for c in all_commands() if not c.root]


def test_every_root_command_is_run_by_a_root_test() -> None:
    root = [c for c in all_commands() if c.root]
    assert root, "the pages show no root command?"
    for command in root:
        test = ROOT_COMMANDS.get(command.text)
        assert test is not None, f"{command.block.where}: no test runs {command.text!r}"
        assert (ROOT / test).is_file(), test


def test_the_quickstart_targets_run_what_the_readme_says(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    quick = [c.text for c in user_commands() if c.text.startswith("make ")]
    assert quick == ["make demo", "make test"]
    for target, steps in MAKE_TARGETS.items():
        plan = run(f"make -n {target.split()[1]}", clone)
        assert plan.returncode == 0, plan.stderr
        for step in steps:
            assert step in plan.stdout, f"{target}: {step!r} not in {plan.stdout!r}"


@pytest.mark.slow
def test_user_commands_work_pasted_in_order(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    ran = []
    for command in user_commands():
        if command.text in MAKE_TARGETS:
            continue
        result = run(command.text, clone)
        assert result.returncode == 0, (
            f"{command.block.where}: {command.text!r} exited {result.returncode}\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
        ran.append(command.text)
    assert ". .venv/bin/activate" in ran and "pystack demo" in ran
    assert (clone / "demo.pcap").stat().st_size > 8000  # `tcpdump -nr demo.pcap` read it
    assert (clone / "isn-diagrams" / "tcp.svg").is_file()


def test_activating_the_environment_finds_the_command(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    found = subprocess.run(["sh", "-c", ". .venv/bin/activate && command -v pystack"],
                           cwd=clone, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert found.returncode == 0 and found.stdout.strip().endswith("/bin/pystack")


# Words a reader cannot look up: the project's internal names for its history.
_INSIDE_WORDS = re.compile(r"\bthe seed\b|\bseed's\b|\bseed §|\bseed-style\b"
                           r"|\bissue \d+|\bissue #\d+|\bissue's\b", re.IGNORECASE)  # fmt: skip


def test_the_pages_and_examples_speak_to_users() -> None:
    pages = [*doc_files(), *sorted((ROOT / "examples").glob("*.py"))]
    found = [f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
             for page in pages for n, line in enumerate(page.read_text().splitlines(), 1)
             if _INSIDE_WORDS.search(line)]  # fmt: skip
    assert found == []


@pytest.mark.slow
def test_command_help_speaks_to_users() -> None:
    names = ["", "demo", "ping", "get", "serve", "lab", "bench", "diagrams", "cleanup", "trace",
             "conformance", "compliance", "bench net", "bench codecs", "bench fsm",
             "bench memory", "bench idle", "bench fuzz", "bench connrate"]  # fmt: skip
    for name in names:
        result = run(f"pystack {name} --help", ROOT)
        assert result.returncode == 0, (name, result.stderr)
        assert not _INSIDE_WORDS.search(result.stdout), (name, result.stdout)
