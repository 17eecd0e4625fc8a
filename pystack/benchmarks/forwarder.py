"""A Python frame forwarder between two TAP devices: the per-frame ceiling of ``bench net``.

It does the least a user-space stack must do per frame: one ``read`` from one TAP device
and one ``write`` to the other, nothing else (no parsing, no copy into Python objects:
frames are read into a preallocated buffer). Whatever a Python stack achieves over a TAP
device without offloads, it cannot beat this.

Each TAP device lives in its own namespace; a device is attached by name inside the
opener's network namespace, so the process enters the first namespace, opens its device,
enters the second and opens the other (the open file stays bound to its device).

With ``--offloads`` both devices are opened with a virtio-net header (``IFF_VNET_HDR``)
and checksum and TCP segmentation offloads (``TUNSETOFFLOAD``): the kernels then hand it
TCP super-frames of up to 64 KB with partial checksums, which it passes on, header and
all, for the other kernel to take whole. That is the ceiling of a Python stack on a TAP
with offloads.

Usage (root)::

    python -m pystack.benchmarks.forwarder NS_A TAP_A NS_B TAP_B [--offloads]

It prints ``{"ready": true}`` once both devices are open, forwards until SIGTERM or
SIGINT, then prints ``{"frames": ..., "bytes": ..., "cpu": ...}``.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import sys
import time
from types import FrameType

from pystack.benchmarks._netlab import setns

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
# linux/if_tun.h: checksum and TCP segmentation offloads, IPv4 and IPv6.
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6 = 0x01, 0x02, 0x04
# A 64 KB super-frame, its Ethernet header and the 10-byte virtio-net header.
FRAME_BUFFER = 65536 + 14 + 10


def open_tap(name: str, offloads: bool = False) -> int:
    """Attach to the existing TAP device ``name`` in this namespace; a non-blocking fd.
    With ``offloads``, frames carry a virtio-net header and may be super-frames."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if offloads else 0)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
        if offloads:
            fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
    except OSError:
        os.close(fd)
        raise
    return fd


class Forwarder:
    """Copies every frame read on one fd to the other, one read and one write per frame."""

    def __init__(self, fd_a: int, fd_b: int) -> None:
        self.peer = {fd_a: fd_b, fd_b: fd_a}
        self.frames = 0
        self.bytes = 0
        self.running = True
        self._buf = bytearray(FRAME_BUFFER)
        self._view = memoryview(self._buf)

    def drain(self, fd: int) -> None:
        """Forward every frame pending on ``fd`` (readable from epoll)."""
        out = self.peer[fd]
        buf, view = [self._buf], self._view
        frames = nbytes = 0
        while True:
            try:
                n = os.readv(fd, buf)
            except (BlockingIOError, InterruptedError):
                break
            try:
                os.write(out, view[:n])
            except OSError:
                # A full queue on the far side drops the frame, as a wire would.
                pass
            frames += 1
            nbytes += n
        self.frames += frames
        self.bytes += nbytes

    def loop(self) -> None:
        """Forward until :attr:`running` is cleared (by a signal handler)."""
        poller = select.epoll()
        for fd in self.peer:
            poller.register(fd, select.EPOLLIN)
        try:
            while self.running:
                try:
                    events = poller.poll(0.5)
                except InterruptedError:
                    continue
                for fd, _ in events:
                    self.drain(fd)
        finally:
            poller.close()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    offloads = "--offloads" in args
    if offloads:
        args.remove("--offloads")
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    ns_a, tap_a, ns_b, tap_b = args
    setns(ns_a)
    fd_a = open_tap(tap_a, offloads)
    setns(ns_b)
    fd_b = open_tap(tap_b, offloads)
    forwarder = Forwarder(fd_a, fd_b)

    def stop(signum: int, frame: FrameType | None) -> None:
        forwarder.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"ready": True}), flush=True)
    cpu0 = time.process_time()
    forwarder.loop()
    report = {"frames": forwarder.frames, "bytes": forwarder.bytes}
    print(json.dumps({**report, "cpu": time.process_time() - cpu0}), flush=True)
    os.close(fd_a)
    os.close(fd_b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
