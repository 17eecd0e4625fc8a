"""A network-namespace lab: a Linux kernel peer on one side, an interface for the stack.

Layouts (all addresses in 198.18.0.0/15, lo up in every namespace):

- ``veth``: namespace ``<name>-k`` holds ``k0`` (the kernel peer, 198.18.0.1/24);
  namespace ``<name>-s`` holds its veth peer ``s0`` for the stack. ``s0`` has no address
  (the stack brings its own, 198.18.0.2) unless ``shared=True``, where the kernel of the
  stack namespace owns 198.18.0.2 too and the stack shares it (kernel filter mode).
- ``tap``: namespace ``<name>-k`` holds TAP ``tap0`` (the kernel side, 198.18.0.1/24);
  the stack attaches to it from inside that namespace.

Offloads are off on every lab interface, so frames are what they look like on a wire.
Everything is removed by ``down()``: on leaving the ``with`` block, at interpreter exit,
and on SIGTERM (turned into ``SystemExit`` so that cleanups run). Namespaces carry the
creating pid, so ``sweep_stale()`` removes those of runs killed by SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pystack import netns
from pystack.kernel_filter import pid_alive
from pystack.links import netdev

STATE_DIR = "/run/pystack-lab"
PREFIX = "pst"
KERNEL_IP = "198.18.0.1"
STACK_IP = "198.18.0.2"
PREFIXLEN = 24
_counter = 0
_counter_lock = threading.Lock()
_live: set[Lab] = set()


def _unique_name() -> str:
    global _counter
    with _counter_lock:
        _counter += 1
        return f"{PREFIX}{os.getpid()}x{_counter}"


def owner_pid(namespace: str) -> int | None:
    """The pid encoded in a test-run namespace name ``pst<pid>x<n>-k``, else None."""
    if not namespace.startswith(PREFIX) or "x" not in namespace:
        return None
    digits = namespace[len(PREFIX) : namespace.index("x")]
    return int(digits) if digits.isdigit() else None


def sweep_stale(dry_run: bool = False) -> list[str]:
    """Delete test-run namespaces whose creating process is gone; return their names."""
    removed = []
    for name in netns.listing():
        pid = owner_pid(name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            if not dry_run:
                netns.ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass
class LabInfo:
    """What a lab looks like from outside: names and addresses."""

    name: str
    mode: str
    kernel_ns: str
    stack_ns: str
    kernel_interface: str
    stack_interface: str
    kernel_ip: str = KERNEL_IP
    stack_ip: str = STACK_IP
    prefixlen: int = PREFIXLEN
    shared: bool = False

    @property
    def stack_cidr(self) -> str:
        return f"{self.stack_ip}/{self.prefixlen}"


class Lab:
    """Create and remove one lab; a context manager. ``mode`` is ``"veth"`` or ``"tap"``."""

    def __init__(
        self, name: str | None = None, mode: str = "veth", *, shared: bool = False
    ) -> None:
        if mode not in ("veth", "tap"):
            raise ValueError(f"lab mode must be 'veth' or 'tap', not {mode!r}")
        if shared and mode != "veth":
            raise ValueError("shared-address labs need mode='veth'")
        name = name or _unique_name()
        kernel_ns = f"{name}-k"
        stack_ns = f"{name}-s" if mode == "veth" else kernel_ns
        self.info = LabInfo(
            name=name,
            mode=mode,
            kernel_ns=kernel_ns,
            stack_ns=stack_ns,
            kernel_interface="k0" if mode == "veth" else "tap0",
            stack_interface="s0" if mode == "veth" else "tap0",
            shared=shared,
        )
        self._up = False

    # -- lifecycle -----------------------------------------------------------------------

    def up(self) -> Lab:
        """Create the namespaces and interfaces; on any failure, remove what was made."""
        _install_sigterm_handler()
        sweep_stale()
        _live.add(self)
        self._up = True
        try:
            self._create()
        except BaseException:
            self.down()
            raise
        return self

    def _create(self) -> None:
        i = self.info
        for ns in dict.fromkeys((i.kernel_ns, i.stack_ns)):
            netns.ip("netns", "add", ns)
            netns.ip("-n", ns, "link", "set", "lo", "up")
        if i.mode == "veth":
            netns.ip("-n", i.kernel_ns, "link", "add", "k0", "type", "veth",
                     "peer", "name", "s0", "netns", i.stack_ns)  # fmt: skip
            netns.ip("-n", i.stack_ns, "link", "set", "s0", "up")
            if i.shared:
                netns.ip("-n", i.stack_ns, "addr", "add", i.stack_cidr, "dev", "s0")
        else:
            netns.ip("-n", i.kernel_ns, "tuntap", "add", "mode", "tap", "name", "tap0")
        netns.ip("-n", i.kernel_ns, "addr", "add", f"{i.kernel_ip}/{i.prefixlen}",
                 "dev", i.kernel_interface)  # fmt: skip
        netns.ip("-n", i.kernel_ns, "link", "set", i.kernel_interface, "up")
        with netns.enter(i.kernel_ns):
            netdev.disable_offloads(i.kernel_interface)
        if i.mode == "veth":
            with netns.enter(i.stack_ns):
                netdev.disable_offloads("s0")

    def down(self) -> None:
        """Remove everything the lab created; idempotent, never raises."""
        if not self._up:
            return
        self._up = False
        _live.discard(self)
        for ns in dict.fromkeys((self.info.kernel_ns, self.info.stack_ns)):
            # Deleting a namespace deletes its veth/TAP devices and its netfilter tables.
            netns.ip("netns", "del", ns, check=False)

    def keep(self) -> None:
        """Let the lab outlive this process (``pystack lab up``); ``down()`` still works."""
        _live.discard(self)

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- using it ------------------------------------------------------------------------

    @property
    def kernel_ip(self) -> str:
        return self.info.kernel_ip

    @property
    def stack_ip(self) -> str:
        return self.info.stack_ip

    @property
    def stack_cidr(self) -> str:
        return self.info.stack_cidr

    def kernel(self) -> contextlib.AbstractContextManager[None]:
        """Enter the kernel peer's namespace in this thread (sockets made inside stay there)."""
        return netns.enter(self.info.kernel_ns)

    def stack_side(self) -> contextlib.AbstractContextManager[None]:
        """Enter the stack's namespace in this thread."""
        return netns.enter(self.info.stack_ns)

    def open_link(self, **kwargs: Any) -> Any:
        """Open the stack's link (a PacketSocketLink on s0, or a TapLink on tap0)."""
        with self.stack_side():
            if self.info.mode == "tap":
                from pystack.links.tap import TapLink

                return TapLink("tap0", create=False, **kwargs)
            from pystack.links.packet_socket import PacketSocketLink

            return PacketSocketLink("s0", **kwargs)

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a command on the kernel side and wait for it."""
        return netns.run(self.info.kernel_ns, argv, **kwargs)

    def save(self, directory: str = STATE_DIR) -> str:
        """Write the lab's description for ``pystack lab`` (returns the path)."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{self.info.name}.json")
        with open(path, "w") as f:
            json.dump(asdict(self.info), f, indent=2)
        return path

    @classmethod
    def load(cls, name: str, directory: str = STATE_DIR) -> Lab:
        """The lab ``pystack lab up`` created under ``name`` (it is live: ``down()`` works)."""
        with open(os.path.join(directory, f"{name}.json")) as f:
            data = json.load(f)
        lab = cls.__new__(cls)
        lab.info = LabInfo(**data)
        lab._up = True
        return lab


