"""The documented import paths (the 2013 PyStack's and the former homes of moved modules)
give the very objects of the modules that define them, and the product never imports
``pystack.testing``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import pystack
from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.stack import PyStack
from pystack.tcp.config import TcpConfig
from pystack.tcp.layer import TCPLayer
from pystack.tcp.session import TCPSession

PACKAGE = Path(pystack.__file__).parent


@pytest.mark.parametrize(
    ("module", "name", "home"),
    [
        ("pystack.pystack", "PyStack", PyStack),
        ("pystack.layers.tcp_application", "TCPApplication", TCPApplication),
        ("pystack.layers.tcp_session", "TCPSession", TCPSession),
        ("pystack.tcp", "TCPSession", TCPSession),
        ("pystack.tcp", "TcpConfig", TcpConfig),
        ("pystack.tcp", "TCPLayer", TCPLayer),
    ],
)
def test_documented_path_gives_the_same_object(module: str, name: str, home: object) -> None:
    assert getattr(importlib.import_module(module), name) is home


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("PyStack", PyStack),
        ("TCPApplication", TCPApplication),
        ("UDPApplication", UDPApplication),
        ("TCPSession", TCPSession),
        ("TcpConfig", TcpConfig),
    ],
)
def test_package_exports_are_the_defining_modules_objects(name: str, home: object) -> None:
    namespace: dict[str, object] = {}
    exec(f"from pystack import {name}", namespace)  # the statement a program writes
    assert namespace[name] is home


def test_the_socket_work_alike_keeps_its_path() -> None:
    sock = importlib.import_module("pystack.pystack_socket")
    assert isinstance(sock.socket, type)
    assert callable(sock.use_stack)
    assert callable(sock.getaddrinfo)


def test_former_testing_homes_re_export_the_product_modules() -> None:
    import pystack.lab
    import pystack.sim
    import pystack.testing.lab
    import pystack.testing.twostack

    assert pystack.testing.twostack.SimNet is pystack.sim.SimNet
    assert pystack.testing.twostack.WireTap is pystack.sim.WireTap
    for name in pystack.testing.lab.__all__:
        assert getattr(pystack.testing.lab, name) is getattr(pystack.lab, name), name


def test_tcp_package_names_its_exports() -> None:
    import pystack.tcp

    assert set(pystack.tcp.__all__) <= set(dir(pystack.tcp))
    with pytest.raises(AttributeError):
        pystack.tcp.NoSuchThing  # noqa: B018


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_product_module_imports_pystack_testing() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "testing":
            continue
        bad = {n for n in _imported_modules(path) if n.split(".")[:2] == ["pystack", "testing"]}
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)}: {sorted(bad)}")
    assert offenders == []
