"""``pystack bench [NAME] [options]``: run the benchmark module ``pystack.benchmarks.<NAME>``.

Benchmarks are discovered by name (see :mod:`pystack.benchmarks`) from their source, so a
new module is listed without touching this file, and a benchmark's heavy imports happen
only when it runs. Without NAME, ``pystack bench`` runs :data:`DEFAULT` (so
``pystack bench --json`` is ``pystack bench net --json``).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import pkgutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PACKAGE = "pystack.benchmarks"
DEFAULT = "net"
_REQUIRED = frozenset({"add_arguments", "run"})
_HELP = frozenset({"-h", "--help"})
# No command-line argument can contain NUL, so with it as the only prefix character the
# bench parser treats every argument as positional: `pystack bench --json` reaches the
# benchmark's own parser instead of being refused as an unknown option of `bench`.
_NO_PREFIX = "\0"


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


class _NameAndOptions(argparse.Action):
    """Split ``[NAME] [options]``: a first word that is not an option names the benchmark."""

    def __init__(self, *args: Any, names: Sequence[str], **kwargs: Any) -> None:
        # Not argparse's `choices`: those would be checked against every option too.
        super().__init__(*args, **kwargs)
        self.names = tuple(names)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        argv = list(values or ())
        if argv[:1] and argv[0] in _HELP:
            parser.print_help()
            parser.exit()
        name = DEFAULT
        if argv[:1] and not argv[0].startswith("-"):
            name = argv.pop(0)
        if name not in self.names:
            choices = ", ".join(map(repr, self.names))
            parser.error(f"argument NAME: invalid choice: {name!r} (choose from {choices})")
        namespace.name, namespace.options = name, argv


def add_parser(subparsers: Any) -> None:
    """Register ``pystack bench``."""
    benchmarks = available()
    listing = "\n".join(f"  {name:<12} {summary}" for name, summary in benchmarks.items())
    parser = subparsers.add_parser(
        "bench",
        help=f"run a benchmark (measurements, not tests; {DEFAULT} without a name)",
        usage="%(prog)s [-h] [NAME] [options ...]",
        description=f"Run the benchmark NAME, or {DEFAULT} without NAME (so `pystack bench "
        f"--json`\nis `pystack bench {DEFAULT} --json`); `pystack bench NAME --help` shows "
        "its options.",
        epilog=f"available benchmarks:\n{listing}" if listing else "no benchmarks found",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prefix_chars=_NO_PREFIX,
        add_help=False,  # -h/--help is recognised by _NameAndOptions, before any NAME
    )
    parser.add_argument(
        "argv",
        metavar="[NAME] [options ...]",
        nargs=argparse.REMAINDER,
        action=_NameAndOptions,
        names=sorted(benchmarks),
        help=f"benchmark ({DEFAULT} if the first argument is an option), then its options",
    )
    parser.set_defaults(func=run, name=DEFAULT, options=[])


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
