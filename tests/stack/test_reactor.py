"""pystack.reactor: the background reactor thread, blocking calls, reactor mode."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
from twisted.internet import defer

from pystack import reactor as pr


def test_blocking_call_runs_in_the_reactor_thread_and_returns() -> None:
    thread = pr.ensure_thread()
    assert pr.ensure_thread() is thread  # started once, shared
    assert thread.name == pr.THREAD_NAME
    seen = pr.blocking_call(lambda a, b=0: (threading.current_thread(), a + b), 2, b=3)
    assert seen == (thread, 5)
    assert not pr.in_reactor_thread()
    assert pr.blocking_call(pr.in_reactor_thread)


def test_blocking_call_waits_for_a_deferred() -> None:
    pr.ensure_thread()
    reactor = pr.default_reactor()

    def later() -> defer.Deferred[str]:
        d: defer.Deferred[str] = defer.Deferred()
        reactor.callLater(0.05, d.callback, "fired")
        return d

    assert pr.blocking_call(later) == "fired"


def test_blocking_call_raises_the_callers_error() -> None:
    pr.ensure_thread()

    def fails() -> None:
        raise ConnectionRefusedError(111, "refused")

    with pytest.raises(ConnectionRefusedError):
        pr.blocking_call(fails)

    def fails_later() -> defer.Deferred[None]:
        return defer.fail(TimeoutError("slow"))

    with pytest.raises(TimeoutError):
        pr.blocking_call(fails_later)


def test_blocking_call_from_the_reactor_thread_cannot_wait() -> None:
    pr.ensure_thread()

    def inner() -> object:
        return pr.blocking_call(defer.Deferred)

    with pytest.raises(pr.WouldBlock):
        pr.blocking_call(inner)
    # A result that is ready is fine even there.
    assert pr.blocking_call(lambda: pr.blocking_call(defer.succeed, 7)) == 7


def test_call_soon_runs_in_the_reactor_thread() -> None:
    thread = pr.ensure_thread()
    ran = threading.Event()
    where: list[threading.Thread] = []

    def record() -> None:
        where.append(threading.current_thread())
        ran.set()

    pr.call_soon(record)
    assert ran.wait(5)
    assert where == [thread]


REACTOR_MODE = """
import os, sys
from pystack import reactor as pr
from twisted.internet import reactor
reactor.callWhenRunning(lambda: print("running", flush=True))
pr.run_blocking(on_shutdown=lambda: print("shutdown hook", flush=True))
print("returned", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_reactor_mode_blocks_until_a_signal_and_runs_the_shutdown_hook(sig: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", REACTOR_MODE], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "running"
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    assert out.split() == ["shutdown", "hook", "returned"]
    assert proc.returncode == 0
