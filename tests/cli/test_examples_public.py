"""The examples use PyStack's public API only: a user who copies one builds on names that
are documented and kept, not on internals that may change.

Each file of examples/ is parsed (not run): it must not import a name (or a module) that
starts with "_" from pystack, nor read or set an attribute starting with a single "_" on
anything but ``self`` (an example's own class may keep private state; dunders are fine).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))


def is_private(name: str) -> bool:
    """A single-underscore name (``_x``, not ``__x__``)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id == "self"


def private_uses(source: str) -> list[str]:
    """Each use of a private pystack name or attribute in ``source``, as "line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pystack":
            parts = (node.module or "").split(".")
            names = [alias.name for alias in node.names]
            found += [f"{node.lineno}: from {node.module} import {n}"
                      for n in names if is_private(n) or any(map(is_private, parts))]  # fmt: skip
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.split(".")[0] == "pystack"
                      and any(map(is_private, alias.name.split(".")))]  # fmt: skip
        elif isinstance(node, ast.Attribute) and is_private(node.attr) and not on_self(node):
            found.append(f"{node.lineno}: .{node.attr}")
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_uses_only_public_names(path: Path) -> None:
    assert private_uses(path.read_text()) == []


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from pystack.stack import _helper", ["1: from pystack.stack import _helper"]),
        ("from pystack._socket_state import State", ["1: from pystack._socket_state import State"]),
        ("import pystack._socket_state", ["1: import pystack._socket_state"]),
        ("stack.tcp._connections.clear()", ["1: ._connections"]),
        ("x = session._accept_queue", ["1: ._accept_queue"]),
        ("self._count = 1\nprint(self._count)", []),
        ("print(obj.__class__.__name__, obj.__dict__)", []),
        ("from twisted.internet import _sslverify", []),
        ("from pystack.stack import PyStack as _PyStack", []),
    ],
)
def test_the_checker_finds_private_uses(source: str, expected: list[str]) -> None:
    assert private_uses(source) == expected
