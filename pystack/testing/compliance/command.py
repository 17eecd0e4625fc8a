"""``pystack compliance``: write docs/compliance.md from the tests that name requirements.

Runs, from a checkout of the project (the command needs its tests/ directory), every
test marked `@pytest.mark.requirement(...)` with `python -m pytest -m requirement`
and writes the table: each requirement of RFC 9293 Appendix B and of the RFC 1122
summary tables, shown by passing tests, or not implemented / not applicable, and why.

--check writes nothing: it exits 1 when docs/compliance.md differs from what the tests
give now, or when a marked test failed. --results FILE reuses the outcomes a full
pytest run recorded with --requirements-results FILE, when the sources have not changed
since; otherwise the marked tests run again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pystack.clicmd._attach import CommandError
from pystack.testing.compliance.catalogue import load_catalogue
from pystack.testing.compliance.freshness import source_digest
from pystack.testing.compliance.table import problems, render

OUTPUT = Path("docs") / "compliance.md"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack compliance``."""
    doc = (__doc__ or "").split("\n\n")
    parser = sub.add_parser(
        "compliance",
        help="write the RFC compliance table (docs/compliance.md) from the tests",
        description=doc[1],
        epilog=doc[2],
    )
    parser.add_argument("--check", action="store_true",
                        help="fail if the table is stale or a marked test fails")  # fmt: skip
    parser.add_argument("--results", metavar="FILE", type=Path,
                        help="outcomes recorded by pytest --requirements-results FILE")  # fmt: skip
    parser.add_argument("--root", metavar="DIR", type=Path,
                        help="the project checkout (default: found from here upwards)")  # fmt: skip
    parser.set_defaults(func=run)


def find_root(start: Path) -> Path:
    """The checkout that holds ``start``: the first directory upwards with pyproject.toml
    and tests/."""
    for candidate in (start, *start.parents):
        if (candidate / "pyproject.toml").is_file() and (candidate / "tests").is_dir():
            return candidate
    raise CommandError(f"no project checkout (pyproject.toml and tests/) at or above {start}")


def load_results(root: Path, recorded: Path | None) -> dict[str, Any]:
    """The recorded outcomes when they match the sources; else run the marked tests."""
    if recorded is not None and recorded.is_file():
        results: dict[str, Any] = json.loads(recorded.read_text())
        if results.get("digest") == source_digest(root):
            print(f"using the outcomes recorded in {recorded}")
            return results
        print(f"{recorded} is older than the sources: running the marked tests")
    return run_marked_tests(root)


def run_marked_tests(root: Path) -> dict[str, Any]:
    """Run `python -m pytest -m requirement` in the checkout and read what it recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "pytest", "-q", "-m", "requirement",
                   "-p", "no:cacheprovider", f"--requirements-results={out}", "tests"]  # fmt: skip
        status = subprocess.run(command, cwd=root, check=False).returncode
        # 0: all passed, 1: some failed (the table reports them); others: pytest broke.
        if status not in (0, 1) or not out.is_file():
            raise CommandError(f"pytest could not run the marked tests (status {status})")
        results: dict[str, Any] = json.loads(out.read_text())
        return results


def run(args: argparse.Namespace) -> int:
    root = (args.root or find_root(Path.cwd())).resolve()
    catalogue = load_catalogue()
    results = load_results(root, args.results)
    page = render(catalogue, results)
    found = problems(catalogue, results)
    for line in found:
        print(f"problem: {line}", file=sys.stderr)
    target = root / OUTPUT
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != page:
            print(f"{OUTPUT} is stale: run `pystack compliance` (or `make compliance`)",
                  file=sys.stderr)  # fmt: skip
            return 1
        print(f"{OUTPUT} is up to date; {len(found)} problem(s)")
    else:
        target.write_text(page, encoding="utf-8")
        print(f"wrote {target}; {len(found)} problem(s)")
    return 1 if found else 0
