"""`pystack serve`, `ping` and `get` run as a user runs them, in a lab."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile

import pytest

from pystack import netns
from pystack.lab import Lab
from pystack.testing import lab as lab_fixtures

veth_lab = lab_fixtures.veth_lab
PYSTACK = [sys.executable, "-m", "pystack.cli"]
ATTACH = ["--interface", "s0", "--ip", "198.18.0.2/24"]


def test_help_texts() -> None:
    for cmd in ("serve", "ping", "get"):
        out = subprocess.run([*PYSTACK, cmd, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "--interface" in out.stdout and "--pcap" in out.stdout
        assert "--no-offloads" in out.stdout


@pytest.mark.root
def test_serve_echo_answers_nc_style_clients_and_stops_on_ctrl_c(veth_lab: Lab) -> None:
    pcap = os.path.join(tempfile.mkdtemp(), "serve.pcap")
    cmd = [*PYSTACK, "serve", "echo", "--port", "7", *ATTACH, "--pcap", pcap]
    proc = netns.popen(veth_lab.info.stack_ns, cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert "echo server on 198.18.0.2:7" in proc.stdout.readline()
        with veth_lab.kernel():
            client = socket.create_connection((veth_lab.stack_ip, 7), timeout=10)
        with client:
            client.sendall(b"hello\n")
            assert client.recv(100) == b"hello\n"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()
    assert os.path.getsize(pcap) > 24


@pytest.mark.root
def test_ping_reaches_the_kernel(veth_lab: Lab) -> None:
    cmd = [*PYSTACK, "ping", veth_lab.kernel_ip, "-c", "2", *ATTACH]
    out = netns.run(veth_lab.info.stack_ns, cmd, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("reply from 198.18.0.1") == 2


@pytest.mark.root
def test_get_fetches_a_file_from_a_kernel_http_server(veth_lab: Lab) -> None:
    root = tempfile.mkdtemp()
    body = os.urandom(300_000)
    with open(os.path.join(root, "f.bin"), "wb") as f:
        f.write(body)
    server = netns.popen(
        veth_lab.info.kernel_ns,
        [
            sys.executable,
            "-m",
            "http.server",
            "8080",
            "--bind",
            veth_lab.kernel_ip,
            "--directory",
            root,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        out_path = os.path.join(root, "got.bin")
        cmd = [*PYSTACK, "get", f"http://{veth_lab.kernel_ip}:8080/f.bin", "-o", out_path, *ATTACH]
        for _ in range(20):  # the server may still be starting: refused is retried
            result = netns.run(veth_lab.info.stack_ns, cmd, timeout=60)
            if "cannot connect" not in result.stderr:
                break
        assert result.returncode == 0, result.stderr
        with open(out_path, "rb") as f:
            assert f.read() == body
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def test_get_takes_ipv6_literals_in_brackets() -> None:
    from pystack.clicmd.get import http_url

    url = http_url("http://[2001:db8::1]:8080/f.bin")
    assert (url.hostname, url.port, url.path) == ("2001:db8::1", 8080, "/f.bin")
    assert http_url("http://[2001:db8::1]/").port is None
    for bad in ("http://[2001:db8::1]:0/", "http://[2001:db8::zz]/"):
        with pytest.raises(argparse.ArgumentTypeError):
            http_url(bad)
