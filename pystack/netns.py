"""Running code inside a Linux network namespace: enter one in the current thread, run a
command in one, create and list them with ``ip``.

Production code needs this as much as tests do: the kernel filter re-enters the namespace
it was created in to add and remove its iptables rules from whichever thread closes it, the
lab (``pystack.lab``, ``pystack lab``) builds and tears down its namespaces with it,
and the root-only tests run the kernel's tools inside them.

Linux keeps the network namespace per thread. ``enter(name)`` switches only the calling
thread and switches it back on exit; a socket or TAP descriptor opened inside stays bound to
the namespace it was opened in, so a stack can open its link inside a lab namespace and
then be driven by a reactor thread that never entered it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator, Sequence

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _same_namespace(a: int, b: int) -> bool:
    """Whether two namespace descriptors name the same namespace (nsfs inode identity)."""
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


@contextlib.contextmanager
def enter_fd(target: int) -> Iterator[None]:
    """Run the body with the calling thread in the namespace of descriptor ``target``.

    Already there, it switches nothing: setns() needs CAP_SYS_ADMIN even to stay put,
    and code that only may need another namespace (the kernel filter's clean-up) must
    also work, unprivileged, in its own.
    """
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _same_namespace(original, target):
            yield
            return
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(original)


@contextlib.contextmanager
def enter(name: str) -> Iterator[None]:
    """Run the body with the calling thread inside network namespace ``name``."""
    target = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        with enter_fd(target):
            yield
    finally:
        os.close(target)


def exists(name: str) -> bool:
    """True when namespace ``name`` is registered under /run/netns."""
    return os.path.exists(os.path.join(NETNS_DIR, name))


def listing() -> list[str]:
    """Names of the registered namespaces."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; raise with ip's message on failure when ``check``."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def run(name: str, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside namespace ``name`` (``ip netns exec``), capturing text output."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("check", False)
    return subprocess.run(["ip", "netns", "exec", name, *argv], **kwargs)  # type: ignore[call-overload]


def popen(name: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """Start ``argv`` inside namespace ``name`` in its own process group."""
    kwargs.setdefault("start_new_session", True)
    return subprocess.Popen(["ip", "netns", "exec", name, *argv], **kwargs)  # type: ignore[call-overload]
