"""Test-wide settings: hypothesis profiles, and the rules for tests that need root or a tool.

A test that runs a system tool says so with ``@pytest.mark.needs_tool("dnsmasq",
"dnsmasq-base")`` (the command and the Debian package that provides it) or calls the
``require_tool`` fixture. Without the tool it skips locally, naming the package to
install; under CI=true it fails instead, naming the package (`bash scripts/setup.sh` as
root installs every one of them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest
from helpers.lab_fixtures import lab, shared_lab, stack, tap_lab, veth_lab
from helpers.tcp_pairs import pair
from hypothesis import HealthCheck, settings

# Fixtures that tests of several areas use, available everywhere.
__all__ = ["lab", "pair", "shared_lab", "stack", "tap_lab", "veth_lab"]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Quick locally, thorough under CI. Tests that must run a minimum number of examples
# in CI ask for it with pystack.testing.examples(n).
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=1000,
    deadline=None,
    # CI explores a fixed sequence of examples so that a run is reproducible and a
    # submission cannot fail on a draw no one has seen; local runs keep exploring.
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


def require_tool(command: str, package: str) -> str:
    """The path of ``command``; skips the test without it (fails under CI=true)."""
    found = shutil.which(command)
    if found is not None:
        return found
    message = f"needs `{command}`: install the Debian package {package} (apt install {package})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true forbids skipping it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(name="require_tool")
def require_tool_fixture() -> Callable[[str, str], str]:
    """``require_tool(command, package)`` inside a test: see the module docstring."""
    return require_tool


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_tool(command, package): runs a system tool from a Debian package; skipped "
        "without it, fails under CI=true",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs_tool"):
        require_tool(*marker.args)
    if item.get_closest_marker("root") is None or os.geteuid() == 0:
        return
    if IN_CI:
        pytest.fail("this test needs root, and CI=true forbids skipping it")
    pytest.skip("needs root (network namespaces, TAP devices, packet sockets, netfilter)")
