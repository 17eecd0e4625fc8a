"""Signals end a shared-address stack's process as they would end it without the stack, and
leave no rule behind: SIGTERM, SIGHUP and SIGQUIT kill it (status -signal) even while a
non-daemon thread runs; a handler the program installed first decides; an ignored signal
stays ignored. Each program runs in the lab's stack namespace, its rules checked there with
both iptables-legacy (where the stack writes) and nft."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pystack import netns
from pystack.lab import Lab

pytestmark = [pytest.mark.root, pytest.mark.needs_tool("nft", "nftables")]
PORT = 7

# A program that also runs a non-daemon thread; its main thread then joins that thread, or
# returns (the interpreter then waits for the thread before it exits).
PROGRAM = """
import os, resource, signal, sys, threading
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGQUIT dumps core: not here
{prelude}
from pystack.apps.tcp_application import TCPApplication
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

ensure_thread()
stack = PyStack(interface="s0")  # no ip=: shared-address mode, kernel filter on
stack.run(doreactor=False)
app = TCPApplication()

def listen():
    stack.register_tcp_application(app)
    app.bind({port}, app=app, newinstance=True)
    app.listen(4)

blocking_call(listen)
stop = threading.Event()  # the worker ends only if the main thread sets it
worker = threading.Thread(target=stop.wait, name="worker")
worker.start()
{main}
"""
READY = 'print("ready", flush=True)\n'


def rules_mentioning_pystack(lab: Lab) -> list[str]:
    """Every rule line in the stack namespace that mentions pystack: all x_tables tables
    (iptables-legacy-save) and the whole nf_tables ruleset."""
    listings = [["iptables-legacy-save"], ["nft", "list", "ruleset"]]
    found = []
    for argv in listings:
        out = netns.run(lab.info.stack_ns, argv, check=True)
        found += [line for line in out.stdout.splitlines() if "pystack" in line]
    return found


def start(
    lab: Lab, prelude: str = "", main: str = READY + "worker.join()"
) -> subprocess.Popen[str]:
    code = PROGRAM.format(prelude=prelude, port=PORT, main=main)
    proc: subprocess.Popen[str] = netns.popen(  # type: ignore[assignment]
        lab.info.stack_ns, [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        proc.wait()
        pytest.fail(f"the program did not start: {line!r}")
    return proc


@pytest.fixture
def program(shared_lab: Lab) -> Iterator[list[subprocess.Popen[str]]]:
    """Started programs, killed by pid after the test whatever happened."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def exit_status(proc: subprocess.Popen[str], sig: int, within: float = 2.0) -> int | None:
    """Send ``sig``; the return code if the process ends within ``within`` s, else None."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize("main", [READY + "worker.join()", READY])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_signal_kills_the_program_and_leaves_no_rule(
    shared_lab: Lab, program: list[subprocess.Popen[str]], sig: signal.Signals, main: str
) -> None:
    proc = start(shared_lab, main=main)
    program.append(proc)
    assert any(f"--sport {PORT}" in rule for rule in rules_mentioning_pystack(shared_lab))
    assert exit_status(proc, sig) == -sig
    assert rules_mentioning_pystack(shared_lab) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_handler_installed_before_the_stack_decides_the_exit(
    shared_lab: Lab, program: list[subprocess.Popen[str]], sig: signal.Signals
) -> None:
    # os._exit skips atexit: no rule may be left by then.
    prelude = f"""
def on_signal(signum, frame):
    print("handler", signum, flush=True)
    os._exit(7)
signal.signal({int(sig)}, on_signal)
"""
    proc = start(shared_lab, prelude)
    program.append(proc)
    assert rules_mentioning_pystack(shared_lab) != []
    assert exit_status(proc, sig) == 7
    assert proc.stdout is not None and proc.stdout.read() == f"handler {int(sig)}\n"
    assert rules_mentioning_pystack(shared_lab) == []


def test_a_handler_that_returns_keeps_the_program_and_its_rules(
    shared_lab: Lab, program: list[subprocess.Popen[str]]
) -> None:
    prelude = """
signal.signal(signal.SIGTERM, lambda signum, frame: print("noted", flush=True))
"""
    proc = start(shared_lab, prelude)
    program.append(proc)
    before = rules_mentioning_pystack(shared_lab)
    assert exit_status(proc, signal.SIGTERM) is None  # the program chose to go on
    assert proc.stdout is not None and proc.stdout.readline() == "noted\n"
    assert rules_mentioning_pystack(shared_lab) == before
    assert exit_status(proc, signal.SIGQUIT) == -signal.SIGQUIT
    assert rules_mentioning_pystack(shared_lab) == []


def test_an_ignored_signal_stays_ignored(
    shared_lab: Lab, program: list[subprocess.Popen[str]]
) -> None:
    proc = start(shared_lab, "signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup does")
    program.append(proc)
    before = rules_mentioning_pystack(shared_lab)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert proc.poll() is None
    assert rules_mentioning_pystack(shared_lab) == before
    assert exit_status(proc, signal.SIGTERM) == -signal.SIGTERM
    assert rules_mentioning_pystack(shared_lab) == []


def test_sigint_keeps_keyboard_interrupt(
    shared_lab: Lab, program: list[subprocess.Popen[str]]
) -> None:
    # The program sees KeyboardInterrupt and lets its thread end; atexit removes the rules;
    # Python then ends the process with SIGINT, as for any uncaught KeyboardInterrupt.
    # "ready" is printed inside the try: a SIGINT sent as soon as it is read must find the
    # handler in place, or the worker is never told to stop and the interpreter waits for it.
    main = """
try:
    print("ready", flush=True)
    worker.join()
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
    stop.set()
    raise
"""
    proc = start(shared_lab, main=main)
    program.append(proc)
    # SIGINT ends through the program's own exit path (atexit stops the stack gracefully),
    # not through the kernel filter's handler, so it gets more time on a loaded machine.
    assert exit_status(proc, signal.SIGINT, within=10.0) == -signal.SIGINT
    assert proc.stdout is not None and proc.stdout.read() == "KeyboardInterrupt\n"
    assert rules_mentioning_pystack(shared_lab) == []
