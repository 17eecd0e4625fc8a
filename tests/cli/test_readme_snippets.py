"""Every Python snippet of README.md and docs/*.md is a complete program that works.

Snippets without a mark run as they are, each in its own interpreter (no root: the ones
that need a peer use SimNet). ``<!-- needs-root -->`` snippets attach to a device: here
they are compiled and everything they import must exist (tests/cli/
test_readme_root_snippets.py runs them in a namespace lab); ``<!-- listing -->`` blocks
are interface listings, compiled only.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.docblocks import Block, all_blocks

pytestmark = pytest.mark.timeout(300)
PYTHON = all_blocks("python")
RUNNABLE = [b for b in PYTHON if not b.mark]
# `print(x)  # b'HELLO'`: a comment that starts with a value is what the line prints.
_PRINTS = re.compile(r"^\s*print\(.*\)\s+#\s+(b'[^']*'|b\"[^\"]*\"|\w+\([^)]*\)|-?\d+)(?=\s|:|$)")


def ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


def test_the_pages_have_snippets_of_each_kind() -> None:
    marks = {b.mark for b in PYTHON}
    assert {"", "needs-root", "listing"} <= marks, marks
    assert all(b.mark in ("", "needs-root", "listing") for b in PYTHON)
    assert len(RUNNABLE) >= 5


@pytest.mark.parametrize("block", RUNNABLE, ids=ids(RUNNABLE))
def test_snippet_runs_as_written(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(block.text)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, f"{block.where}:\n{result.stderr[-3000:]}"
    expected = [m.group(1) for line in block.text.splitlines() if (m := _PRINTS.match(line))]
    printed = result.stdout.splitlines()
    position = 0
    for value in expected:  # what the comments say the snippet prints, in order
        found = [i for i in range(position, len(printed)) if printed[i].startswith(value)]
        assert found, f"{block.where}: prints {printed!r}, its comment says {value}"
        position = found[0] + 1


def imported_names(tree: ast.Module) -> list[tuple[str, str | None]]:
    """(module, name) for every import of a program (name None for `import module`)."""
    names: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names += [(node.module, alias.name) for alias in node.names]
    return names


ROOT_ONLY = [b for b in PYTHON if b.mark != ""]


@pytest.mark.parametrize("block", ROOT_ONLY, ids=ids(ROOT_ONLY))
def test_device_snippets_compile_and_their_imports_exist(block: Block) -> None:
    tree = ast.parse(block.text, filename=block.where)
    compile(tree, block.where, "exec")
    for module, name in imported_names(tree):
        imported = importlib.import_module(module)
        assert name is None or hasattr(imported, name), f"{block.where}: {module}.{name}"
