"""PyStack endpoints of ``pystack bench net``, one role per invocation, on a TAP device
(``--tap``) or on an interface through a packet socket with its own address
(``--interface``), offloads on unless ``--no-offloads``.

Run inside the lab's stack namespace by :mod:`pystack.benchmarks.net`
(``ip netns exec NS python -m pystack.benchmarks.stackside ROLE --tap DEV --ip A/N ...``).
The stack runs in thread mode (``stack.run(doreactor=False)``); the main thread waits and
reports. Output is one JSON object per line on stdout, as in
:mod:`pystack.benchmarks.kernelside`: ``{"ready": true}`` once the stack listens, or
``{"na": "reason"}`` when this build of the stack cannot play the role yet, then results.

Roles:
  discard   accept one connection, count bytes until the peer closes (kernel -> stack)
  source    connect to a kernel sink, send --bytes or for --seconds, close (stack -> kernel)
  acceptor  accept and close connections until SIGTERM (connect+close rate)
  holder    accept --count connections and keep them; report RSS growth per connection
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from pystack.benchmarks._netlab import system_busy_seconds

CHUNK = 64 * 1024
REACTOR_THREAD = "pystack-reactor"  # pystack.reactor's thread in thread mode


def emit(obj: dict[str, Any]) -> None:
    """One JSON line on stdout, flushed (the parent waits for it)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Tally:
    """Counters shared by every per-connection application instance (reactor thread)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.made = 0
        self.lost = 0
        self.first: float | None = None
        self.last: float | None = None
        self.busy_first = 0.0
        self.busy_last = 0.0
        self.done = threading.Event()


TALLY = Tally()


class GcTally:
    """Time the cyclic garbage collector takes, by generation (``gc.callbacks``): the
    stack process holds hundreds of thousands of TIME_WAIT connections in the
    connect+close loop, and a full collection then pauses everything."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.longest = 0.0
        self._start = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._start = now
            return
        took = now - self._start
        generation = info["generation"]
        self.seconds[generation] += took
        self.count[generation] += 1
        self.longest = max(self.longest, took)

    def report(self) -> dict[str, Any]:
        """Seconds and collections per generation, and the longest pause."""
        return {"seconds": self.seconds, "collections": self.count, "longest": self.longest}


def load_stack_api() -> tuple[Any, Any]:
    """``(PyStack, TCPApplication)``, or raise ImportError naming what is missing."""
    from pystack.apps.tcp_application import TCPApplication

    try:
        from pystack.stack import PyStack
    except ImportError:
        from pystack.pystack import PyStack  # the seed's import path

    return PyStack, TCPApplication


