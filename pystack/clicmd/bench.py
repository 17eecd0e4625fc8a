"""``pystack bench <name> [options]``: run the benchmark module ``pystack.benchmarks.<name>``.

Benchmarks are discovered by name (see :mod:`pystack.benchmarks`) from their source, so a
new module is listed without touching this file, and a benchmark's heavy imports happen
only when it runs.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from typing import Any

PACKAGE = "pystack.benchmarks"
_REQUIRED = frozenset({"add_arguments", "run"})


def available() -> dict[str, str]:
    """Benchmark names and their one-line summaries, read from the modules' source."""
    package = importlib.import_module(PACKAGE)
    found: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        spec = importlib.util.find_spec(f"{PACKAGE}.{info.name}")
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if functions >= _REQUIRED:
            doc = (ast.get_docstring(tree) or "").strip()
            summary = doc.splitlines()[0] if doc else ""
            # Drop a leading "``pystack bench name``: " that repeats the listing's name.
            found[info.name] = summary.split("``: ", 1)[-1]
    return found


def add_parser(subparsers: Any) -> None:
    """Register ``pystack bench``."""
    benchmarks = available()
    listing = "\n".join(f"  {name:<12} {summary}" for name, summary in benchmarks.items())
    parser = subparsers.add_parser(
        "bench",
        help="run a benchmark (measurements, not tests)",
        description="Run the benchmark NAME; `pystack bench NAME --help` shows its options.",
        epilog=f"available benchmarks:\n{listing}" if listing else "no benchmarks found",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", choices=sorted(benchmarks), help="benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the benchmark's options")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import the benchmark, parse its own options and run it."""
    module = importlib.import_module(f"{PACKAGE}.{args.name}")
    parser = argparse.ArgumentParser(
        prog=f"pystack bench {args.name}",
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(args.options)) or 0)
