"""``pystack bench memory``: TCP bulk transfer between two whole stacks on a MemoryWire.

Two `PyStack`s (Ethernet, ARP, IPv4, TCP) on a `MemoryWire` under a `Clock`; a client
sends N MB to a server that reads everything. It reports the wall-clock throughput, the
cost per data segment (both stacks' work for one segment, its ACK share included), and the
simulated time the transfer took. A measurement, not a test: nothing asserts a target.

``--offloads`` puts the stacks on a wire with segmentation offloads (as a veth between two
namespaces): the sender's TCP super-segments of up to 64 KB travel whole and the receiver
takes each as one segment.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.benchmarks._machine import add_machine_arguments, loop_line, machine_info
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig

__all__ = ["add_arguments", "main", "measure", "run"]

CHUNK = 256 * 1024
TARGET_MB_S = 60.0
"""Two whole stacks on the in-memory wire, on a machine whose python_loop_s is at most
`REFERENCE_LOOP_S`; scaled by REFERENCE_LOOP_S / python_loop_s on a slower one."""
REFERENCE_LOOP_S = 0.6


class _Call:
    """An IDelayedCall of `HeapClock`."""

    __slots__ = ("args", "called", "cancelled", "clock", "fn", "kw", "time")

    def __init__(self, clock: HeapClock, when: float, fn: Callable[..., Any], args: Any,
                 kw: Any) -> None:  # fmt: skip
        self.clock, self.time, self.fn, self.args, self.kw = clock, when, fn, args, kw
        self.called = self.cancelled = False

    def getTime(self) -> float:
        return self.time

    def active(self) -> bool:
        return not (self.called or self.cancelled)

    def cancel(self) -> None:
        self.cancelled = True

    def reset(self, delay: float) -> None:
        self.cancelled = True
        self.clock.callLater(delay, self.fn, *self.args, **self.kw)


class HeapClock:
    """A deterministic IReactorTime on a heap: twisted's `task.Clock` re-sorts its list on
    every callLater, which dominates a bulk transfer's profile; this one costs O(log n)."""

    def __init__(self) -> None:
        self._now = 0.0
        self._heap: list[tuple[float, int, _Call]] = []
        self._seq = itertools.count()

    def seconds(self) -> float:
        return self._now

    def callLater(self, delay: float, fn: Callable[..., Any], *args: Any, **kw: Any) -> _Call:
        call = _Call(self, self._now + max(delay, 0.0), fn, args, kw)
        heapq.heappush(self._heap, (call.time, next(self._seq), call))
        return call

    def getDelayedCalls(self) -> list[_Call]:
        return [c for _, _, c in self._heap if c.active()]

    def next_time(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][2].active():
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def advance(self, amount: float) -> None:
        target = self._now + amount
        heap = self._heap
        while heap and heap[0][0] <= target:
            when, _, call = heapq.heappop(heap)
            if not call.active():
                continue
            self._now = max(self._now, when)
            call.called = True
            call.fn(*call.args, **call.kw)
        self._now = max(self._now, target)


def _tcp_only_pair(clock: HeapClock, config: TcpConfig) -> tuple[Any, Any, Any]:
    from pystack.sim_tcp import TcpPair

    pair = TcpPair(config=config, clock=clock, delay=0.0005)
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(9)
    server.listen(1)
    client = TCPApplication()
    pair.register(client, 0)
    done: list[Any] = []
    client.connect_deferred(TcpPair.ADDRESSES[1], 9)
    server.accept_deferred().addCallback(done.append)
    while not done:
        clock.advance(0.001)
    return pair.layers[0], client, done[0]