def make_apps(base: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Application classes for each role, built on the stack's ``TCPApplication``.

    Their hooks run in the reactor thread; the main thread only waits on :data:`TALLY`.
    """
    return {
        "discard": discard_app(base),
        "source": source_app(base, args),
        "acceptor": acceptor_app(base),
        "holder": holder_app(base),
    }


def discard_app(base: Any) -> Any:
    """Counts the bytes of one connection until the peer's FIN."""

    class Discard(base):
        def connection_made(self) -> None:
            TALLY.made += 1
            TALLY.first = time.monotonic()
            TALLY.busy_first = system_busy_seconds()

        def packet_received(self, data: bytes, **kwargs: Any) -> None:
            TALLY.bytes += len(data)

        def eof_received(self) -> bool:
            TALLY.last = time.monotonic()  # every byte has arrived
            TALLY.busy_last = system_busy_seconds()
            TALLY.done.set()
            return False  # close our side too

    return Discard


def source_app(base: Any, args: argparse.Namespace) -> Any:
    """Fills the send buffer whenever it has room, up to ``--bytes`` or ``--seconds``."""

    class Source(base):
        chunk = b"\x5a" * CHUNK

        def connection_made(self) -> None:
            TALLY.first = time.monotonic()
            self.produce()

        def tcp_writable(self, session: Any) -> None:
            super().tcp_writable(session)
            self.produce()

        def produce(self) -> None:
            deadline = (TALLY.first or 0.0) + args.seconds
            while TALLY.bytes < args.bytes and time.monotonic() < deadline:
                left = args.bytes - TALLY.bytes
                piece = self.chunk if left >= CHUNK else self.chunk[:left]
                taken = self.send(piece)
                TALLY.bytes += taken
                if taken < len(piece):
                    return  # the buffer is full: tcp_writable calls again
            if TALLY.last is None:
                TALLY.last = time.monotonic()
                self.close()
                TALLY.done.set()

    return Source


def acceptor_app(base: Any) -> Any:
    """Closes each connection as soon as it is established."""

    class AcceptClose(base):
        def connection_made(self) -> None:
            TALLY.made += 1
            self.close()

    return AcceptClose


def holder_app(base: Any) -> Any:
    """Keeps each connection open, counting those established and lost."""

    class Hold(base):
        def connection_made(self) -> None:
            TALLY.made += 1

        def connection_lost(self, reason: Any = None) -> None:
            TALLY.lost += 1

    return Hold


def start_stack(args: argparse.Namespace) -> tuple[Any, Any]:
    """Build the stack on the TAP device and run its reactor in a background thread."""
    stack_cls, app_cls = load_stack_api()
    device = {"tap": args.tap} if args.tap else {"interface": args.interface}
    stack = stack_cls(**device, ip=args.ip, mac=args.mac, mtu=args.mtu, offloads=args.offloads)
    stack.run(doreactor=False)
    return stack, app_cls


def serve(stack: Any, app: Any, port: int) -> None:
    """Register ``app`` and listen on ``port``, one application instance per connection."""
    stack.register_tcp_application(app)
    app.bind(port, app=app, newinstance=True)
    app.listen(1024)


def role_discard(args: argparse.Namespace, stack: Any, app_cls: Any) -> None:
    serve(stack, make_apps(app_cls, args)["discard"](), args.port)
    emit({"ready": True})
    cpu0 = time.process_time()
    if not TALLY.done.wait(args.seconds + 60):
        emit({"error": "discard: the connection did not close in time"})
        return
    seconds = (TALLY.last or 0.0) - (TALLY.first or 0.0)
    cpu = time.process_time() - cpu0
    busy = TALLY.busy_last - TALLY.busy_first
    emit({"bytes": TALLY.bytes, "seconds": seconds, "cpu": cpu, "busy": busy})


def role_source(args: argparse.Namespace, stack: Any, app_cls: Any) -> None:
    app = make_apps(app_cls, args)["source"]()
    stack.register_tcp_application(app)
    emit({"ready": True})
    cpu0 = time.process_time()
    if not app.connect(args.addr, args.port, timeout=10):
        emit({"error": f"source: connect to {args.addr}:{args.port} failed"})
        return
    if not TALLY.done.wait(args.seconds + 60):
        emit({"error": "source: sending did not finish in time"})
        return
    seconds = (TALLY.last or 0.0) - (TALLY.first or 0.0)
    emit({"bytes": TALLY.bytes, "seconds": seconds, "cpu": time.process_time() - cpu0})
    # Queued is not delivered: keep the stack running until the parent has the sink's
    # figure and stops this process.
    linger(args.seconds + 60)


def role_acceptor(args: argparse.Namespace, stack: Any, app_cls: Any) -> None:
    serve(stack, make_apps(app_cls, args)["acceptor"](), args.port)
    collector = GcTally()
    emit({"ready": True})
    cpu0 = time.process_time()
    samples = linger(args.seconds + 120, sample=lambda: (TALLY.made, time.process_time()))
    stats = stack.stats
    emit(
        {
            "accepted": TALLY.made,
            "cpu": time.process_time() - cpu0,
            "per_second": per_second_cost(samples),
            "gc": collector.report(),
            "tcp": stats.counters("tcp"),
            "drops": stats.drops(),
        }
    )


def role_holder(args: argparse.Namespace, stack: Any, app_cls: Any) -> None:
    gc.collect()
    base = rss_bytes()
    serve(stack, make_apps(app_cls, args)["holder"](), args.port)
    emit({"ready": True})
    deadline = time.monotonic() + args.seconds
    while TALLY.made < args.count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # let the last handshakes and ACKs settle
    gc.collect()
    grown = rss_bytes() - base
    held = TALLY.made - TALLY.lost
    per_conn = grown / held if held else None
    emit({"established": held, "rss_growth": grown, "bytes_per_conn": per_conn})
    linger(120)


def linger(seconds: float, sample: Callable[[], Any] | None = None) -> list[Any]:
    """Keep the stack running until SIGTERM (from the parent) or ``seconds`` have passed;
    with ``sample``, call it once a second meanwhile and return what it gave."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    if sample is None:
        stop.wait(seconds)
        return []
    samples = [sample()]
    deadline = time.monotonic() + seconds
    while not stop.wait(min(1.0, max(deadline - time.monotonic(), 0))):
        samples.append(sample())
        if time.monotonic() >= deadline:
            break
    return samples


def per_second_cost(samples: list[tuple[int, float]]) -> list[dict[str, float]]:
    """Connections accepted and CPU seconds used in each second of the loop (samples of
    (accepted so far, process CPU) a second apart), idle seconds left out."""
    out = []
    for (made0, cpu0), (made1, cpu1) in itertools.pairwise(samples):
        if made1 > made0:
            out.append({"accepted": made1 - made0, "cpu": round(cpu1 - cpu0, 4)})
    return out


ROLES = {
    "discard": role_discard,
    "source": role_source,
    "acceptor": role_acceptor,
    "holder": role_holder,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pystack.benchmarks.stackside")
    parser.add_argument("role", choices=sorted(ROLES))
    device = parser.add_mutually_exclusive_group(required=True)
    device.add_argument("--tap", help="TAP device the stack attaches to")
    device.add_argument(
        "--interface", help="interface the stack attaches to with its own address (packet socket)"
    )
    parser.add_argument("--ip", required=True, help="the stack's address, a.b.c.d/prefix")
    parser.add_argument("--mac", default="02:00:00:b5:00:02")
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument(
        "--offloads",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="open the TAP (or the packet socket) with checksum and segmentation offloads "
        "(the default)",
    )
    parser.add_argument("--addr", default="", help="source: the kernel sink's address")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bytes", type=int, default=0, help="source: bytes to send")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound of the role")
    parser.add_argument("--count", type=int, default=0, help="holder: connections to await")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the reactor thread to FILE")
    return parser


class ReactorProfile:
    """cProfile of the reactor thread, which cProfile run from the main thread cannot see.

    Installed before the stack starts its reactor thread: the thread's first profiling event
    enables a profiler in that thread. The dump also runs in that thread, so the profiler is
    never touched from two threads at once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.profiler: cProfile.Profile | None = None
        threading.setprofile(self._boot)

    def _boot(self, frame: Any, event: str, arg: Any) -> None:
        if self.profiler is None and threading.current_thread().name == REACTOR_THREAD:
            self.profiler = cProfile.Profile()
            self.profiler.enable()  # replaces this hook for the reactor thread
        else:
            sys.setprofile(None)

    def dump(self) -> None:
        """Write the profile (a pstats file), from within the reactor thread."""
        threading.setprofile(None)
        if self.profiler is None:
            return
        from twisted.internet import reactor
        from twisted.internet.threads import blockingCallFromThread

        profiler = self.profiler

        def write() -> None:
            profiler.disable()
            profiler.dump_stats(self.path)

        blockingCallFromThread(reactor, write)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    profile = ReactorProfile(args.profile) if args.profile else None
    try:
        stack, app_cls = start_stack(args)
    except Exception as exc:  # any failure here means: this stack cannot do it yet
        emit({"na": f"{type(exc).__name__}: {exc}"})
        return 3
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        ROLES[args.role](args, stack, app_cls)
    except Exception as exc:
        emit({"na": f"{args.role}: {type(exc).__name__}: {exc}"})
        return 3
    finally:
        if profile is not None:
            profile.dump()
        stack.stop()
    return 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
