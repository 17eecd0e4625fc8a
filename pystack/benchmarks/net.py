"""``pystack bench net``: the stack side by side with the kernel and frame-forwarding ceilings.

Six paths carry the same workloads between a kernel TCP client and an endpoint:

``kernel``              kernel <-> kernel over a veth pair between two namespaces;
``forwarder``           kernel <-> :mod:`pystack.benchmarks.forwarder` <-> kernel: two TAP
                        devices in two namespaces, a Python process copying frames one read
                        and one write each. No Python stack on a TAP without offloads can
                        beat it: the ceiling;
``forwarder-offloads``  the same with both TAPs opened with checksum and segmentation
                        offloads, so it copies super-frames of up to 64 KB: the ceiling with
                        offloads;
``stack-tap``           kernel <-> PyStack on a TAP device with offloads (the default);
``stack-tap-plain``     the same without offloads;
``stack-interface``     kernel <-> PyStack on a veth interface through a packet socket, with
                        its own address (interface mode; PACKET_VNET_HDR offloads).

``stack`` is an alias: ``stack-tap``, or ``stack-tap-plain`` with ``--no-offloads``.

Workloads (metrics): bulk kernel -> endpoint and endpoint -> kernel (MB/s, MB = 10**6
bytes; a Python sender with 1 MiB writes, a Python sink with 1 MiB reads, timed at the
sink; each transfer stops at ``--mbytes`` or ``--duration``, whichever comes first);
connect+close per second by one kernel client loop over ``--duration`` seconds against an
accept-and-close loop; memory per idle established connection in the stack process with
``--connections`` open (RSS growth / connections). Every figure is the median of ``--runs``
runs, shown with ratios to the kernel and to the forwarders, CPU use (the processes' own
CPU seconds and the whole machine's busy CPU seconds, both per wall-clock second: kernel
networking runs in softirq, charged to no process), and judged against the targets of
:mod:`pystack.benchmarks._netreport`, scaled to the machine's ``python_loop_s``.

The lab (namespaces ``pyb<pid>-*``, addresses in 198.18.0.0/15) is built at the start and
removed at the end, also on failure, Ctrl+C and SIGTERM. Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystack.benchmarks._machine import add_machine_arguments, machine_info
from pystack.benchmarks._netlab import (
    BenchLab,
    LabError,
    Worker,
    cpu_seconds,
    sweep_stale,
)
from pystack.benchmarks._netreport import (
    ALIASES,
    FORWARDERS,
    LABELS,
    MEASURED,
    METRICS,
    PATHS,
    STACK_PATHS,
    TARGETS,
    UNITS,
    Measurement,
    check_targets,
    fmt_value,
    format_table,
    gc_notes,
    judge,
    median_or_none,
    ratio,
    summarize,
    target_scale,
    target_text,
)

__all__ = [  # the report's pieces are used from here too
    "LABELS",
    "MEASURED",
    "METRICS",
    "PATHS",
    "STACK_PATHS",
    "TARGETS",
    "UNITS",
    "Measurement",
    "add_arguments",
    "check_targets",
    "fmt_value",
    "format_table",
    "gc_notes",
    "judge",
    "main",
    "median_or_none",
    "ratio",
    "run",
    "summarize",
    "target_scale",
    "target_text",
]

BULK_PORT, CONN_PORT, HOLD_PORT = 5001, 5002, 5003
KERNELSIDE = "pystack.benchmarks.kernelside"
STACKSIDE = "pystack.benchmarks.stackside"
FORWARDER = "pystack.benchmarks.forwarder"

# A workload registers each process it starts through this, so that it is always stopped.
Track = Callable[[Worker], Worker]


# ---------------------------------------------------------------- arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench net``."""
    parser.add_argument("--runs", type=positive_int, default=3, help="runs per figure (3)")
    parser.add_argument(
        "--mbytes", type=positive_int, default=1000, help="MB per bulk transfer, at most (1000)"
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=20.0,
        help="seconds of each connect+close loop, and the time cap of a bulk transfer (20)",
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        default=10_000,
        help="idle connections held for the memory figure (10000)",
    )
    parser.add_argument(
        "--paths",
        type=path_list,
        default=PATHS,
        metavar="P[,P...]",
        help=f"which of {','.join(PATHS)} to measure (all); stack = stack-tap, or "
        "stack-tap-plain with --no-offloads",
    )
    parser.add_argument(
        "--metrics",
        type=metric_list,
        default=METRICS,
        metavar="M[,M...]",
        help=f"which of {','.join(METRICS)} to measure (all)",
    )
    parser.add_argument(
        "--offloads",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="what the path alias 'stack' means: the stack's TAP with checksum and "
        "segmentation offloads both ways, stack-tap (the default), or plain frames, "
        "stack-tap-plain",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    add_machine_arguments(parser, json=False)
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="cProfile the stack's reactor thread in every stack workload, one pstats file "
        "per workload and run in DIR (slows the stack down; see docs/performance.md)",
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def path_list(text: str) -> tuple[str, ...]:
    """Path names and aliases, in the report's order (an alias where its first path is)."""
    allowed = tuple(n for p in PATHS for n in (*_aliases_at(p), p))
    return _names(text, allowed, "paths")


def _aliases_at(path: str) -> tuple[str, ...]:
    return tuple(alias for alias, targets in ALIASES.items() if targets[0] == path)


def resolve_paths(paths: tuple[str, ...], offloads: bool = True) -> tuple[str, ...]:
    """The paths to measure: ``stack`` becomes ``stack-tap`` (``offloads``) or
    ``stack-tap-plain``; each path once, in the report's order."""
    wanted = {ALIASES[p][0 if offloads else 1] if p in ALIASES else p for p in paths}
    return tuple(p for p in PATHS if p in wanted)


def metric_list(text: str) -> tuple[str, ...]:
    return _names(text, METRICS, "metrics")


def _names(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    """The comma-separated ``text`` as a subset of ``allowed``, in ``allowed``'s order."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or any(n not in allowed for n in names):
        raise argparse.ArgumentTypeError(f"{what} are {','.join(allowed)}; got {text!r}")
    return tuple(n for n in allowed if n in names)


# ---------------------------------------------------------------- the lab


@dataclass(frozen=True)
class PathSetup:
    """Where a path's kernel client and its endpoint live; a stack endpoint has a TAP or
    an interface, and offloads on or off."""

    name: str
    client_ns: str
    client_addr: str
    server_ns: str
    server_addr: str
    stack_tap: str = ""
    stack_interface: str = ""
    offloads: bool = True

    @property
    def is_stack(self) -> bool:
        return bool(self.stack_tap or self.stack_interface)


def build_lab(lab: BenchLab, paths: tuple[str, ...]) -> dict[str, PathSetup]:
    """Namespaces and devices for each path (one 198.18.N.0/24 network per path)."""
    setups = {}
    if "kernel" in paths:
        a, b = lab.namespace("k1"), lab.namespace("k2")
        lab.veth(a, "198.18.0.1/24", b, "198.18.0.2/24")
        setups["kernel"] = PathSetup("kernel", a, "198.18.0.1", b, "198.18.0.2")
    for name, tag, net in (("forwarder", "f", 1), ("forwarder-offloads", "g", 4)):
        if name in paths:
            a, b = lab.namespace(f"{tag}1"), lab.namespace(f"{tag}2")
            lab.tap(a, "bt0", f"198.18.{net}.1/24")
            lab.tap(b, "bt1", f"198.18.{net}.2/24")
            setups[name] = PathSetup(name, a, f"198.18.{net}.1", b, f"198.18.{net}.2")
    stack_taps = (("stack-tap", "s", 2, True), ("stack-tap-plain", "p", 5, False))
    for name, tag, net, offloads in stack_taps:
        if name in paths:
            s = lab.namespace(tag)
            lab.tap(s, f"bt{tag}", f"198.18.{net}.1/24")
            client, stack = f"198.18.{net}.1", f"198.18.{net}.2"
            setups[name] = PathSetup(name, s, client, s, stack, f"bt{tag}", offloads=offloads)
    if "stack-interface" in paths:
        # The stack's veth end has no kernel address: the kernel there ignores the
        # stack's traffic, which its packet socket takes (own-address interface mode).
        a, b = lab.namespace("i1"), lab.namespace("i2")
        lab.veth(a, "198.18.3.1/24", b, None)
        setups["stack-interface"] = PathSetup(
            "stack-interface", a, "198.18.3.1", b, "198.18.3.2", stack_interface="bv1"
        )
    return setups


def start_forwarder(lab: BenchLab, setup: PathSetup) -> Worker:
    """The frame forwarder between the path's two TAPs (with offloads on its -offloads path)."""
    offloads = ("--offloads",) if setup.name == "forwarder-offloads" else ()
    worker = lab.python(
        setup.name, None, FORWARDER, setup.client_ns, "bt0", setup.server_ns, "bt1", *offloads
    )
    expect_ready(worker, 15)
    return worker


def expect_ready(worker: Worker, timeout: float) -> None:
    """Wait for ``{"ready": true}``; a ``{"na": ...}`` or ``{"error": ...}`` raises."""
    answer = worker.read_json(timeout)
    if not answer.get("ready"):
        raise NotAvailable(answer.get("na") or answer.get("error") or str(answer))


class NotAvailable(LabError):
    """The endpoint cannot run this workload (yet); the figure is reported as n/a."""


def result(worker: Worker, timeout: float) -> dict[str, Any]:
    answer = worker.read_json(timeout)
    if "na" in answer or "error" in answer:
        raise NotAvailable(f"{worker.name}: {answer.get('na') or answer.get('error')}")
    return answer


# ---------------------------------------------------------------- workloads


class Bench:
    """Runs workloads in the lab; one method per metric, each returning a Measurement."""

    def __init__(
        self, lab: BenchLab, args: argparse.Namespace, forwarders: dict[str, Worker] | None = None
    ) -> None:
        self.lab = lab
        self.args = args
        self.forwarders = forwarders or {}
        self.profiles = 0

    def endpoint(self, setup: PathSetup, role: str, *extra: str) -> Worker:
        """The endpoint's side of a workload: a kernel socket, or the stack."""
        if not setup.is_stack:
            return self.lab.python(f"kernel {role}", setup.server_ns, KERNELSIDE, role, *extra)
        device = ["--tap", setup.stack_tap]
        if not setup.stack_tap:
            device = ["--interface", setup.stack_interface]
        prefix: tuple[str, ...] = (*device, "--ip", f"{setup.server_addr}/24")
        if not setup.offloads:
            prefix += ("--no-offloads",)
        if getattr(self.args, "profile", None):
            self.profiles += 1
            name = f"{setup.name}-{self.profiles:02d}-{role}.prof"
            prefix += ("--profile", str(Path(self.args.profile).resolve() / name))
        name = f"{setup.name} {role}"
        return self.lab.python(name, setup.server_ns, STACKSIDE, role, *prefix, *extra)

    def client(self, setup: PathSetup, role: str, *extra: str) -> Worker:
        return self.lab.python(f"client {role}", setup.client_ns, KERNELSIDE, role, *extra)

    def measure(self, setup: PathSetup, workload: Callable[[Track], Measurement]) -> Measurement:
        """Run one workload; every process it starts is stopped whatever happens. The
        path's forwarder, if any, counts among its processes."""
        forwarder = self.forwarders.get(setup.name)
        fwd0 = cpu_seconds(forwarder.pid) if forwarder else 0.0
        started: list[Worker] = []

        def track(worker: Worker) -> Worker:
            started.append(worker)
            return worker

        try:
            m = workload(track)
        except LabError as exc:
            return Measurement(None, note=str(exc))
        finally:
            for worker in started:
                self.lab.forget(worker)
        if forwarder:
            m.cpu_process += cpu_seconds(forwarder.pid) - fwd0
        return m

    def bulk(self, setup: PathSetup, inbound: bool) -> Measurement:
        """Bulk transfer kernel -> endpoint (``inbound``) or endpoint -> kernel."""
        limit = ("--seconds", str(self.args.duration))
        nbytes = ("--bytes", str(self.args.mbytes * 1_000_000))
        port = ("--port", str(BULK_PORT))
        timeout = self.args.duration + 60
        sink_role = "discard" if setup.is_stack else "sink"

        def workload(track: Track) -> Measurement:
            if inbound:
                to = ("--addr", setup.server_addr)
                sink = track(self.endpoint(setup, sink_role, *to, *port, *limit))
                expect_ready(sink, 30)
                source = track(self.client(setup, "source", *to, *port, *nbytes, *limit))
            else:
                to = ("--addr", setup.client_addr)
                sink = track(self.client(setup, "sink", *to, *port, *limit))
                expect_ready(sink, 30)
                source = track(self.endpoint(setup, "source", *to, *port, *nbytes, *limit))
                if setup.is_stack:
                    expect_ready(source, 30)
            got = result(sink, timeout)
            return bulk_measurement(got, result(source, timeout))

        return self.measure(setup, workload)

    def conn_rate(self, setup: PathSetup) -> Measurement:
        """One kernel client connecting and closing in a loop for ``--duration`` seconds."""
        duration = str(self.args.duration)
        to = ("--addr", setup.server_addr, "--port", str(CONN_PORT), "--seconds", duration)

        def workload(track: Track) -> Measurement:
            acceptor = track(self.endpoint(setup, "acceptor", *to))
            expect_ready(acceptor, 30)
            client = track(self.client(setup, "connector", *to, "--timeout", "3"))
            got = result(client, self.args.duration + 30)
            acceptor.popen.terminate()
            return conn_measurement(got, result(acceptor, 15))

        return self.measure(setup, workload)

    def memory(self, setup: PathSetup) -> Measurement:
        """Memory per idle established connection with ``--connections`` open."""
        count = ("--count", str(self.args.connections))
        bound = max(60.0, self.args.connections / 50)
        limit = ("--port", str(HOLD_PORT), "--seconds", str(bound))

        def workload(track: Track) -> Measurement:
            stack = track(self.endpoint(setup, "holder", *limit, *count))
            expect_ready(stack, 30)
            to = ("--addr", setup.server_addr, "--timeout", "5")
            holder = track(self.client(setup, "holder", *to, *limit, *count))
            opened = result(holder, bound + 30)
            return memory_measurement(opened, result(stack, bound + 30), self.args.connections)

        return self.measure(setup, workload)


def bulk_measurement(sink: dict[str, Any], source: dict[str, Any]) -> Measurement:
    """MB/s as seen by the sink, with both ends' CPU."""
    seconds = float(sink["seconds"])
    if sink["bytes"] <= 0 or seconds <= 0:
        return Measurement(None, note="no data arrived")
    return Measurement(
        sink["bytes"] / seconds / 1e6,
        wall=seconds,
        cpu_process=float(sink["cpu"]) + float(source["cpu"]),
        cpu_machine=float(sink.get("busy", 0.0)),
        extra={"bytes": sink["bytes"], "sent": source["bytes"]},
    )


def conn_measurement(client: dict[str, Any], server: dict[str, Any]) -> Measurement:
    """Connections per second over the loop, and how the last quarter compares to the first."""
    seconds = float(client["seconds"])
    per_sec = list(client.get("per_second", []))
    return Measurement(
        client["connections"] / seconds if seconds > 0 else None,
        wall=seconds,
        cpu_process=float(client["cpu"]) + float(server.get("cpu", 0.0)),
        cpu_machine=float(client.get("busy", 0.0)),
        note=conn_note(seconds, int(client.get("errors", 0))),
        extra={
            "errors": client.get("errors", 0),
            "per_second": per_sec,
            "decay": decay(per_sec),
            **{key: server[key] for key in ("gc", "tcp", "drops") if key in server},
            **({"server_per_second": server["per_second"]} if "per_second" in server else {}),
        },
    )


def conn_note(seconds: float, errors: int) -> str:
    if seconds <= 0:
        return "the loop did not run"
    return f"{errors} connects failed or timed out" if errors else ""


def decay(per_second: list[int]) -> float | None:
    """Rate over the last quarter of a loop divided by the rate over its first quarter."""
    q = len(per_second) // 4
    if q == 0:
        return None
    first, last = sum(per_second[:q]), sum(per_second[-q:])
    return last / first if first else None


def memory_measurement(opened: dict[str, Any], stack: dict[str, Any], wanted: int) -> Measurement:
    per_conn = stack.get("bytes_per_conn")
    if per_conn is None:
        return Measurement(None, note=f"no connection established ({opened.get('opened')} opened)")
    note = "" if stack["established"] >= wanted else f"only {stack['established']} established"
    return Measurement(
        float(per_conn),
        note=note,
        extra={"established": stack["established"], "rss_growth": stack["rss_growth"]},
    )


# ---------------------------------------------------------------- driver


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_workloads(
    bench: Bench, setups: dict[str, PathSetup], runs: int, metrics: tuple[str, ...] = METRICS
) -> dict[tuple[str, str], list[Measurement]]:
    """Every workload of every path, ``runs`` times; progress on stderr."""
    samples: dict[tuple[str, str], list[Measurement]] = {}
    unavailable: dict[str, str] = {}
    for run_no in range(1, runs + 1):
        for name, setup in setups.items():
            for metric in (m for m in MEASURED[name] if m in metrics):
                key = f"{name} {metric}"
                if key in unavailable:
                    m = Measurement(None, note=unavailable[key])
                else:
                    progress(f"[run {run_no}/{runs}] {name:18} {LABELS[metric]} ...")
                    m = measure_one(bench, setup, metric)
                    if m.value is None and setup.is_stack:
                        unavailable[key] = m.note
                shown = fmt_value(m.value, metric) if m.value is not None else f"n/a ({m.note})"
                progress(f"[run {run_no}/{runs}] {name:18} {LABELS[metric]}: {shown}")
                samples.setdefault((name, metric), []).append(m)
    return samples


def measure_one(bench: Bench, setup: PathSetup, metric: str) -> Measurement:
    if metric == "bulk_in":
        return bench.bulk(setup, inbound=True)
    if metric == "bulk_out":
        return bench.bulk(setup, inbound=False)
    if metric == "conn_rate":
        return bench.conn_rate(setup)
    return bench.memory(setup)


def run(args: argparse.Namespace) -> int:
    """Build the lab, measure, print the table (or JSON), remove the lab."""
    if os.geteuid() != 0:
        print("pystack bench net needs root (network namespaces, TAP devices)", file=sys.stderr)
        return 2
    if args.profile:
        try:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"--profile {args.profile}: {exc.strerror}", file=sys.stderr)
            return 2
    paths = resolve_paths(args.paths, args.offloads)
    params = {
        "runs": args.runs,
        "mbytes": args.mbytes,
        "duration": args.duration,
        "connections": args.connections,
        "paths": list(paths),
        "metrics": list(args.metrics),
        "offloads": args.offloads,
    }
    for name in sweep_stale():
        progress(f"removed namespace {name} left by a benchmark that was killed")
    # Measured before the workloads load the machine.
    progress("measuring python_loop_s ...")
    machine = machine_info(args.loop_runs)
    try:
        samples = measure_all(args)
    except KeyboardInterrupt:
        progress("interrupted; the lab is removed")
        return 130
    summary = summarize(samples, params, machine)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_table(summary), end="")
    return 0


def measure_all(args: argparse.Namespace) -> dict[tuple[str, str], list[Measurement]]:
    """Build the lab, run every workload, remove the lab (whatever happens)."""
    paths = resolve_paths(args.paths, args.offloads)
    with BenchLab() as lab:
        progress(f"building the lab ({lab.tag}-*) ...")
        setups = build_lab(lab, paths)
        forwarders = {p: start_forwarder(lab, setups[p]) for p in setups if p in FORWARDERS}
        return run_workloads(Bench(lab, args, forwarders), setups, args.runs, args.metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pystack bench net", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
