"""``pystack bench idle``: memory per idle established connection and per TIME_WAIT record.

Two whole stacks (Ethernet, ARP, IPv4, TCP, default `TcpConfig`) on a `MemoryWire` under a
deterministic clock, in this one process. The client stack opens ``--connections`` (10,000
and 100,000 by default) connections to listeners on the server stack, and the clock runs on
until every one is ESTABLISHED and every handshake timer has fired: the connections are
idle, as a server's are between requests.

Figures, per connection, for the accepting (server) stack:

- **tracemalloc**: the bytes the server stack frees when it forgets its connections (the
  Python objects of the sessions, their parts and their demux entries; nothing the two
  stacks share), measured with `tracemalloc` from the first connect to the end;
- **RSS**: the process's resident set growth from before the first connect to all
  connections idle, in a second run without tracemalloc, divided by the connections and by
  2 (both ends live in this process). It includes what the allocator keeps but does not
  use: an upper bound, comparable to ``pystack bench net``'s RSS figure.

``--server-app`` picks what serves each accepted connection: ``none`` (the connections
alone: a listener whose user keeps no per-connection state) or ``tcpapplication`` (a
`TCPApplication` per connection, ``bind(port, app=..., newinstance=True)``, as
``pystack bench net``'s stack does).

Then, with ``--time-wait`` (10,000) connections, the server closes first, and each of its
connections waits its 2*MSL as a compact TIME_WAIT record in the TCP layer
(:mod:`pystack.tcp.time_wait`): the bytes per record are what the records free when the
table is cleared (tracemalloc). A measurement, not a test: the report says whether the
target (at most 4096 bytes per idle established connection with 10,000 held) is met.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import sys
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pystack.benchmarks._machine import add_machine_arguments, loop_line, machine_info
from pystack.benchmarks.memory import HeapClock
from pystack.sim import SimNet
from pystack.tcp.states import TCP

__all__ = [
    "TARGET_BYTES", "add_arguments", "hold_idle", "hold_idle_rss", "main", "measure", "run",
    "time_wait_records",
]  # fmt: skip

TARGET_BYTES = 4096
"""The project's target per idle established connection, with 10,000 held."""
TARGET_HELD = 10_000
FIRST_PORT = 5001
PORTS_PER_LISTENER = 60_000  # client ports 1024..61023 per server port
BATCH = 256  # connects between two runs of the clock: a SYN burst the wire carries at once
SERVER_APPS = ("none", "tcpapplication")


class _Quiet:
    """A user of every session that keeps nothing per connection (the client side, and the
    server side with ``--server-app none``); it closes its side when the peer's FIN
    comes, so that the server's active close leaves the server in TIME_WAIT."""

    def tcp_accepted(self, listener: Any, child: Any) -> None:
        """Nothing to attach: the child keeps this user."""

    def tcp_established(self, session: Any) -> None:
        """Idle from now on."""

    def tcp_readable(self, session: Any) -> None:
        session.read()

    def tcp_writable(self, session: Any) -> None:
        """Nothing to send."""

    def tcp_eof(self, session: Any) -> None:
        session.close()

    def tcp_closed(self, session: Any, reason: Any) -> None:
        """Nothing to release."""


