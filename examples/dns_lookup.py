"""DNS lookups through the stack's resolver.

Without options, two stacks share a simulated wire (no root needed): one runs a tiny DNS
server for the ``lab`` zone (A, a CNAME, a name too big for UDP so the answer comes over
TCP), the other resolves the names given on the command line::

    python examples/dns_lookup.py www.lab alias.lab big.lab nope.lab

With ``--tap`` or ``--interface`` the stack attaches to a real device (root) and asks the
server given by ``--server`` (default: the first nameserver of /etc/resolv.conf)::

    python examples/dns_lookup.py --tap tap0 --ip 198.18.0.2/24 --server 198.18.0.1 www.lab
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.task import Clock

from pystack.dns.resolver import DnsAnswer, DNSError
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.links.memory import MemoryWire
from pystack.stack import PyStack

ZONE = {
    "www.lab": ["198.18.0.10"],
    "alias.lab": "CNAME www.lab",
    "v6.lab": ["2001:db8::10"],
    "big.lab": [f"198.18.3.{i}" for i in range(1, 41)],
}


def show(name: str, result: DnsAnswer | DNSError) -> str:
    """One line per lookup, like ``host``."""
    if isinstance(result, DNSError):
        return f"{name}: {type(result).__name__}: {result.strerror}"
    alias = f" (alias of {result.canonical_name})" if result.canonical_name != name else ""
    values = ", ".join(str(v) for v in result.values)
    return f"{name}{alias}: {values} (ttl {result.ttl})"


def simulated(names: Sequence[str], rdtype: str, say: Callable[[str], None]) -> None:
    """Resolve ``names`` against TinyDnsServer on a second stack, under a Clock."""
    clock = Clock()
    wire = MemoryWire(clock, seed=1)
    client = PyStack(link=wire.attach(), ip="198.18.0.2/24", clock=clock)
    server = PyStack(link=wire.attach(), ip="198.18.0.53/24", clock=clock)
    zone = TinyDnsServer(ZONE, ttl=60)
    server.register_udp_application(zone)
    zone.bind(53)
    zone.serve_tcp(server)
    resolver = resolver_for_stack(client, servers=["198.18.0.53"])
    for name in names:
        results: list[Any] = []
        resolver.resolve(name, rdtype).addBoth(results.append)
        while not results:
            clock.advance(0.01)
        result = results[0]
        say(show(name, getattr(result, "value", result)))


def real(args: argparse.Namespace, say: Callable[[str], None]) -> None:
    """Resolve on a stack attached to a real device, with the real reactor in a thread."""
    servers = [args.server] if args.server else None  # None: /etc/resolv.conf
    stack = PyStack(tap=args.tap, interface=args.interface, ip=args.ip, dns_servers=servers)
    stack.run(doreactor=False)
    try:
        for name in args.names:
            try:
                say(show(name, stack.dns.resolve_blocking(name, args.type)))
            except DNSError as exc:
                say(show(name, exc))
    finally:
        stack.stop()


def main(argv: Sequence[str] | None = None, say: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=["www.lab", "alias.lab", "big.lab", "nope.lab"])
    parser.add_argument("--type", default="A", help="record type (A, AAAA, ...)")
    parser.add_argument("--tap", help="attach to this TAP device (root)")
    parser.add_argument("--interface", help="attach to this interface (root)")
    parser.add_argument("--ip", help="the stack's address, a.b.c.d/prefix")
    parser.add_argument("--server", help="DNS server (default: /etc/resolv.conf)")
    args = parser.parse_args(argv)
    if args.tap or args.interface:
        real(args, say)
    else:
        simulated(args.names, args.type, say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
