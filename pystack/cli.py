"""The ``pystack`` command.

Each subcommand lives in its own module under :mod:`pystack.clicmd` and exposes
``add_parser(subparsers)`` (which registers the subcommand and sets ``func``) .
The dispatcher only assembles them, so the commands stay independent of each other.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order shown in --help.
SUBCOMMANDS = (
    "demo",
    "diagrams",
    "trace",
    "conformance",
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
