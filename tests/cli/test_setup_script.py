"""scripts/setup.sh: it knows every tool the tests run, installs only what is missing, and
does not reinstall the project when nothing changed.

The install paths run the real script in a copy of the checkout, with stand-ins for apt-get,
`id` and the virtualenv's python on a PATH of our own: nothing is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup.sh"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Where code names a program it runs: the first word of an argv list, a command looked up
# with shutil.which or the tool helper, an absolute /usr/bin or /usr/sbin path, or what a
# walkthrough runs through `pystack lab exec -- TOOL`.
_RUNS = [
    re.compile(r"\b(?:run|Popen|check_output|check_call|call)\([^()\[\]]*\[\s*\"([^\"]+)\""),
    re.compile(r"\b(?:which|require_tool|needs_tool)\(\s*\"([^\"]+)\""),
    re.compile(r"\"(/usr/s?bin/[A-Za-z0-9_.+-]+)"),
    re.compile(r"lab exec [^\"\n]*-- ([a-z][a-z0-9_.+-]*)"),
]
# Not system tools: interpreters and shells of the venv or the base system, and our own CLI.
_NOT_TOOLS = {"sh", "bash", "true", "python", "python3", "pystack", "twistd"}


def tools_used() -> dict[str, set[str]]:
    """Every program the tests, examples and the package run, with the files that run it."""
    found: dict[str, set[str]] = {}
    for top in ("tests", "examples", "pystack"):
        for path in sorted((REPO / top).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for pattern in _RUNS:
                for match in pattern.finditer(text):
                    tool = os.path.basename(match[1])
                    if tool not in _NOT_TOOLS and not tool.startswith(("-", "pystack")):
                        found.setdefault(tool, set()).add(str(path.relative_to(REPO)))
    return found


def check_listing() -> tuple[int, dict[str, tuple[str, str]]]:
    """`setup.sh --check`: exit code and tool -> (status, package)."""
    done = subprocess.run(["bash", str(SETUP), "--check"], capture_output=True, text=True)
    rows = {}
    for line in done.stdout.splitlines():
        status, tool, package = line.split()
        rows[tool] = (status, package.strip("()"))
    return done.returncode, rows


def test_check_lists_every_tool_the_tests_and_examples_run() -> None:
    _, rows = check_listing()
    used = tools_used()
    # The scan itself finds what we know is there.
    assert {"ip", "curl", "dnsmasq", "nc", "nstat", "iptables-legacy", "ethtool", "dot"} <= set(
        used
    )
    unlisted = {tool: sorted(files) for tool, files in used.items() if tool not in rows}
    assert not unlisted, f"tools run but not in scripts/setup.sh's TOOLS: {unlisted}"


def test_check_names_each_tool_with_its_debian_package() -> None:
    _, rows = check_listing()
    assert rows["dnsmasq"][1] == "dnsmasq-base"
    assert rows["nc"][1] == "netcat-openbsd"
    assert rows["dot"][1] == "graphviz"
    assert rows["rsvg-convert"][1] == "librsvg2-bin"
    assert {status for status, _ in rows.values()} <= {"ok", "missing"}


def test_check_reports_nothing_missing_under_ci() -> None:
    code, rows = check_listing()
    missing = sorted(f"{tool} ({pkg})" for tool, (status, pkg) in rows.items() if status != "ok")
    if not IN_CI and missing:
        pytest.skip(f"not installed here: {', '.join(missing)} (bash scripts/setup.sh as root)")
    assert (code, missing) == (0, [])


# ------------------------------------------------------------------ installing, with stand-ins

STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> {log}\n{extra}'


class Sandbox:
    """A copy of the checkout's setup script and pyproject.toml, and a PATH of stand-ins."""

    def __init__(self, root: Path, uid: int) -> None:
        self.root, self.log = root, root / "calls.log"
        self.bin = root / "bin"
        (root / "scripts").mkdir(parents=True)
        self.bin.mkdir()
        (root / ".venv" / "bin").mkdir(parents=True)
        shutil.copy(SETUP, root / "scripts" / "setup.sh")
        shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
        for real in ("dirname", "basename", "cat", "sha256sum", "cut"):
            found = shutil.which(real)
            assert found, real
            (self.bin / real).symlink_to(found)
        self.stub(self.bin / "id", f"echo {uid}")
        self.stub(self.bin / "apt-get")
        self.stub(self.bin / "debconf-set-selections", "cat > /dev/null")
        # pip install fails when the file `pip-fails` exists.
        self.stub(root / ".venv" / "bin" / "python", f"[ -e {root}/pip-fails ] && exit 1\nexit 0")
        self.stub(root / ".venv" / "bin" / "pystack")
        _, rows = check_listing()
        for tool in rows:
            self.stub(self.bin / tool)

    def stub(self, path: Path, extra: str = "") -> None:
        # A stand-in replaces the link to a real program, never writes through it.
        path.unlink(missing_ok=True)
        path.write_text(STUB.format(log=self.log, extra=extra))
        path.chmod(0o755)

    def run(self) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        env = {"PATH": str(self.bin), "HOME": str(self.root)}
        return subprocess.run(
            [shutil.which("bash") or "/bin/bash", str(self.root / "scripts" / "setup.sh")],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
        )

    def calls(self, program: str) -> list[str]:
        return [ln for ln in self.log.read_text().splitlines() if ln.split()[0] == program]


