"""``pystack ping HOST``: ICMP echo from the stack."""

from __future__ import annotations

import argparse

from pystack.clicmd import _attach


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "ping",
        help="send ICMP echo requests from the stack",
        description="Ping HOST from the stack and print each round-trip time, like ping(8).",
    )
    parser.add_argument("host", help="IPv4 address to ping")
    parser.add_argument("--count", "-c", type=int, default=4, help="requests (default 4)")
    parser.add_argument("--timeout", "-W", type=float, default=2.0, help="seconds per reply")
    _attach.add_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stack = _attach.make_stack(args)
    received = 0
    try:
        stack.run(doreactor=False)
        for seq in range(args.count):
            try:
                rtt = stack.ping(args.host, timeout=args.timeout)
            except TimeoutError:
                print(f"no reply from {args.host}: seq={seq}", flush=True)
                continue
            received += 1
            print(f"reply from {args.host}: seq={seq} time={rtt * 1000:.2f} ms", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    print(f"{args.count} sent, {received} received")
    return 0 if received else 1
