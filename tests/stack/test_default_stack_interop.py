"""The 2013 PyStack's zero-configuration use against the kernel: ``PyStack()`` is the one
default stack on the default route, sharing the host's address, and the 2013 socket-module
hijacking script (documentation §2.5.3) runs as printed, ``PyStack().stop()`` included.

The lab: the stack's namespace has 198.18.0.2 on s0 and a default route via the kernel
peer (198.18.0.1); the server listens on 198.18.1.1, an address of the peer that is not
on s0's subnet, so the connection goes through the default gateway."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pystack import netns
from pystack.lab import Lab

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]
SERVER = "198.18.1.1"
PORT = 5555

# The 2013 documentation's §2.5.3 script, line for line, but for line 1: as printed it
# imports ``pystack.pystack_socket`` yet names ``pystack_socket`` on line 4, which that
# import does not bind (a NameError in any Python); ``as pystack_socket`` binds it.
HIJACK_SCRIPT = """\
import pystack.pystack_socket as pystack_socket
import sys
sys.modules["socket_original"] = sys.modules["socket"]
sys.modules["socket"] = pystack_socket

from test_client import Client
c = Client()
c.run()

from pystack.pystack import PyStack
s = PyStack() #Retrieve the pystack instance to stop it
s.stop()

sys.modules["socket"] = sys.modules["socket_original"]
sys.modules.pop("socket_original")
"""

# The client the script imports (§2.5.3), with a lab address for "myserver.com" and a
# bytes literal: Python 3's sockets, the standard ones too, send bytes only.
TEST_CLIENT = f"""\
import socket

class Client():
    def __init__(self):
        pass

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("{SERVER}", {PORT}))
        s.sendall(b'Hello, world\\n')
        data = s.recv(1024)
        s.close()
        print('Received' + repr(data))
"""

# A one-connection echo server for the kernel side.
ECHO_SERVER = textwrap.dedent(f"""\
    import socket
    with socket.create_server(("{SERVER}", {PORT})) as listener:
        print("ready", flush=True)
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)
""")


def pystack_rules(lab: Lab) -> list[str]:
    """The stack namespace's pystack-tagged OUTPUT rules (x_tables, as iptc writes them)."""
    out = netns.run(lab.info.stack_ns, ["iptables-legacy", "-S", "OUTPUT"], check=True)
    return [line for line in out.stdout.splitlines() if "pystack:" in line]


@pytest.fixture
def routed_lab(shared_lab: Lab) -> Iterator[Lab]:
    """The shared-address lab with a default route, and an echo server behind the gateway."""
    netns.ip("-n", shared_lab.info.stack_ns, "route", "add", "default", "via", "198.18.0.1")
    netns.ip("-n", shared_lab.info.kernel_ns, "addr", "add", f"{SERVER}/32", "dev", "lo")
    server = netns.popen(shared_lab.info.kernel_ns, [sys.executable, "-c", ECHO_SERVER],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline() == b"ready\n"
        yield shared_lab
    finally:
        server.kill()
        server.wait(5)


def test_the_2013_hijack_script_runs_on_the_default_stack(routed_lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "hijack.py").write_text(HIJACK_SCRIPT)
    (tmp_path / "test_client.py").write_text(TEST_CLIENT)
    done = netns.run(routed_lab.info.stack_ns, [sys.executable, "hijack.py"], cwd=tmp_path,
                     timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Received" + repr(b"Hello, world\n") + "\n"
    assert pystack_rules(routed_lab) == []  # PyStack().stop() removed the kernel filter's


DEFAULT_STACK_PROGRAM = """\
from pystack import PyStack
first = PyStack()
assert PyStack() is first, "PyStack() made a second stack"
other = PyStack(interface="s0", ip="198.18.0.3/24")
assert other is not first and PyStack() is first
print(first.address, first.attachment.mode, first.attachment.interface, first.attachment.gateway)
other.stop()
first.stop()
second = PyStack()
assert second is not first and not second.stopped, "a stopped default stack came back"
second.stop()
"""


def test_pystack_without_arguments_is_the_default_route_stack(routed_lab: Lab) -> None:
    done = netns.run(routed_lab.info.stack_ns, [sys.executable, "-c", DEFAULT_STACK_PROGRAM],
                     timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["198.18.0.2", "shared", "s0", "198.18.0.1"]
    assert pystack_rules(routed_lab) == []