def rss_bytes() -> int:
    """Resident set size of this process (/proc/self/status; 0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _Pair:
    """The two stacks, the clock, and the listeners on the server."""

    def __init__(self, listeners: int, server_app: str) -> None:
        self.clock = HeapClock()
        self.net = SimNet(2, seed=1, delay=0.0005, clock=self.clock)  # type: ignore[arg-type]
        self.client, self.server = (s.tcp for s in self.net.stacks)
        self.user = _Quiet()
        self.ports = [FIRST_PORT + i for i in range(listeners)]
        for port in self.ports:
            self._listen(port, server_app)
        # One connection to a closed port first: ARP resolves before the SYN bursts.
        self.client.connect(str(self.net.b.address), 9, user=self.user, local_port=1023)
        self.settle(1.0)

    def _listen(self, port: int, server_app: str) -> None:
        if server_app == "none":
            self.server.listen(port, user=self.user, backlog=1 << 30)
            return
        from pystack.apps.tcp_application import TCPApplication

        app = TCPApplication()
        self.net.b.register_tcp_application(app)
        app.bind(port, app=app, newinstance=True)
        app.listen(1 << 30)

    def settle(self, seconds: float) -> None:
        """Run every event of the next ``seconds`` of simulated time."""
        clock = self.clock
        end = clock.seconds() + seconds
        while (upcoming := clock.next_time()) is not None and upcoming <= end:
            clock.advance(max(upcoming - clock.seconds(), 0.0))
        clock.advance(max(end - clock.seconds(), 0.0))

    def connect(self, n: int) -> None:
        """Open ``n`` connections, spread over the listeners, in bursts of `BATCH`."""
        address, listeners = str(self.net.b.address), len(self.ports)
        for i in range(n):
            port, local_port = self.ports[i % listeners], 1024 + i // listeners
            self.client.connect(address, port, user=self.user, local_port=local_port)
            if i % BATCH == BATCH - 1:
                self.settle(0.002)
        # Past every handshake's retransmission timer (1 s): their stale calls fire now.
        self.settle(5.0)

    def established(self, layer: Any) -> int:
        return sum(1 for s in layer.connections.values() if s.state == TCP.ESTABLISHED)

    def drop_stale_calls(self) -> None:
        """The clock's heap keeps cancelled calls until they come due; drop them, so that
        they hold no session that is gone."""
        heap = self.clock._heap
        heap[:] = [entry for entry in heap if entry[2].active()]


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _forget_connections(layer: Any) -> None:
    """Drop every connection of ``layer`` without a segment: the demux table, the accept
    queues and what applications keep of them; nothing is sent."""
    sessions = list(layer.connections.values())
    layer.connections.clear()
    for listener in layer.listeners.values():
        if listener._accept_queue:
            listener._accept_queue.clear()
        user = listener.user
        if user is not None and hasattr(user, "sessions"):
            user.sessions.clear()
    for session in sessions:
        session.timers.cancel_all()
        session.user = None
    del sessions


def hold_idle(n: int, server_app: str = "none") -> dict[str, Any]:
    """Open ``n`` idle connections and measure with tracemalloc what each costs on each
    side; see the module docstring."""
    pair = _Pair(_listeners(n), server_app)
    tracemalloc.start()
    try:
        traced0 = _traced()
        wall = time.perf_counter()
        pair.connect(n)
        wall = time.perf_counter() - wall
        pair.drop_stale_calls()
        held = min(pair.established(pair.server), pair.established(pair.client))
        traced1 = _traced()
        _forget_connections(pair.server)
        pair.drop_stale_calls()
        traced2 = _traced()
        _forget_connections(pair.client)
        pair.drop_stale_calls()
        traced3 = _traced()
    finally:
        tracemalloc.stop()
    per = max(held, 1)
    return {
        "connections": n,
        "established": held,
        "listeners": len(pair.ports),
        "server_app": server_app,
        "bytes_per_conn": (traced1 - traced2) / per,
        "client_bytes_per_conn": (traced2 - traced3) / per,
        "both_stacks_growth": traced1 - traced0,
        "seconds_to_open": wall,
    }


def hold_idle_rss(n: int, server_app: str = "none") -> dict[str, Any]:
    """Open ``n`` idle connections without tracemalloc (its own tables would count) and
    measure the process's RSS growth; per connection end, both being in this process."""
    pair = _Pair(_listeners(n), server_app)
    gc.collect()
    rss0 = rss_bytes()
    pair.connect(n)
    pair.drop_stale_calls()
    gc.collect()
    growth = rss_bytes() - rss0
    held = min(pair.established(pair.server), pair.established(pair.client))
    per_end = growth / (2 * max(held, 1))
    return {"rss_established": held, "rss_growth": growth, "rss_bytes_per_conn": per_end}


def _listeners(n: int) -> int:
    return max(1, math.ceil(n / PORTS_PER_LISTENER))


