"""``pystack bench connrate``: CPU per TCP connect+close between two stacks on a MemoryWire.

Two whole stacks (Ethernet, ARP, IPv4, TCP, default `TcpConfig`) on a `MemoryWire` under
a deterministic clock, in this one process, play ``pystack bench net``'s connection-rate
workload: the server runs the acceptor of that benchmark (a `TCPApplication` bound with
``newinstance=True`` that closes each connection as soon as it is established); the client
opens ``--connections`` connections in bursts and closes each one once established, as
the kernel's socket/connect/close loop does. Both ends close at once, so every connection
ends in a compact TIME_WAIT record on each side.

The figure is process CPU time (``time.process_time``) per connection, both stacks
together, best of ``--runs``; with ``--profile FILE`` one more run under cProfile writes
its pstats there (call counts per connection are steadier than times on a loaded machine).
A measurement, not a test: nothing asserts a target.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import time
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.benchmarks._machine import add_machine_arguments, loop_line, machine_info
from pystack.benchmarks.memory import HeapClock
from pystack.sim import SimNet
from pystack.tcp.states import TCP

__all__ = ["add_arguments", "main", "measure", "run", "run_once"]

PORT = 5001
BATCH = 32  # connects between two runs of the clock: how many handshakes overlap
FIRST_LOCAL_PORT = 1024


class _Acceptor(TCPApplication):
    """``pystack bench net``'s acceptor role: close each connection once established."""

    def connection_made(self) -> None:
        self.close()


class _Closer:
    """The client sessions' user: close as soon as established (connect, then close)."""

    def __init__(self) -> None:
        self.closed = 0

    def tcp_established(self, session: Any) -> None:
        session.close()

    def tcp_readable(self, session: Any) -> None:
        session.read()

    def tcp_writable(self, session: Any) -> None:
        """Nothing to send."""

    def tcp_eof(self, session: Any) -> None:
        """Closed already."""

    def tcp_closed(self, session: Any, reason: Any) -> None:
        self.closed += 1


class _Pair:
    """The two stacks on their wire, the server's acceptor listening."""

    def __init__(self) -> None:
        self.clock = HeapClock()
        self.net = SimNet(2, seed=1, delay=0.0005, clock=self.clock)  # type: ignore[arg-type]
        self.client = self.net.a.tcp
        self.address = str(self.net.b.address)
        app = _Acceptor()
        self.net.b.register_tcp_application(app)
        app.bind(PORT, app=app, newinstance=True)
        app.listen(1024)
        self.user = _Closer()
        self.next_port = FIRST_LOCAL_PORT
        self.connect(1)  # ARP resolves before the measured connections

    def settle(self) -> None:
        """Run every scheduled event up to the next quiet moment (past 2*MSL's start)."""
        clock = self.clock
        while (upcoming := clock.next_time()) is not None and upcoming - clock.seconds() < 0.5:
            clock.advance(max(upcoming - clock.seconds(), 0.0))

    def connect(self, n: int) -> None:
        """Open and close ``n`` connections, `BATCH` in flight at a time."""
        client, address, user = self.client, self.address, self.user
        for i in range(n):
            client.connect(address, PORT, user=user, local_port=self.next_port)
            self.next_port += 1
            if i % BATCH == BATCH - 1:
                self.settle()
        self.settle()


def run_once(n: int, profile: str | None = None) -> dict[str, Any]:
    """One run of ``n`` connections on a fresh pair: CPU seconds and what both ends hold."""
    pair = _Pair()
    profiler = cProfile.Profile() if profile else None
    before = pair.user.closed
    cpu = time.process_time()
    if profiler is not None:
        profiler.enable()
    pair.connect(n)
    if profiler is not None:
        profiler.disable()
    cpu = time.process_time() - cpu
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    server = pair.net.b.tcp
    left = [s for s in server.connections.values() if s.state != TCP.CLOSED]
    return {
        "connections": n,
        "closed": pair.user.closed - before,
        "server_time_wait": len(server.time_wait),
        "client_time_wait": len(pair.client.time_wait),
        "server_open": len(left),
        "cpu_s": cpu,
        "us_per_conn": cpu / n * 1e6,
    }


def measure(n: int, runs: int, profile: str | None = None) -> dict[str, Any]:
    """Best of ``runs`` runs of ``n`` connections (and one profiled run with ``profile``)."""
    results = [run_once(n) for _ in range(runs)]
    best = min(results, key=lambda r: r["cpu_s"])
    if profile:
        run_once(n, profile)
    return {**best, "runs": [round(r["us_per_conn"], 1) for r in results]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench connrate``."""
    parser.add_argument("--connections", type=int, default=5000, metavar="N",
                        help="connections per run (5000)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="runs, the best reported (3)")
    parser.add_argument(
        "--profile", metavar="FILE", help="one more run under cProfile, its pstats to FILE"
    )
    add_machine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Measure and print the figures (or JSON); 1 if a connection did not close."""
    machine = machine_info(args.loop_runs)
    r = measure(args.connections, max(args.runs, 1), args.profile)
    ok = r["closed"] == r["connections"]
    if args.json:
        print(json.dumps({"benchmark": "connrate", "machine": machine, "results": r}, indent=1))
        return 0 if ok else 1
    print("TCP connect+close, two whole stacks on a MemoryWire (both stacks' CPU)")
    print(f"  {loop_line(machine)}")
    print(f"  CPU per connection {r['us_per_conn']:8.1f} µs (best of {r['runs']})")
    print(f"  connections/s      {1e6 / r['us_per_conn']:8.0f} (one core, both ends)")
    print(f"  closed {r['closed']:,} of {r['connections']:,}; TIME_WAIT records: server "
          f"{r['server_time_wait']:,}, client {r['client_time_wait']:,}")  # fmt: skip
    return 0 if ok else 1


def main() -> int:
    """``python -m pystack.benchmarks.connrate``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].split("``: ")[-1])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
