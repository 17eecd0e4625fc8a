"""The ``pystack`` command.

Each subcommand lives in its own module under :mod:`pystack.clicmd` and exposes
``add_parser(subparsers)`` (which registers the subcommand and sets ``func``) .
The dispatcher only assembles them, so the commands stay independent of each other.

Other packages add commands through the ``pystack.commands`` entry-point group: each
entry names an ``add_parser`` function. The testing toolkit registers ``pystack
conformance`` that way (see pyproject.toml), so the product never imports
:mod:`pystack.testing`; a package of your own can add a command the same way.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

COMMANDS_GROUP = "pystack.commands"

# Order is the order shown in --help (commands from entry points follow).
SUBCOMMANDS = (
    "demo",
    "diagrams",
    "trace",
    "bench",
    "lab",
    "serve",
    "ping",
    "get",
    "cleanup",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pystack",
        description="A TCP/IP stack in user space, built from declared state machines.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"pystack.clicmd.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pystack.clicmd.{name}":
                raise
            continue
        module.add_parser(sub)
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pystack ARGV``; a command that cannot go on prints one line, argparse-style
    (``pystack serve: error: ...``), and exits 1 (or 2 for a usage error)."""
    from pystack.clicmd._attach import CommandError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CommandError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