def time_wait_records(n: int) -> dict[str, Any]:
    """Open ``n`` connections, close them from the server so that the server keeps a
    compact TIME_WAIT record of each, and measure the bytes per record."""
    pair = _Pair(_listeners(n), "none")
    pair.connect(n)
    tracemalloc.start()
    try:
        traced0 = _traced()
        for session in list(pair.server.connections.values()):
            session.close()
            pair.settle(0.0)
        pair.settle(1.0)  # the client's FIN and its ACK; 2*MSL (60 s) is far off
        pair.drop_stale_calls()
        records = len(pair.server.time_wait)
        traced1 = _traced()
        pair.server.clear_time_wait()
        traced2 = _traced()
    finally:
        tracemalloc.stop()
    return {
        "connections": n,
        "records": records,
        "bytes_per_record": (traced1 - traced2) / max(records, 1),
        "growth_closing": traced1 - traced0,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench idle``."""
    parser.add_argument(
        "--connections",
        type=lambda text: [int(x) for x in text.split(",")],
        default=[10_000, 100_000],
        metavar="N[,N...]",
        help="idle connections to hold, one measurement each (10000,100000)",
    )
    parser.add_argument(
        "--server-app",
        choices=(*SERVER_APPS, "both"),
        default="both",
        help="what serves each accepted connection: none, tcpapplication, or both (both)",
    )
    parser.add_argument(
        "--time-wait",
        type=int,
        default=10_000,
        metavar="N",
        help="connections closed into TIME_WAIT records for the per-record figure (10000; 0: skip)",
    )
    parser.add_argument(
        "--no-rss",
        dest="rss",
        action="store_false",
        help="skip the RSS figures (a second run of each N, without tracemalloc)",
    )
    add_machine_arguments(parser)


def _fresh(func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``func(*args)`` in a new interpreter: its RSS starts from a heap that no earlier
    measurement grew (freed memory is reused, not returned to the system)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(func, *args).result()


def measure(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every figure the options ask for, with the machine's Python speed."""
    machine = machine_info(args.loop_runs)
    apps = SERVER_APPS if args.server_app == "both" else (args.server_app,)
    held = []
    for app in apps:
        for n in args.connections:
            progress(f"holding {n:,} idle connections (server app: {app}) ...")
            figures = _fresh(hold_idle, n, app)
            if args.rss:
                figures |= _fresh(hold_idle_rss, n, app)
            held.append(figures)
    records = None
    if args.time_wait > 0:
        progress(f"closing {args.time_wait:,} connections into TIME_WAIT records ...")
        records = _fresh(time_wait_records, args.time_wait)
    return {
        "benchmark": "idle",
        "machine": machine,
        "method": "tracemalloc: bytes the server stack frees when it forgets them; RSS: "
        "growth of the process / (2 x connections), in a run without tracemalloc",
        "target": {"bytes_per_conn": TARGET_BYTES, "held": TARGET_HELD, "met": _met(held)},
        "established": held,
        "time_wait": records,
    }


def _met(held: list[dict[str, Any]]) -> bool | None:
    """Whether every measurement with `TARGET_HELD` connections held all of them within
    `TARGET_BYTES` each (tracemalloc); None without one."""
    judged = [r for r in held if r["connections"] == TARGET_HELD]
    if not judged:
        return None
    return all(
        r["bytes_per_conn"] <= TARGET_BYTES and r["established"] == r["connections"] for r in judged
    )


def _print(report: dict[str, Any]) -> None:
    print("Memory per idle established connection, two stacks on a MemoryWire")
    print(loop_line(report["machine"]))
    print(f"{'server app':<16}{'held':>9}{'tracemalloc B':>15}{'RSS B':>9}{'client B':>10}"
          f"{'open s':>8}  target <= {TARGET_BYTES} B at {TARGET_HELD:,}")  # fmt: skip
    for r in report["established"]:
        verdict = ""
        if r["connections"] == TARGET_HELD:
            met = r["bytes_per_conn"] <= TARGET_BYTES and r["established"] == r["connections"]
            verdict = "met" if met else "NOT met"
        rss = f"{r['rss_bytes_per_conn']:,.0f}" if "rss_bytes_per_conn" in r else "-"
        print(
            f"{r['server_app']:<16}{r['established']:>9,}{r['bytes_per_conn']:>15,.0f}"
            f"{rss:>9}{r['client_bytes_per_conn']:>10,.0f}"
            f"{r['seconds_to_open']:>8.1f}  {verdict}"
        )
    tw = report["time_wait"]
    if tw is not None:
        print(
            f"TIME_WAIT record: {tw['bytes_per_record']:,.0f} B each "
            f"({tw['records']:,} records, tracemalloc)"
        )


def run(args: argparse.Namespace) -> int:
    """Measure and print the figures (or JSON); 1 if a connection could not be held."""

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    report = measure(args, progress)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print(report)
    ok = all(r["established"] == r["connections"] for r in report["established"])
    return 0 if ok else 1


def main() -> int:
    """``python -m pystack.benchmarks.idle``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].split("``: ")[-1])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
