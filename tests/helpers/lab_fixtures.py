"""Fixtures of the tests against the Linux kernel in lab namespaces (root): `lab` (veth and
TAP), `stack` on it, and `veth_lab`, `tap_lab`, `shared_lab`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pystack.lab import Lab
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab
tap_lab = lab_fixtures.tap_lab
shared_lab = lab_fixtures.shared_lab


@pytest.fixture(params=["veth", "tap"])
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """Each test runs on a packet-socket lab and on a TAP lab."""
    with Lab(mode=request.param) as created:
        yield created


@pytest.fixture
def stack(lab: Lab) -> Iterator[Any]:
    """A stack on the lab's link with 198.18.0.2, its reactor in the background thread;
    stopped after the test whatever happens."""
    stack_mod = pytest.importorskip("pystack.stack")
    link = lab.open_link()
    created = stack_mod.PyStack(link=link, ip=lab.stack_cidr)
    try:
        created.run(doreactor=False)
        yield created
    finally:
        created.stop()
