"""``pystack ping HOST``: ICMP (or ICMPv6, for an IPv6 HOST) echo from the stack."""

from __future__ import annotations

import argparse
from typing import Any

from pystack.clicmd import _attach


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack ping``."""
    parser = sub.add_parser(
        "ping",
        help="send ICMP echo requests from the stack",
        description="Ping HOST from the stack and print each round-trip time, like ping(8).",
    )
    parser.add_argument("host", type=_attach.ip_any, help="IPv4 or IPv6 address to ping")
    parser.add_argument(
        "--count", "-c", type=_attach.positive_int, default=4, help="requests (default 4)"
    )
    parser.add_argument(
        "--timeout", "-W", type=_attach.positive, default=2.0, help="seconds per reply"
    )
    _attach.add_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ping, print each reply and a summary; 0 when at least one reply came."""
    received = 0
    with _attach.attached_stack(args) as stack:
        try:
            stack.run(doreactor=False)
            _attach.wait_for_ipv6(stack)
            for seq in range(args.count):
                received += _ping_once(stack, args.host, seq, args.timeout)
        except KeyboardInterrupt:
            pass
    print(f"{args.count} sent, {received} received")
    return 0 if received else 1


def _ping_once(stack: Any, host: str, seq: int, timeout: float) -> int:
    try:
        rtt = stack.ping(host, timeout=timeout)
    except TimeoutError:
        print(f"no reply from {host}: seq={seq}", flush=True)
        return 0
    print(f"reply from {host}: seq={seq} time={rtt * 1000:.2f} ms", flush=True)
    return 1
