"""``pystack cleanup``: remove what crashed pystack processes left behind.

Kernel-filter rules whose owner pid is gone (a stack killed with SIGKILL), and test-run
lab namespaces whose creating process is gone.
"""

from __future__ import annotations

import argparse
import contextlib

from pystack import kernel_filter, lab, netns


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack cleanup``."""
    parser = sub.add_parser(
        "cleanup",
        help="remove netfilter rules and lab namespaces of pystack processes that are gone",
        description="Remove kernel-filter rules tagged pystack:<pid>:<stack> whose process "
        "no longer exists, and leftover test-lab namespaces. Needs root.",
    )
    parser.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    parser.add_argument("--netns", metavar="NS", help="look in network namespace NS")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Remove (or with --dry-run list) what gone processes left; print each."""
    verb = "would remove" if args.dry_run else "removed"
    scope = netns.enter(args.netns) if args.netns else contextlib.nullcontext()
    with scope:
        stale = kernel_filter.cleanup(dry_run=args.dry_run)
    for rule in stale:
        print(f"{verb} rule of pid {rule.pid} (stack {rule.stack_id}): {rule.chain} {rule.text}")
    namespaces = lab.sweep_stale(dry_run=args.dry_run)
    for name in namespaces:
        print(f"{verb} namespace {name}")
    if not stale and not namespaces:
        print("nothing to clean up")
    return 0
