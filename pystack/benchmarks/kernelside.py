"""Kernel-socket endpoints of ``pystack bench net``, one role per invocation.

Run inside a lab namespace by :mod:`pystack.benchmarks.net`
(``ip netns exec NS python -m pystack.benchmarks.kernelside ROLE ...``). Each role prints
one JSON object per line on stdout: ``{"ready": true}`` once it listens (servers), then its
result. CPU figures are this process's own user + system seconds over the measured span.

Roles:
  sink      accept one connection, read until EOF with 1 MiB reads; time from accept to EOF
  source    connect, send with 1 MiB writes until --bytes or --seconds, then close
  acceptor  accept and close in a loop until SIGTERM, then report how many
  connector connect and close in a loop for --seconds, counting per second
  holder    open --count connections and keep them open until SIGTERM
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from pystack.benchmarks._netlab import system_busy_seconds

CHUNK = 1 << 20


def emit(obj: dict[str, Any]) -> None:
    """One JSON line on stdout, flushed (the parent waits for it)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def listener(addr: str, port: int, backlog: int = 16384) -> socket.socket:
    """A listening TCP socket on ``addr:port`` with SO_REUSEADDR."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(backlog)
    return srv


def role_sink(args: argparse.Namespace) -> None:
    srv = listener(args.addr, args.port)
    srv.settimeout(args.timeout)
    emit({"ready": True})
    conn, _ = srv.accept()
    conn.settimeout(args.timeout)
    buf = bytearray(CHUNK)
    total = 0
    cpu0, t0, busy0 = time.process_time(), time.monotonic(), system_busy_seconds()
    while n := conn.recv_into(buf):
        total += n
    seconds = time.monotonic() - t0
    cpu, busy = time.process_time() - cpu0, system_busy_seconds() - busy0
    emit({"bytes": total, "seconds": seconds, "cpu": cpu, "busy": busy})
    conn.close()


def role_source(args: argparse.Namespace) -> None:
    conn = socket.create_connection((args.addr, args.port), timeout=args.timeout)
    data = b"\x5a" * CHUNK
    view = memoryview(data)
    total = 0
    cpu0, t0 = time.process_time(), time.monotonic()
    deadline = t0 + args.seconds
    while total < args.bytes and time.monotonic() < deadline:
        n = min(CHUNK, args.bytes - total)
        conn.sendall(view[:n])
        total += n
    conn.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        while conn.recv(4096):
            pass
    emit({"bytes": total, "seconds": time.monotonic() - t0, "cpu": time.process_time() - cpu0})
    conn.close()


def role_acceptor(args: argparse.Namespace) -> None:
    srv = listener(args.addr, args.port)
    state = {"accepted": 0}
    cpu0 = time.process_time()

    def report(signum: int, frame: FrameType | None) -> None:
        emit({"accepted": state["accepted"], "cpu": time.process_time() - cpu0})
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, report)
    emit({"ready": True})
    while True:
        conn, _ = srv.accept()
        conn.close()
        state["accepted"] += 1


def role_connector(args: argparse.Namespace) -> None:
    per_second = [0] * max(1, round(args.seconds))
    errors = 0
    cpu0, t0, busy0 = time.process_time(), time.monotonic(), system_busy_seconds()
    end = t0 + args.seconds
    while (now := time.monotonic()) < end:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(args.timeout)
        try:
            sock.connect((args.addr, args.port))
        except OSError:
            errors += 1
        else:
            per_second[min(int(now - t0), len(per_second) - 1)] += 1
        finally:
            sock.close()
    seconds = time.monotonic() - t0
    emit(
        {
            "connections": sum(per_second),
            "seconds": seconds,
            "per_second": per_second,
            "errors": errors,
            "cpu": time.process_time() - cpu0,
            "busy": system_busy_seconds() - busy0,
        }
    )


def role_holder(args: argparse.Namespace) -> None:
    want = args.count + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    held: list[socket.socket] = []
    errors = 0
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    while len(held) < args.count and time.monotonic() < deadline:
        try:
            held.append(socket.create_connection((args.addr, args.port), timeout=args.timeout))
        except OSError:
            errors += 1
    emit({"opened": len(held), "errors": errors, "seconds": time.monotonic() - t0})
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    while True:
        signal.pause()


ROLES = {
    "sink": role_sink,
    "source": role_source,
    "acceptor": role_acceptor,
    "connector": role_connector,
    "holder": role_holder,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pystack.benchmarks.kernelside")
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--addr", required=True, help="address to bind or connect to")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bytes", type=int, default=0, help="source: bytes to send")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound of the role")
    parser.add_argument("--count", type=int, default=0, help="holder: connections to open")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ROLES[args.role](args)
    except OSError as exc:
        emit({"error": f"{args.role}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
