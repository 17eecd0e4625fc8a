"""Examples against the Linux kernel in a lab (root): curl fetches what twisted.web serves
over the stack, from the example and from ``twist web --listen pystack:...``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pystack.lab import Lab
from pystack.reactor import blocking_call

pytestmark = [pytest.mark.root, pytest.mark.timeout(180), pytest.mark.needs_tool("curl", "curl")]
REPO = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"lab_{name}", REPO / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def curl(lab: Lab, url: str, out: Path, attempts: int = 1) -> subprocess.CompletedProcess[str]:
    for _ in range(attempts):
        result = lab.run(["curl", "-sS", "--max-time", "60", "-o", str(out), url],
                         capture_output=True, text=True, check=False)  # fmt: skip
        if result.returncode == 0:
            break
        time.sleep(0.5)
    return result


def test_curl_gets_files_served_by_the_web_server_example(
    lab: Lab, stack: Any, tmp_path: Path
) -> None:
    served = tmp_path / "www"
    served.mkdir()
    (served / "blob.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    (served / "small.txt").write_text("hello from twisted.web over pystack\n")
    blocking_call(load("web_server").serve, stack, str(served), 8080)
    for name in ("blob.bin", "small.txt"):
        out = tmp_path / f"got-{name}"
        result = curl(lab, f"http://{lab.stack_ip}:8080/{name}", out)
        assert result.returncode == 0, result.stderr
        assert sha256(out) == sha256(served / name)


def test_twist_web_listens_through_the_endpoint_plugin(tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    (served / "blob.bin").write_bytes(os.urandom(1024 * 1024))
    with Lab(mode="tap") as lab:
        env = {**os.environ, "PYTHONPATH": str(REPO)}  # finds twisted/plugins in the tree
        endpoint = f"pystack:8080:tap=tap0:ip={lab.stack_cidr}"
        argv = ["ip", "netns", "exec", lab.info.kernel_ns, sys.executable, "-m",
                "twisted", "web", "--listen", endpoint, "--path", str(served)]  # fmt: skip
        twist = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out = tmp_path / "got.bin"
            result = curl(lab, f"http://{lab.stack_ip}:8080/blob.bin", out, attempts=40)
            assert result.returncode == 0, result.stderr
            assert sha256(out) == sha256(served / "blob.bin")
        finally:
            twist.send_signal(signal.SIGTERM)
            try:
                log, _ = twist.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                twist.kill()
                log, _ = twist.communicate()
        assert twist.returncode is not None, log
