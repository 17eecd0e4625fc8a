"""`stack.stop()` against a kernel peer: graceful close within a bound, then reset; it
removes everything, is idempotent, and the stack is a context manager (issue 5 §2)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from helpers.kernel_peers import echo_server, kernel_connect, wait_for

from pystack.lab import Lab, kernel_ping
from pystack.reactor import blocking_call, ensure_thread
from pystack.stack import PyStack

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


@pytest.mark.root
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


@pytest.mark.root
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


@pytest.mark.root
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


@pytest.mark.root
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


# ============================================ stop under a simulated clock (no root needed)


@pytest.mark.parametrize("peer_closes", [True, False])
def test_stop_under_a_simulated_clock(peer_closes: bool) -> None:
    from pystack.apps.tcp_application import TCPApplication
    from pystack.sim import SimNet

    class Peer(TCPApplication):
        def eof_received(self) -> bool:
            return not peer_closes  # True: stay half-open, so our side waits in FIN_WAIT_2

    net = SimNet()
    a, b = net.a, net.b
    server = Peer()
    b.register_tcp_application(server)
    server.bind(PORT, app=server, newinstance=True)
    server.listen(1)
    client = TCPApplication()
    a.register_tcp_application(client)
    assert net.wait(client.connect_deferred("198.18.0.2", PORT)) is True
    started = net.now()
    d = a.stop(timeout=2.0)
    assert d is not None and not a.stopped  # a Deferred: the clock must move
    net.wait(d)
    took = net.now() - started
    assert a.stopped and a.tcp.sessions() == []
    assert client.session is not None and client.session.state == "CLOSED"
    if peer_closes:
        assert took < 1.0 and str(client.session.close_reason) == "CloseReason.CLOSED"
    else:
        assert 2.0 <= took < 2.1 and str(client.session.close_reason) == "CloseReason.ABORTED"
    assert a.stop() is None  # idempotent
    b.stop()
    a.stop()


def test_stop_without_connections_is_immediate_under_a_simulated_clock() -> None:
    from pystack.sim import SimNet

    net = SimNet()
    assert net.a.stop() is None and net.a.stopped
    net.close()