def test_second_run_reinstalls_nothing_until_pyproject_changes(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, uid=0)
    first = box.run()
    assert first.returncode == 0, first.stderr
    assert any("pip install -q -e" in c for c in box.calls("python"))
    assert box.calls("apt-get") == []  # every tool present: no apt-get, not even update
    again = box.run()
    assert again.returncode == 0, again.stderr
    assert box.calls("python") == [] and "up to date" in again.stdout
    toml = tmp_path / "pyproject.toml"
    toml.write_text(toml.read_text() + "\n# a new dependency\n")
    box.run()
    assert any("pip install -q -e" in c for c in box.calls("python"))
    box.run()
    assert box.calls("python") == []


def test_a_failed_install_is_retried_on_the_next_run(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, uid=0)
    (tmp_path / "pip-fails").touch()
    assert box.run().returncode != 0
    (tmp_path / "pip-fails").unlink()
    assert box.run().returncode == 0
    assert any("pip install -q -e" in c for c in box.calls("python"))


def test_root_installs_only_the_missing_packages(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, uid=0)
    for tool in ("curl", "nc"):
        (box.bin / tool).unlink()
    done = box.run()
    assert done.returncode == 0, done.stderr
    apt = box.calls("apt-get")
    assert apt[0].endswith(" update -qq")
    assert re.search(r" install -y -qq --no-install-recommends curl netcat-openbsd$", apt[1])
    assert len(apt) == 2


def test_without_root_lists_the_missing_packages_and_continues(tmp_path: Path) -> None:
    box = Sandbox(tmp_path, uid=1000)
    (box.bin / "curl").unlink()
    done = box.run()
    assert done.returncode == 0, done.stderr
    assert "missing system packages: curl" in done.stderr
    assert box.calls("apt-get") == []
    assert any("pip install -q -e" in c for c in box.calls("python"))


def test_pyproject_has_no_setuptools_deprecation() -> None:
    dist_mod = pytest.importorskip("setuptools.dist")
    from setuptools.config import pyprojecttoml

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = dist_mod.Distribution()
        pyprojecttoml.apply_configuration(dist, str(REPO / "pyproject.toml"))
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert not [m for m in messages if "eprecat" in m or "license" in m.lower()], messages
    assert dist.metadata.license_expression == "GPL-3.0-or-later"


# ------------------------------------------------------------------ the tests' tool rule

TOOL_TESTS = """
import pytest

@pytest.mark.needs_tool("pystack-no-such-tool", "no-such-package")
def test_marked():
    pass

def test_fixture(require_tool):
    require_tool("pystack-no-such-tool", "other-package")

def test_present(require_tool):
    assert require_tool("sh", "dash").endswith("/sh")
"""


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_missing_tool_skips_locally_and_fails_under_ci(tmp_path: Path, ci: str) -> None:
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    shutil.copytree(REPO / "tests" / "helpers", tmp_path / "helpers")  # the conftest's imports
    (tmp_path / "test_tools.py").write_text(TOOL_TESTS)
    env = {**os.environ, "CI": ci}
    cmd = [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    out = done.stdout
    if ci:
        # The marker fails the test's setup (an error), the fixture fails the test.
        assert "1 failed, 1 passed, 1 error" in out, out
        assert "install the Debian package no-such-package" in out
        assert "install the Debian package other-package" in out
        assert "CI=true forbids skipping it" in out
    else:
        assert "1 passed, 2 skipped" in out, out
        assert "apt install no-such-package" in out and "apt install other-package" in out
