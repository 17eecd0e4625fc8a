"""Whether a recorded run still describes the code: a digest of the sources it ran."""

from __future__ import annotations

import hashlib
from pathlib import Path

# What a marked test's outcome depends on: the package and the tests.
_TREES = ("pystack", "tests")
_SUFFIXES = (".py", ".toml")


def source_digest(root: Path) -> str:
    """SHA-256 over the path and content of every source file under pystack/ and tests/."""
    digest = hashlib.sha256()
    for tree in _TREES:
        for path in sorted((root / tree).rglob("*")):
            if path.suffix in _SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
