"""``pystack conformance MODULE:Class``: run the TCP conformance suite on your own class.

Every property is run on the class (a subclass of the stack's TCPSession) with freshly
drawn examples: what each user call (OPEN, SEND, RECEIVE, CLOSE, ABORT, STATUS) puts on
the wire, how each segment that arrives is answered (RFC 9293, RFC 5961), the timeouts,
and two whole stacks of the class exchanging data over a wire that drops, duplicates and
reorders. One line per property; a failure shows its smallest counterexample as a packet
ladder: the segments both ways, each side's states, what was expected and what happened.

The exit status is 0 when every property passed, 1 when one failed, 2 for a usage error:
use it in CI. Nothing here needs root or a network.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sys
from pathlib import Path
from typing import Any

from pystack.clicmd._attach import USAGE_ERROR, CommandError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack conformance``."""
    doc = (__doc__ or "").split("\n\n")
    parser = sub.add_parser(
        "conformance",
        help="run the TCP conformance suite on your TCPSession subclass",
        description=doc[1],
        epilog=doc[2],
    )
    parser.add_argument("target", metavar="MODULE:Class", nargs="?",
                        help="the class to check, e.g. mypkg.tcp:MySession")  # fmt: skip
    parser.add_argument("--examples", type=_positive, default=100, metavar="N",
                        help="examples per property (default 100)")  # fmt: skip
    parser.add_argument("--seed", type=int, metavar="S",
                        help="draw the examples from S: the same S gives the same run "
                        "(default: a fresh number, printed at the end)")  # fmt: skip
    parser.add_argument("--property", action="append", default=[], metavar="NAME",
                        help="run only this property (a name, a prefix such as 'abort.', "
                        "or a pattern such as '*rst*'; repeatable)")  # fmt: skip
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead of lines (see the docs)")  # fmt: skip
    parser.add_argument("--ladder", metavar="DIR",
                        help="draw each failure's ladder as DIR/NAME.svg and .html")  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the properties and stop")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def load_class(target: str) -> type[Any]:
    """The TCPSession subclass ``MODULE:Class`` names; a usage error otherwise."""
    from pystack.tcp.session import TCPSession

    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise CommandError(f"{target}: name a class as MODULE:Class", status=USAGE_ERROR)
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # a module in the current directory, as python -m does
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error importing it is theirs to see
        raise CommandError(f"{target}: cannot import {module_name} ({type(exc).__name__}: {exc})",
                           status=USAGE_ERROR) from exc  # fmt: skip
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, TCPSession)):
        what = (
            "not found"
            if obj is None
            else f"is not a subclass of {TCPSession.__module__}.TCPSession"
        )
        raise CommandError(f"{target}: {attr} {what}", status=USAGE_ERROR)
    return obj


def run(args: argparse.Namespace) -> int:
    """Run the selected properties; print lines or JSON; 1 if any failed."""
    from pystack.testing.conformance import (
        report_lines,
        result_json,
        run_suite,
        select,
        write_ladder,
    )

    if args.list:
        for p in select(args.property):
            print(f"{p.name}  ({p.section}): {p.checks}")
        return 0
    if args.target is None:
        raise CommandError("name the class to check as MODULE:Class", status=USAGE_ERROR)
    cls = load_class(args.target)
    if not select(args.property):
        raise CommandError(f"no property matches {args.property}", status=USAGE_ERROR)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    results = []
    for result in run_suite(cls, examples=args.examples, seed=seed, only=args.property):
        if result.status == "failed" and args.ladder:
            title = f"{args.target}: {result.name} (--seed {seed})"
            write_ladder(result, Path(args.ladder), title)
        results.append(result)
        if not args.json:
            print("\n".join(report_lines(result)), flush=True)
    failed = sum(r.status == "failed" for r in results)
    if args.json:
        doc = {"class": args.target, "examples": args.examples, "seed": seed,
               "passed": len(results) - failed, "failed": failed,
               "properties": [result_json(r) for r in results]}  # fmt: skip
        print(json.dumps(doc, indent=2))
    else:
        print(f"{len(results) - failed} passed, {failed} failed "
              f"(rerun with: pystack conformance {args.target} --examples {args.examples} "
              f"--seed {seed})")  # fmt: skip
    return 1 if failed else 0
