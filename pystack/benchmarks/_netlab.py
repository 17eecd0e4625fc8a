"""The benchmark's own lab: namespaces, veth pairs, TAP devices and worker processes.

Everything made here is recorded and undone by :meth:`BenchLab.close`, which runs on
normal exit, on exceptions, on Ctrl+C and on SIGTERM (the caller wraps its work in
``with BenchLab(...)``). Only 198.18.0.0/15 addresses are used, and every device lives in
a namespace the lab created; the host's own interfaces, routes and tables are not touched.
Processes are stopped by pid, never by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
TAG_PREFIX = "pyb"
NETNS_DIR = Path("/run/netns")

# Namespace sysctls set in every lab namespace, so that a 20 s connect+close loop at
# kernel speed does not run out of ephemeral ports (TIME_WAIT lasts 60 s on Linux).
NS_SYSCTLS = (
    ("net.ipv4.ip_local_port_range", "1024 65000"),
    ("net.ipv4.tcp_tw_reuse", "1"),
    ("net.core.somaxconn", "16384"),
    ("net.ipv4.tcp_max_syn_backlog", "16384"),
)


class LabError(RuntimeError):
    """A lab command failed, or a worker did not answer in time."""


def run_ip(*args: str) -> None:
    """Run one ``ip`` command; raise :class:`LabError` with its stderr when it fails."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def setns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (needs root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc/<pid>/stat (0.0 if gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # Field 2 (comm) may contain spaces; fields after the closing ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine so far (all cores, /proc/stat).

    Kernel networking runs in softirq context, charged to no process; the system-wide
    figure is the only place it shows.
    """
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(v) for v in first]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Worker:
    """A process started by the lab; it speaks one JSON object per line on stdout."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.popen = popen
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.popen.pid

    def read_json(self, timeout: float) -> dict[str, Any]:
        """The next JSON line the worker prints; :class:`LabError` on timeout or exit."""
        deadline = time.monotonic() + timeout
        assert self.popen.stdout is not None
        fd = self.popen.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"{self.name}: no answer within {timeout:.0f} s")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise LabError(f"{self.name}: exited ({self._exit_note()})")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except ValueError:
            raise LabError(f"{self.name}: unexpected output {line[:200]!r}")
        if not isinstance(answer, dict):
            raise LabError(f"{self.name}: unexpected output {line[:200]!r}")
        return answer

    def _exit_note(self) -> str:
        code = self.popen.wait(timeout=5)
        err = self.popen.stderr.read().decode(errors="replace") if self.popen.stderr else ""
        tail = err.strip().splitlines()[-3:]
        return f"status {code}" + (f": {' | '.join(tail)}" if tail else "")

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the process."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(timeout=10)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


class BenchLab:
    """Namespaces, devices and processes of one benchmark run; all removed by :meth:`close`."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or f"{TAG_PREFIX}{os.getpid()}"
        self.namespaces: list[str] = []
        self.taps: list[tuple[str, str]] = []
        self.workers: list[Worker] = []
        self._old_handlers: dict[int, Any] = {}

    def __enter__(self) -> BenchLab:
        # Ctrl+C must clean up even when SIGINT was inherited as ignored (a background job).
        self._old_handlers = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_exit),
            signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        }
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)

    def namespace(self, suffix: str) -> str:
        """Create namespace ``<tag>-<suffix>`` with loopback up and the lab's sysctls."""
        name = f"{self.tag}-{suffix}"
        run_ip("netns", "add", name)
        self.namespaces.append(name)
        run_ip("-n", name, "link", "set", "lo", "up")
        for key, value in NS_SYSCTLS:
            subprocess.run(
                ["ip", "netns", "exec", name, "sysctl", "-q", "-w", f"{key}={value}"],
                capture_output=True,
                check=False,
            )
        return name

    def veth(self, ns_a: str, addr_a: str, ns_b: str, addr_b: str | None, mtu: int = 1500) -> None:
        """A veth pair ``bv0`` (in ``ns_a``) <-> ``bv1`` (in ``ns_b``), up, and addressed
        (``bv1`` not when ``addr_b`` is None: a stack attaches to it with its own address)."""
        run_ip("-n", ns_a, "link", "add", "bv0", "type", "veth", "peer", "bv1", "netns", ns_b)
        for ns, dev, addr in ((ns_a, "bv0", addr_a), (ns_b, "bv1", addr_b)):
            run_ip("-n", ns, "link", "set", dev, "mtu", str(mtu))
            if addr is not None:
                run_ip("-n", ns, "addr", "add", addr, "dev", dev)
            run_ip("-n", ns, "link", "set", dev, "up")

    def tap(self, ns: str, name: str, addr: str | None, mtu: int = 1500) -> None:
        """A persistent TAP device in ``ns``; ``addr`` is the kernel side's address."""
        run_ip("-n", ns, "tuntap", "add", "dev", name, "mode", "tap")
        self.taps.append((ns, name))
        run_ip("-n", ns, "link", "set", name, "mtu", str(mtu))
        if addr is not None:
            run_ip("-n", ns, "addr", "add", addr, "dev", name)
        run_ip("-n", ns, "link", "set", name, "up")

    def spawn(self, name: str, ns: str | None, argv: Sequence[str]) -> Worker:
        """Start ``argv`` inside namespace ``ns`` (or here); recorded for :meth:`close`."""
        prefix = ["ip", "netns", "exec", ns] if ns else []
        popen = subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        worker = Worker(name, popen)
        self.workers.append(worker)
        return worker

    def python(self, name: str, ns: str | None, module: str, *args: str) -> Worker:
        """Start ``python -m module args`` with this interpreter inside ``ns``."""
        return self.spawn(name, ns, [sys.executable, "-m", module, *args])

    def close(self) -> None:
        """Stop every worker by pid, delete TAP devices and namespaces; idempotent."""
        for worker in reversed(self.workers):
            with contextlib.suppress(Exception):
                worker.stop()
        self.workers.clear()
        for ns, name in reversed(self.taps):
            subprocess.run(["ip", "-n", ns, "link", "del", name], capture_output=True, check=False)
        self.taps.clear()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self.namespaces.clear()

    def forget(self, worker: Worker) -> None:
        """Stop ``worker`` now and drop it from the lab's records."""
        worker.stop()
        with contextlib.suppress(ValueError):
            self.workers.remove(worker)


def _die_with_parent() -> None:
    # A worker must not outlive a benchmark that was killed with SIGKILL.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def sweep_stale() -> list[str]:
    """Delete lab namespaces (``pyb<pid>-*``) whose creating process is gone; their names."""
    removed = []
    for name in leftovers(TAG_PREFIX):
        pid = name[len(TAG_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            removed.append(name)
    return removed


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def leftovers(tag: str) -> Iterator[str]:
    """Namespaces whose name starts with ``tag`` (for tests: nothing must remain)."""
    if not NETNS_DIR.exists():
        return
    for entry in NETNS_DIR.iterdir():
        if entry.name.startswith(tag):
            yield entry.name