def measure(megabytes: float = 50.0, *, check: bool = True, tcp_only: bool = False,
            offloads: bool = False) -> dict[str, float]:  # fmt: skip
    """Send ``megabytes`` MB client -> server; returns figures (MB/s, µs per segment...).

    ``tcp_only`` runs two TCP layers joined directly (no Ethernet/ARP/IPv4), which isolates
    the cost of TCP itself; ``offloads`` runs the stacks on a wire that carries
    super-segments whole (a super-segment counts as one segment)."""
    if tcp_only and offloads:
        raise ValueError("offloads need the whole stacks, not tcp_only")
    config = TcpConfig(rcv_buf=1 << 20, snd_buf=1 << 20)
    clock = HeapClock()
    if tcp_only:
        counter, client, server = _tcp_only_pair(clock, config)
    else:
        net = SimNet(2, seed=1, delay=0.0005, tcp=config, clock=clock,  # type: ignore[arg-type]
                     offloads=offloads)  # fmt: skip
        client, server = net.connect_tcp(9)
        counter = net.stacks[0]
    total = int(megabytes * 1_000_000)
    block = bytes(range(256)) * (CHUNK // 256)
    digest_in, digest_out = hashlib.sha256(), hashlib.sha256()
    sent = received = 0
    segments_before = _segments_out(counter)
    sim_start = clock.seconds()
    wall_start = time.perf_counter()
    while received < total:
        if sent < total:
            n = client.send(block[: min(CHUNK, total - sent)])
            if check:
                digest_out.update(block[:n])
            sent += n
        upcoming = clock.next_time()
        if upcoming is None:
            raise RuntimeError("the transfer stalled")
        clock.advance(max(upcoming - clock.seconds(), 0.0))
        data = server.fetch_data()
        received += len(data)
        if check:
            digest_in.update(data)
    wall = time.perf_counter() - wall_start
    segments = _segments_out(counter) - segments_before
    if check and digest_in.digest() != digest_out.digest():
        raise AssertionError("the bytes received differ from the bytes sent")
    return {
        "megabytes": total / 1e6,
        "seconds": wall,
        "mb_per_s": total / 1e6 / wall,
        "segments": float(segments),
        "us_per_segment": wall / max(segments, 1) * 1e6,
        "simulated_seconds": clock.seconds() - sim_start,
    }


def _segments_out(counter: Any) -> int:
    stats = counter.stats
    return stats.get("tcp", "segments_out") + stats.get("tcp", "super_segments_out")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench memory``."""
    parser.add_argument("--megabytes", type=float, default=50.0, help="MB to transfer")
    parser.add_argument("--no-check", action="store_true", help="skip the sha256 comparison")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--tcp-only", action="store_true", help="two TCP layers joined directly (no IP below)"
    )
    which.add_argument(
        "--offloads", action="store_true",
        help="a wire with segmentation offloads: super-segments travel whole, as over a veth",
    )  # fmt: skip
    add_machine_arguments(parser)


def _target(machine: dict[str, Any]) -> float:
    """`TARGET_MB_S`, scaled down on a machine slower than the reference one."""
    loop = machine.get("python_loop_s")
    if loop is None or loop <= REFERENCE_LOOP_S:
        return TARGET_MB_S
    return TARGET_MB_S * REFERENCE_LOOP_S / loop


def _scaled_note(machine: dict[str, Any]) -> str:
    loop = machine.get("python_loop_s")
    if loop is None or loop <= REFERENCE_LOOP_S:
        return ""
    return f", {TARGET_MB_S:.0f} scaled by {REFERENCE_LOOP_S} / python_loop_s"


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print its figures."""
    machine = machine_info(args.loop_runs)
    r = measure(args.megabytes, check=not args.no_check, tcp_only=args.tcp_only,
                offloads=args.offloads)  # fmt: skip
    what = "two TCP layers joined directly" if args.tcp_only else "two whole stacks on MemoryWire"
    if args.offloads:
        what += " with offloads (super-segments whole)"
    if args.json:
        target = {"mb_per_s": _target(machine), "met": r["mb_per_s"] >= _target(machine)}
        report = {"benchmark": "memory", "machine": machine, "path": what, "results": r,
                  "target": target}  # fmt: skip
        print(json.dumps(report, indent=1))
        return 0
    print(f"TCP bulk transfer, {what}: {r['megabytes']:.0f} MB in {r['seconds']:.2f} s")
    print(f"  {loop_line(machine)}")
    print(f"  throughput       {r['mb_per_s']:8.1f} MB/s (target >= {_target(machine):.0f}"
          f"{_scaled_note(machine)})")  # fmt: skip
    print(f"  data segments    {r['segments']:8.0f}" + (" (a super-segment counts once)"
                                                     if args.offloads else ""))  # fmt: skip
    print(f"  cost per segment {r['us_per_segment']:8.1f} µs (both stacks)")
    print(f"  simulated time   {r['simulated_seconds']:8.2f} s")
    return 0


def main() -> int:
    """``python -m pystack.benchmarks.memory``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
