"""The code blocks of README.md and docs/*.md, for the tests that run them as written.

A block may be marked by an HTML comment on the line just before its fence:
``<!-- needs-root -->`` (it needs root or a real device; the tests run it in a namespace
lab, or at least compile it), ``<!-- needs-root: echo 7 -->`` / ``<!-- needs-root: http
8080 -->`` (a server the root test reaches on that port and checks that way), and
``<!-- listing -->`` (a Python listing of an interface, not a program: compiled only).

Commands are the lines of ```sh blocks (one command a line, ``\\`` continues it, ``# ...``
after a command is a comment) and, in ```console blocks, the lines after a ``$ `` (user)
or ``# `` (root) prompt; the other lines of a console block are the output shown.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
_MARK = re.compile(r"^\s*<!--\s*(?P<mark>[\w-]+)(?::\s*(?P<arg>[^>]*?))?\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text (dedented), its mark."""

    path: Path
    line: int
    lang: str
    text: str
    mark: str = ""
    mark_arg: str = ""

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def needs_root(self) -> bool:
        return self.mark == "needs-root"


@dataclass(frozen=True)
class Command:
    """One command of a sh or console block, as a user pastes it."""

    text: str
    root: bool
    block: Block


def doc_files() -> list[Path]:
    """README.md and docs/*.md, the pages whose commands must work as written."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = opening.group("indent")
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line[len(indent) :] if line.startswith(indent) else line
                         for line in lines[i + 1 : end])  # fmt: skip
        mark = _MARK.match(lines[i - 1]) if i > 0 else None
        found.append(Block(path, i + 1, opening.group("lang"), textwrap.dedent(body) + "\n",
                           mark.group("mark") if mark else "",
                           (mark.group("arg") or "") if mark else ""))  # fmt: skip
        i = end + 1
    return found


def all_blocks(lang: str | None = None) -> list[Block]:
    """Every block of the documentation pages, of one language or all."""
    return [b for path in doc_files() for b in blocks(path) if lang is None or b.lang == lang]


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).rstrip()


def commands(block: Block) -> list[Command]:
    """The commands of a sh or console block (none for other languages)."""
    out: list[Command] = []
    if block.lang == "sh":
        pending = ""
        for raw in block.text.splitlines():
            line = raw.strip()
            if not line or (line.startswith("#") and not pending):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            out.append(Command(_strip_comment(pending + line), block.needs_root, block))
            pending = ""
    elif block.lang == "console":
        for raw in block.text.splitlines():
            if raw.startswith(("$ ", "# ")):
                out.append(Command(_strip_comment(raw[2:]), raw[0] == "#", block))
    return out


def all_commands() -> list[Command]:
    """Every command of the documentation pages, in page order."""
    return [c for b in all_blocks() for c in commands(b)]
