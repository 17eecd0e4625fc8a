"""What a user without root sees (run as nobody in a lab namespace with a default route):
one line naming the attachment and the privilege it needs, no chained clean-up error, and
nothing created. Needs root to build the lab and drop privileges (setpriv, util-linux)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pystack import netns
from pystack.lab import Lab

pytestmark = pytest.mark.root
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
PYSTACK = [sys.executable, "-m", "pystack.cli"]


@pytest.fixture
def routed_lab(shared_lab: Lab) -> Iterator[Lab]:
    """A shared-address lab whose stack namespace has a default route via the peer."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv is missing: install util-linux")
    netns.ip("-n", shared_lab.info.stack_ns, "route", "add", "default", "via", "198.18.0.1")
    yield shared_lab


def as_nobody(lab: Lab, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return netns.run(lab.info.stack_ns, [*NOBODY, *argv], timeout=60)


def links(lab: Lab) -> str:
    return netns.run(lab.info.stack_ns, ["ip", "-o", "link", "show"], check=True).stdout


def test_pystack_on_the_default_route_names_the_privilege(routed_lab: Lab) -> None:
    done = as_nobody(routed_lab, [sys.executable, "-c", "from pystack import PyStack; PyStack()"])
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "pystack.errors.PrivilegeError: sharing the address of interface 's0' "
        "(the default route's) needs root, or CAP_NET_RAW and CAP_NET_ADMIN"
    )
    assert "During handling" not in done.stderr and "setns" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["serve", "echo", "--tap", "pstnobody0", "--ip", "198.18.1.2/24"],
         "pystack serve: error: opening TAP device 'pstnobody0' needs root or CAP_NET_ADMIN"),
        (["ping", "198.18.0.1", "-c", "1", "-i", "s0", "--ip", "198.18.0.3/24"],
         "pystack ping: error: a packet socket on interface 's0' needs root or CAP_NET_RAW"),
        (["get", "http://198.18.0.1/"],
         "pystack get: error: sharing the address of interface 's0' (the default route's) "
         "needs root, or CAP_NET_RAW and CAP_NET_ADMIN"),
    ],
)  # fmt: skip
def test_the_cli_without_root_prints_one_line(routed_lab: Lab, argv: list[str], line: str) -> None:
    before = links(routed_lab)
    done = as_nobody(routed_lab, [*PYSTACK, *argv])
    assert (done.returncode, done.stderr, done.stdout) == (1, line + "\n", "")
    assert links(routed_lab) == before


def test_a_bad_port_creates_no_tap_device(routed_lab: Lab) -> None:
    argv = [*PYSTACK, "serve", "echo", "--tap", "pstport0", "--ip", "198.18.1.2/24",
            "--port", "99999"]  # fmt: skip
    before = links(routed_lab)
    done = netns.run(routed_lab.info.stack_ns, argv, timeout=60)  # as root: it could create it
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "pystack serve: error: argument --port/-p: 99999 is not a port (1-65535)"
    )
    assert links(routed_lab) == before and "pstport0" not in before
