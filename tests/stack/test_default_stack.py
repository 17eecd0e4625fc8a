"""The zero-configuration API of the 2013 PyStack: ``from pystack import ...``, ``PyStack()``
as the process's one default stack, and pystack_socket using it when no stack was set.
The default route's attachment is replaced by a memory wire (see tests/stack/
test_default_stack_interop.py for the real one)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import reactor

import pystack
import pystack.pystack_socket as psocket
from pystack import stack as stack_mod
from pystack.links.memory import MemoryWire


def test_the_first_names_import_from_the_package() -> None:
    from pystack import (
        IcmpRateLimit,
        PrivilegeError,
        PyStack,
        TCPApplication,
        TcpConfig,
        TCPSession,
        UDPApplication,
    )
    from pystack.apps.tcp_application import TCPApplication as DefinedTCPApplication
    from pystack.apps.udp_application import UDPApplication as DefinedUDPApplication
    from pystack.errors import PrivilegeError as DefinedPrivilegeError
    from pystack.layers.icmp import IcmpRateLimit as DefinedIcmpRateLimit
    from pystack.pystack import PyStack as SeedPathPyStack
    from pystack.tcp.config import TcpConfig as DefinedTcpConfig
    from pystack.tcp.session import TCPSession as DefinedTCPSession

    assert PyStack is stack_mod.PyStack is SeedPathPyStack
    assert (TCPApplication, UDPApplication, TCPSession) == (
        DefinedTCPApplication, DefinedUDPApplication, DefinedTCPSession)  # fmt: skip
    assert (TcpConfig, IcmpRateLimit, PrivilegeError) == (
        DefinedTcpConfig, DefinedIcmpRateLimit, DefinedPrivilegeError)  # fmt: skip
    assert sorted(pystack.__all__) == sorted(pystack._EXPORTS)
    assert set(pystack.__all__) <= set(dir(pystack))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = pystack.Nope  # type: ignore[attr-defined]


def test_import_pystack_alone_loads_no_layer() -> None:
    code = "import sys, pystack; print([m for m in sys.modules if m.startswith(LOADED)])"
    code = code.replace("LOADED", repr(("pystack.", "twisted")))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture
def default_route(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """PyStack's device attachment replaced by a memory wire port (as the default route's
    interface would be: shared address 198.18.0.2/24, gateway .1); yields the requests."""
    wire = MemoryWire(reactor, seed=3)
    requests: list[tuple[Any, ...]] = []

    def attach(self: Any, *request: Any) -> tuple[Any, ...]:
        requests.append(request)
        return wire.attach(), "198.18.0.2/24", None, "198.18.0.1", None

    monkeypatch.setattr(stack_mod.PyStack, "_attach", attach)
    monkeypatch.setattr(stack_mod, "_default", None)
    yield requests
    if stack_mod._default is not None:
        stack_mod._default.stop()


def test_pystack_without_arguments_is_one_stack_until_stopped(default_route: list[Any]) -> None:
    first = stack_mod.PyStack()
    assert stack_mod.PyStack() is first and stack_mod.default_stack() is first
    # tap, interface, ip, mac, gateway, mtu, offloads: nothing named, the default route
    # (offloads None: whatever that device allows)
    assert default_route == [(None, None, None, None, None, None, None)]
    assert (first.address, first.ethernet._context().gateway) == ("198.18.0.2", "198.18.0.1")
    other = stack_mod.PyStack(link=MemoryWire(reactor).attach(), ip="198.18.0.9/24")
    assert other is not first and stack_mod.PyStack() is first
    other.stop()
    first.stop()
    second = stack_mod.PyStack()
    assert second is not first and not second.stopped and len(default_route) == 2


def test_a_subclass_called_without_arguments_is_a_new_stack(default_route: list[Any]) -> None:
    class Mine(stack_mod.PyStack):
        pass

    mine = Mine()
    try:
        assert type(mine) is Mine and mine is not stack_mod.PyStack()
    finally:
        mine.stop()


def test_pystack_socket_uses_the_default_stack_running(default_route: list[Any]) -> None:
    psocket.use_stack(None)
    sock = psocket.socket(psocket.AF_INET, psocket.SOCK_STREAM)
    try:
        assert sock._stack is stack_mod.PyStack() and sock._stack.running
    finally:
        sock.close()
    given = stack_mod.PyStack(link=MemoryWire(reactor).attach(), ip="198.18.0.9/24")
    psocket.use_stack(given)
    try:
        assert psocket.socket()._stack is given
    finally:
        psocket.use_stack(None)
        given.stop()


def test_the_default_stack_is_built_with_the_standard_socket_module(
    default_route: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    real_default_stack = stack_mod.default_stack

    def watched() -> Any:
        seen.append(sys.modules["socket"])
        return real_default_stack()

    monkeypatch.setattr(stack_mod, "default_stack", watched)
    import socket as standard

    psocket.use_stack(None)
    monkeypatch.setitem(sys.modules, "socket", psocket)  # the 2013 documentation's swap
    sock = psocket.socket()
    sock.close()
    assert seen == [standard] and sys.modules["socket"] is psocket
