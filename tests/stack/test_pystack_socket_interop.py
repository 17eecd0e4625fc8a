"""pystack_socket against the Linux kernel in a lab: hijacked urllib, a stack-side server."""

from __future__ import annotations

import hashlib
import os
import select
import socket as kernel_socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import pystack.pystack_socket as psocket
from pystack import netns
from pystack.lab import Lab

pytestmark = pytest.mark.root


def test_hijacked_urllib_fetches_2_mib_from_kernel_http_server(
    lab: Lab, stack: Any, tmp_path: Path
) -> None:
    blob = os.urandom(2 * 1024 * 1024)
    (tmp_path / "blob.bin").write_bytes(blob)
    argv = [sys.executable, "-m", "http.server", "8000", "--bind", lab.kernel_ip,
            "--directory", str(tmp_path)]  # fmt: skip
    server = netns.popen(lab.info.kernel_ns, argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for_port(lab, 8000)
        url = f"http://{lab.kernel_ip}:8000/blob.bin"
        with psocket.hijack(stack), urllib.request.urlopen(url, timeout=30) as reply:
            body = reply.read()
    finally:
        server.terminate()
        server.wait(5)
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(blob).hexdigest()


def _wait_for_port(lab: Lab, port: int) -> None:
    for _ in range(100):
        with lab.kernel(), kernel_socket.socket() as probe:
            if probe.connect_ex((lab.kernel_ip, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {lab.kernel_ip}:{port}")


def test_kernel_client_talks_to_a_stack_socket_server(lab: Lab, stack: Any) -> None:
    listener = psocket.socket(psocket.AF_INET, psocket.SOCK_STREAM, stack=stack)
    listener.bind(("", 7100))
    listener.listen()

    def serve() -> None:
        conn, _addr = listener.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with lab.kernel():
        client = kernel_socket.create_connection((lab.stack_ip, 7100), timeout=10)
    with client:
        client.sendall(b"hello stack " * 1000)
        client.shutdown(kernel_socket.SHUT_WR)
        got = b""
        while chunk := client.recv(65536):
            got += chunk
    assert got == b"HELLO STACK " * 1000
    thread.join(10)
    listener.close()


def test_stack_close_with_unread_data_resets_the_kernel_client(lab: Lab, stack: Any) -> None:
    # RFC 1122 §4.2.2.13 as Linux: a close() that discards unread bytes sends RST.
    listener = psocket.socket(psocket.AF_INET, psocket.SOCK_STREAM, stack=stack)
    listener.bind(("", 7101))
    listener.listen()

    def serve() -> None:
        conn, _addr = listener.accept()
        select.select([conn], [], [], 10)  # the request arrived ...
        conn.close()  # ... and is never read

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with lab.kernel():
        client = kernel_socket.create_connection((lab.stack_ip, 7101), timeout=10)
    with client:
        client.sendall(b"a request nobody reads")
        with pytest.raises(ConnectionResetError):
            client.recv(100)
    thread.join(10)
    listener.close()


def test_stack_answers_data_after_close_with_rst(lab: Lab, stack: Any) -> None:
    listener = psocket.socket(psocket.AF_INET, psocket.SOCK_STREAM, stack=stack)
    listener.bind(("", 7102))
    listener.listen()

    def serve() -> None:
        conn, _addr = listener.accept()
        with conn:
            conn.recv(5)  # all there is: a clean close (FIN)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with lab.kernel():
        client = kernel_socket.create_connection((lab.stack_ip, 7102), timeout=10)
    with client:
        client.sendall(b"hello")
        assert client.recv(100) == b""  # the stack's FIN
        thread.join(10)
        # Linux in CLOSE_WAIT reports the RST as EPIPE on its next send.
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(100):
                client.sendall(b"after your close")
                time.sleep(0.05)
    listener.close()


def test_kernel_close_with_unread_data_resets_a_stack_client(lab: Lab, stack: Any) -> None:
    # The same rule on Linux's side, seen through the work-alike: ConnectionResetError.
    with lab.kernel():
        server = kernel_socket.create_server((lab.kernel_ip, 7103))
    with server:

        def serve() -> None:
            conn, _addr = server.accept()
            select.select([conn], [], [], 10)
            conn.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with psocket.socket(psocket.AF_INET, psocket.SOCK_STREAM, stack=stack) as sock:
            sock.settimeout(10)
            sock.connect((lab.kernel_ip, 7103))
            sock.sendall(b"a request nobody reads")
            with pytest.raises(ConnectionResetError):
                sock.recv(100)
        thread.join(10)
