"""Attachment options shared by ``serve``, ``ping`` and ``get``, and building the stack."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any


def add_options(parser: argparse.ArgumentParser) -> None:
    """--tap/--interface, --ip, --gateway, --mac, --mtu and --pcap."""
    where = parser.add_argument_group("attachment (default: the default-route interface)")
    dev = where.add_mutually_exclusive_group()
    dev.add_argument("--tap", metavar="NAME", help="own TAP device NAME (created if missing)")
    dev.add_argument("--interface", "-i", metavar="IF", help="packet socket on interface IF")
    where.add_argument(
        "--ip",
        metavar="A.B.C.D/N",
        help="the stack's own address; without it on an interface, the stack "
        "shares the kernel's address (a netfilter rule silences the kernel)",
    )
    where.add_argument("--gateway", metavar="A.B.C.D", help="default gateway")
    where.add_argument("--mac", metavar="MAC", help="the stack's MAC (default: random)")
    where.add_argument("--mtu", type=int, help="MTU (default: the device's)")
    where.add_argument("--pcap", metavar="FILE", help="write every frame to FILE (pcap)")


def make_stack(args: argparse.Namespace) -> Any:
    """A PyStack attached as the options say (the link wrapped in a capture with --pcap)."""
    from pystack.stack import PyStack

    options = {
        "tap": args.tap,
        "interface": args.interface,
        "ip": args.ip,
        "gateway": args.gateway,
        "mac": args.mac,
        "mtu": args.mtu,
    }
    # PyStack wraps the link in the capture itself, after attaching, so a shared-address
    # stack still hands its kernel filter to TCP and UDP.
    return PyStack(pcap=args.pcap or None, **options)


@contextlib.contextmanager
def attached_stack(args: argparse.Namespace) -> Iterator[Any]:
    """``make_stack(args)``, stopped on leaving the block however it is left."""
    stack = make_stack(args)
    try:
        yield stack
    finally:
        stack.stop()
