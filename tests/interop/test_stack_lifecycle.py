"""`stack.stop()` against a kernel peer: graceful close within a bound, then reset; it
removes everything, is idempotent, and the stack is a context manager (issue 5 §2)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from test_tcp_interop import echo_server, kernel_connect, wait_for

from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack
from pystack.testing.lab import Lab, kernel_ping

pytestmark = pytest.mark.root
PORT = 7


def established(stack: Any, count: int) -> None:
    wait_for(
        lambda: sum(s.state == "ESTABLISHED" for s in stack.tcp.connections.values()) == count,
        5,
        f"{count} established connections",
    )


def close_on_eof(sock: socket.socket, seen: list[bytes]) -> threading.Thread:
    """A kernel peer that closes its side as soon as it reads EOF (what most do)."""

    def run() -> None:
        sock.settimeout(5)
        seen.append(sock.recv(100))
        sock.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_stop_closes_connections_with_fin_and_removes_everything(lab: Lab, stack: Any) -> None:
    echo_server(stack, PORT)
    clients = [kernel_connect(lab, PORT) for _ in range(3)]
    seen: list[bytes] = []
    try:
        established(stack, 3)
        readers = [close_on_eof(sock, seen) for sock in clients]
        started = time.monotonic()
        stack.stop()
        took = time.monotonic() - started
        for reader in readers:
            reader.join(5)
    finally:
        for sock in clients:
            sock.close()
    # Every kernel peer read a clean EOF (our FIN, no reset), closed, and the stack's
    # sessions finished before the 2 s bound.
    assert seen == [b""] * 3
    assert took < 1.5
    assert stack.stopped and stack.link.closed
    assert blocking_call(lambda: stack.tcp.sessions()) == []
    assert kernel_ping(lab, lab.stack_ip, count=1, timeout=0.5) == []  # nobody home
    stack.stop()  # idempotent, and quick
    blocking_call(stack.stop)  # from the reactor thread too


def test_stop_resets_what_does_not_finish_within_the_bound(tap_lab: Lab) -> None:
    ensure_thread()
    with PyStack(link=tap_lab.open_link(), ip=tap_lab.stack_cidr) as stack:
        stack.run(doreactor=False)
        echo_server(stack, PORT)
        with kernel_connect(tap_lab, PORT) as sock:
            established(stack, 1)
            started = time.monotonic()
            # The kernel acknowledges our FIN but never closes: FIN_WAIT_2 until the bound.
            stack.stop(timeout=0.5)
            took = time.monotonic() - started
            assert sock.recv(100) == b""
            time.sleep(0.1)  # let the RST arrive
            with pytest.raises((ConnectionResetError, BrokenPipeError)):
                sock.send(b"still there?")
                sock.recv(100)
    assert 0.5 <= took < 1.5
    assert stack.stopped


def test_stop_from_the_reactor_thread_waits_through_a_deferred(tap_lab: Lab) -> None:
    ensure_thread()
    stack = PyStack(link=tap_lab.open_link(), ip=tap_lab.stack_cidr)
    try:
        stack.run(doreactor=False)
        echo_server(stack, PORT)
        with kernel_connect(tap_lab, PORT) as sock:
            established(stack, 1)
            # blocking_call runs stop() in the reactor thread, where it returns a Deferred.
            blocking_call(stack.stop, 0.3)
            assert stack.stopped
            assert sock.recv(100) == b""
    finally:
        stack.stop()


def test_the_stack_is_a_context_manager_stopped_on_errors(tap_lab: Lab) -> None:
    ensure_thread()
    with (
        pytest.raises(RuntimeError, match="boom"),
        PyStack(link=tap_lab.open_link(), ip=tap_lab.stack_cidr) as stack,
    ):
        stack.run(doreactor=False)
        echo_server(stack, PORT)
        raise RuntimeError("boom")
    assert stack.stopped and stack.link.closed
    with tap_lab.kernel():
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with probe:
        probe.settimeout(0.5)
        with pytest.raises((TimeoutError, OSError)):
            probe.connect((tap_lab.stack_ip, PORT))
