"""``pystack lab up|down|exec``: a network-namespace lab to try the stack against Linux."""

from __future__ import annotations

import argparse
import os
import sys

from pystack import netns
from pystack.lab import STATE_DIR, Lab

DEFAULT_NAME = "pslab"

USAGE = """\
lab {name} is up ({mode}):
  kernel side: namespace {kernel_ns}, {kernel_interface} = {kernel_ip}/{prefixlen}
  stack side:  namespace {stack_ns}, interface {stack_interface}; give the stack {stack_ip}

Run a stack in it, for example an echo server:
  ip netns exec {stack_ns} pystack serve echo {attach} --ip {stack_ip}/{prefixlen} --port 7
then talk to it from the kernel side:
  pystack lab exec{name_opt} -- nc {stack_ip} 7
Remove it with:
  pystack lab down{name_opt}
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack lab``."""
    parser = sub.add_parser(
        "lab",
        help="create, use and remove a namespace lab (root)",
        description="A Linux kernel peer and an interface for the stack, in network "
        "namespaces, with addresses in 198.18.0.0/15. Needs root.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("up", help="create the lab and print how to use it")
    _name(up)
    kind = up.add_mutually_exclusive_group()
    kind.add_argument(
        "--veth",
        dest="mode",
        action="store_const",
        const="veth",
        help="a veth pair: the stack uses a packet socket on s0 (default)",
    )
    kind.add_argument(
        "--tap",
        dest="mode",
        action="store_const",
        const="tap",
        help="a TAP device tap0: the stack attaches with --tap tap0",
    )
    up.add_argument(
        "--shared",
        action="store_true",
        help="give s0 the stack's address too (shared-address mode)",
    )
    up.set_defaults(func=_up, mode="veth")
    down = actions.add_parser("down", help="remove the lab")
    _name(down)
    down.set_defaults(func=_down)
    run = actions.add_parser("exec", help="run a command on the kernel side (or --stack side)")
    _name(run)
    run.add_argument("--stack", action="store_true", help="run it in the stack's namespace")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(func=_exec)


def _name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"lab name (default {DEFAULT_NAME})")


def _up(args: argparse.Namespace) -> int:
    if os.path.exists(os.path.join(STATE_DIR, f"{args.name}.json")):
        print(
            f"lab {args.name} is already up; `pystack lab down --name {args.name}` first",
            file=sys.stderr,
        )
        return 1
    lab = Lab(args.name, mode=args.mode, shared=args.shared).up()
    lab.keep()
    lab.save()
    info = vars(lab.info).copy()
    attach = "--tap tap0" if args.mode == "tap" else "--interface s0"
    name_opt = "" if args.name == DEFAULT_NAME else f" --name {args.name}"
    print(USAGE.format(attach=attach, name_opt=name_opt, **info), end="")
    return 0


def _down(args: argparse.Namespace) -> int:
    path = os.path.join(STATE_DIR, f"{args.name}.json")
    if os.path.exists(path):
        Lab.load(args.name).down()
        os.unlink(path)
    else:
        # No state (a crashed `lab up`?): remove the namespaces the name implies.
        for ns in (f"{args.name}-k", f"{args.name}-s"):
            netns.ip("netns", "del", ns, check=False)
    print(f"lab {args.name} is down")
    return 0


def _exec(args: argparse.Namespace) -> int:
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        print("usage: pystack lab exec [--name N] [--stack] -- COMMAND", file=sys.stderr)
        return 2
    try:
        lab = Lab.load(args.name)
    except FileNotFoundError:
        print(f"no lab named {args.name}; `pystack lab up` first", file=sys.stderr)
        return 1
    ns = lab.info.stack_ns if args.stack else lab.info.kernel_ns
    os.execvp("ip", ["ip", "netns", "exec", ns, *cmd])
    return 0  # not reached