def kernel_ping(
    lab: Lab, host: str, *, size: int = 56, count: int = 1, timeout: float = 2.0
) -> list[float]:
    """Ping ``host`` from the lab's kernel side (a raw ICMP socket: this host has no
    ``ping``); returns the round-trip times of the replies that came, in seconds. The
    kernel fragments requests larger than the MTU, as ``ping -s`` does."""
    with lab.kernel():
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    rtts = []
    with sock:
        ident = os.getpid() & 0xFFFF
        for seq in range(count):
            payload = bytes(i & 0xFF for i in range(size))
            sock.sendto(_echo_request(ident, seq, payload), (host, 0))
            sent = time.monotonic()
            if _await_reply(sock, host, ident, seq, payload, sent + timeout):
                rtts.append(time.monotonic() - sent)
    return rtts


def _icmp_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    checksum = _icmp_checksum(header + payload)
    return struct.pack("!BBHHH", 8, 0, checksum, ident, seq) + payload


def _await_reply(
    sock: socket.socket, host: str, ident: int, seq: int, payload: bytes, deadline: float
) -> bool:
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            packet, (src, _) = sock.recvfrom(65535)
        except TimeoutError:
            return False
        icmp = packet[(packet[0] & 0x0F) * 4 :]
        if src == host and icmp[:1] == b"\0" and icmp[4:8] == struct.pack("!HH", ident, seq):
            return icmp[8:] == payload
    return False


@contextlib.contextmanager
def lab(mode: str = "veth", **kwargs: Any) -> Iterator[Lab]:
    """``with lab() as l:`` a fresh lab, removed on exit whatever happens."""
    with Lab(mode=mode, **kwargs) as created:
        yield created


@contextlib.contextmanager
def lossy_stack(lab: Lab, **impairments: Any) -> Iterator[tuple[Any, Any]]:
    """``(stack, link)``: a running stack on ``lab`` whose link is wrapped in a seeded
    :class:`~pystack.links.lossy.LossyLink` (``impairments`` are its keywords; the seed is
    printed, so a failing test shows it); stopped on exit whatever happens."""
    import random

    from twisted.internet import reactor

    from pystack.links.lossy import LossyLink
    from pystack.reactor import ensure_thread
    from pystack.stack import PyStack

    ensure_thread(reactor)
    seed = random.randrange(1 << 32)
    print(f"lossy link seed {seed}")
    link = LossyLink(lab.open_link(), reactor, seed=seed, **impairments)
    stack = PyStack(link=link, ip=lab.stack_cidr)
    try:
        stack.run(doreactor=False)
        yield stack, link
    finally:
        stack.stop()


def _cleanup_all() -> None:
    for live in list(_live):
        live.down()


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _install_sigterm_handler() -> None:
    # Turn SIGTERM into SystemExit so `with` blocks and atexit run; only when nobody else
    # installed a handler, and only from the main thread (where Python allows it).
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


atexit.register(_cleanup_all)


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a dev dependency
    pass
else:

    @pytest.fixture
    def veth_lab() -> Iterator[Lab]:
        """A veth lab for one test: kernel in ``lab.kernel()``, the stack's link from
        ``lab.open_link()``; removed after the test, failed or not."""
        with Lab(mode="veth") as created:
            yield created

    @pytest.fixture
    def tap_lab() -> Iterator[Lab]:
        """A TAP lab for one test (see :func:`veth_lab`)."""
        with Lab(mode="tap") as created:
            yield created

    @pytest.fixture
    def shared_lab() -> Iterator[Lab]:
        """A veth lab where the stack shares 198.18.0.2 with its namespace's kernel."""
        with Lab(mode="veth", shared=True) as created:
            yield created
