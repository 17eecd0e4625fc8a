"""Kernel -> stack bulk over a TAP with and without offloads (a one-off measure).

``python -m pystack.benchmarks._tap_offloads [MiB] [runs]`` (root): for each setting, a
lab namespace (198.18.0.0/15) holds TAP ``psoff0``; the stack attaches to it with
``offloads=`` off or on, runs a hashing discard server in this process, and the kernel
sends ``MiB`` over one TCP connection. Prints MB/s (10^6 bytes), frames received and how
many were larger than the MTU. The tests in tests/links/test_tap_offloads.py and
tests/links/test_tso_interop.py reuse the helpers (the TAP also has IPv6 addresses in
2001:db8:1::/64, the stack's and the kernel's).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from pystack import netns
from pystack.apps.tcp_application import TCPApplication
from pystack.lab import Lab
from pystack.reactor import blocking_call

TAP, STACK_CIDR, KERNEL_CIDR = "psoff0", "198.18.1.2/24", "198.18.1.1/24"
STACK6_CIDR, KERNEL6_CIDR = "2001:db8:1::2/64", "2001:db8:1::1/64"
PORT = 9


class Sink:
    """What the stack's discard server saw: a byte count and a running sha256."""

    def __init__(self) -> None:
        self.count = 0
        self.digest = hashlib.sha256()
        self.done = threading.Event()


def discard_server(stack: Any, hashing: bool = True) -> Sink:
    """A discard server on ``PORT`` that counts (and hashes) what it receives, in the
    reactor thread; the measurement only counts, as ``pystack bench`` does."""
    sink = Sink()

    class HashingDiscard(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            sink.count += len(packet)
            if hashing:
                sink.digest.update(packet)

        def eof_received(self) -> bool:
            sink.done.set()
            return False

    def start() -> None:
        app = HashingDiscard()
        stack.register_tcp_application(app)
        app.bind(PORT, app=app, newinstance=True)
        app.listen(4)

    blocking_call(start)
    return sink


@contextlib.contextmanager
def tap_stack(lab: Lab, offloads: bool) -> Iterator[Any]:
    """A running stack on TAP ``psoff0`` (198.18.1.2, 2001:db8:1::2) in the lab's kernel
    namespace, whose kernel side is 198.18.1.1 (2001:db8:1::1); neither side runs
    duplicate address detection, so the IPv6 addresses are usable at once. Stopped (and
    the device gone) on exit, whatever happens."""
    from pystack.stack import PyStack

    with lab.kernel():
        stack = PyStack(tap=TAP, ip=STACK_CIDR, ip6=STACK6_CIDR, dad_transmits=0,
                        offloads=offloads)  # fmt: skip
    try:
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", KERNEL_CIDR, "dev", TAP)
        netns.ip("-n", lab.info.kernel_ns, "addr", "add", KERNEL6_CIDR, "dev", TAP, "nodad")
        stack.run(doreactor=False)
        yield stack
    finally:
        stack.stop()  # closes the link: the device goes with its last descriptor


def kernel_sends(lab: Lab, payload: bytes, timeout: float = 60.0,
                 stack_ip: str = STACK_CIDR.split("/")[0]) -> None:  # fmt: skip
    """The kernel connects to the stack's discard port on ``stack_ip`` (IPv4 or IPv6),
    sends ``payload`` and FIN."""
    with lab.kernel():
        sock = socket.socket(_family(stack_ip), socket.SOCK_STREAM)
    with sock:
        sock.settimeout(timeout)
        sock.connect((stack_ip, PORT))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)


def stack_sends(lab: Lab, stack: Any, payload: bytes, timeout: float = 60.0,
                kernel_ip: str = KERNEL_CIDR.split("/")[0]) -> str:  # fmt: skip
    """The stack connects to a kernel listener on ``kernel_ip`` (the TAP's kernel side by
    default; IPv4 or IPv6), sends ``payload`` as its send buffer takes it, and closes;
    returns the sha256 of what the kernel read to EOF."""
    with lab.kernel():
        listener = socket.socket(_family(kernel_ip), socket.SOCK_STREAM)
    with listener:
        listener.bind((kernel_ip, 0))
        listener.listen(1)
        listener.settimeout(timeout)
        _start_source(stack, payload, listener.getsockname()[:2])
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(timeout)
            digest = hashlib.sha256()
            while chunk := conn.recv(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _start_source(stack: Any, payload: bytes, address: tuple[str, int]) -> None:
    """In the reactor thread: a client that refills its send buffer whenever it has room
    (``tcp_writable``) until ``payload`` is queued, then closes."""
    view = memoryview(payload)

    class Source(TCPApplication):
        sent = 0

        def connection_made(self) -> None:
            self.produce()

        def tcp_writable(self, session: Any) -> None:
            super().tcp_writable(session)
            self.produce()

        def produce(self) -> None:
            while self.sent < len(view):
                taken = self.send(bytes(view[self.sent : self.sent + (1 << 18)]))
                self.sent += taken
                if not taken:
                    return
            self.close()

    def start() -> None:
        app = Source()
        stack.register_tcp_application(app)
        app.connect_deferred(*address)

    blocking_call(start)


def one_run(lab: Lab, link: Any, sink: Sink, payload: bytes) -> tuple[float, int, int]:
    """``(MB/s, frames, super-frames)`` of one connection carrying ``payload``."""
    frames0, super0 = link.frames_in, link.super_frames
    sink.count = 0
    sink.done.clear()
    start = time.monotonic()
    kernel_sends(lab, payload)
    if not sink.done.wait(60) or sink.count != len(payload):
        raise RuntimeError(f"transfer failed: {sink.count} of {len(payload)} bytes")
    rate = len(payload) / (time.monotonic() - start) / 1e6
    return rate, link.frames_in - frames0, link.super_frames - super0


def main(argv: list[str]) -> None:
    mib, runs = (int(argv[0]) if argv else 64), (int(argv[1]) if len(argv) > 1 else 3)
    payload = os.urandom(mib << 20)
    for offloads in (False, True):
        with Lab(mode="veth") as lab, tap_stack(lab, offloads) as stack:
            sink = discard_server(stack, hashing=False)
            for n in range(runs):
                rate, frames, big = one_run(lab, stack.link, sink, payload)
                print(f"offloads={offloads} run {n + 1}: {rate:6.1f} MB/s, "
                      f"{frames} frames, {big} larger than the MTU", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
