"""Mistakes a user makes, and what they are told: arguments checked before anything is
opened (PyStack and the CLI), a missing privilege named in one line, and no clean-up error
hiding the real one. Runs without root: every device opening is faked or refused first."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import pytest
from twisted.internet.task import Clock

from pystack import attach, cli, netns
from pystack import stack as stack_mod
from pystack.clicmd import _attach
from pystack.errors import PrivilegeError
from pystack.links.memory import MemoryWire
from pystack.links.packet_socket import PacketSocketLink
from pystack.links.tap import TapLink


@pytest.fixture
def nothing_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to open a device."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a device was opened although an argument was wrong")

    monkeypatch.setattr(attach, "open_link", refuse)
    monkeypatch.setattr(_attach, "make_stack", refuse)


# -- PyStack(...): ValueError / TypeError before attaching ---------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ip": "198.18.0.2"}, ValueError,
         "'198.18.0.2' is not an IPv4 address with a prefix (a.b.c.d/prefix)"),
        ({"ip": "198.18.0.300/24"}, ValueError,
         "'198.18.0.300/24' is not an IPv4 address with a prefix (a.b.c.d/prefix)"),
        ({"ip": "198.18.0.2/24", "gateway": "198.18.0"}, ValueError,
         "'198.18.0' is not an IPv4 address (a.b.c.d)"),
        ({"ip": "198.18.0.2/24", "mac": "02:00:00:00:00"}, ValueError,
         "'02:00:00:00:00' is not a MAC address (xx:xx:xx:xx:xx:xx)"),
        ({"ip": "198.18.0.2/24", "mac": "01:00:5e:00:00:01"}, ValueError,
         "'01:00:5e:00:00:01' is a multicast MAC: a stack needs a unicast one"),
        ({"ip": "198.18.0.2/24", "mtu": 20}, ValueError, "20 is not an MTU (68-65535)"),
        ({"ip": "198.18.0.2/24", "mtu": 70000}, ValueError, "70000 is not an MTU (68-65535)"),
        ({"ip": "198.18.0.2/24", "arp_retrys": 3}, TypeError,
         "unknown PyStack options: arp_retrys"),
    ],
)  # fmt: skip
def test_pystack_refuses_a_bad_argument_before_attaching(
    nothing_opens: None, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        stack_mod.PyStack(tap="pstbad0", **kwargs)
    assert str(raised.value) == message


def test_a_memory_stack_still_takes_a_bare_address_and_checks_the_rest() -> None:
    clock = Clock()
    stack = stack_mod.PyStack(link=MemoryWire(clock).attach(), ip="198.18.0.7", clock=clock)
    assert stack.address == "198.18.0.7"
    stack.stop()
    with pytest.raises(ValueError, match="is not an MTU"):
        stack_mod.PyStack(link=MemoryWire(clock).attach(), ip="198.18.0.7", clock=clock, mtu=0)


# -- privileges --------------------------------------------------------------------------


def test_tap_without_privilege_names_the_device_and_the_capability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def denied(path: str, *args: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(PrivilegeError) as raised:
        TapLink._open("tap0", False, 0)
    assert str(raised.value) == "opening TAP device 'tap0' needs root or CAP_NET_ADMIN"
    assert raised.value.errno == errno.EACCES and raised.value.__suppress_context__


def test_packet_socket_without_privilege_names_the_interface_and_the_capability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", denied)
    with pytest.raises(PrivilegeError) as raised:
        PacketSocketLink._open("eth1")
    assert str(raised.value) == "a packet socket on interface 'eth1' needs root or CAP_NET_RAW"
    assert isinstance(raised.value, PermissionError)


def test_the_default_route_attachment_says_it_shares_that_interface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(interface: str, *args: Any) -> Any:
        raise PrivilegeError(f"a packet socket on interface {interface!r}", "root or CAP_NET_RAW")

    monkeypatch.setattr(attach, "default_route", lambda: ("eth7", "198.18.0.1"))
    monkeypatch.setattr(attach, "_open_shared", refused)
    with pytest.raises(PrivilegeError) as raised:
        attach.open_link()
    assert str(raised.value) == (
        "sharing the address of interface 'eth7' (the default route's) needs root, "
        "or CAP_NET_RAW and CAP_NET_ADMIN"
    )


def test_entering_the_namespace_one_is_in_needs_no_setns(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_privilege(fd: int) -> None:
        raise PermissionError(errno.EPERM, "setns: Operation not permitted")

    monkeypatch.setattr(netns, "_setns", no_privilege)
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        with netns.enter_fd(here):
            entered = True
    finally:
        os.close(here)
    assert entered


def test_a_failing_clean_up_does_not_hide_why_pystack_failed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Attachment:
        interface = "eth7"

        def close(self) -> None:
            raise PermissionError(errno.EPERM, "setns: Operation not permitted")

    def attached(self: Any, *args: Any) -> Any:
        self.attachment = Attachment()
        return None, "198.18.0.2/24", None, None, None  # no link: building the layers fails

    monkeypatch.setattr(stack_mod.PyStack, "_attach", attached)
    with pytest.raises(AttributeError):  # the first error, not the clean-up's
        stack_mod.PyStack(interface="eth7")
    assert "closing eth7 after a failed PyStack() failed too" in caplog.text


# -- the command line --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "echo", "--port", "99999"], "argument --port/-p: 99999 is not a port (1-65535)"),
        (["serve", "echo", "--port", "0"], "argument --port/-p: 0 is not a port (1-65535)"),
        (["serve", "echo", "--port", "seven"], "argument --port/-p: seven is not a port (1-65535)"),
        (["serve", "echo", "--tap", "tap0", "--ip", "198.18.0.2"],
         "argument --ip: 198.18.0.2 is not an IPv4 address with a prefix (a.b.c.d/prefix)"),
        (["serve", "echo", "--gateway", "198.18.0.256"],
         "argument --gateway: 198.18.0.256 is not an IPv4 address (a.b.c.d)"),
        (["serve", "echo", "--mac", "02-00-00-00-00-01"],
         "argument --mac: 02-00-00-00-00-01 is not a MAC address (xx:xx:xx:xx:xx:xx)"),
        (["serve", "echo", "--mtu", "67"], "argument --mtu: 67 is not an MTU (68-65535)"),
        (["ping", "198.18.0.1.5"], "argument host: 198.18.0.1.5 is not an IPv4 or IPv6 address"),
        (["ping", "198.18.0.1", "-c", "0"], "argument --count/-c: 0 is not a positive integer"),
        (["ping", "198.18.0.1", "-W", "-1"],
         "argument --timeout/-W: -1 is not a positive number"),
        (["get", "http://198.18.0.1:99999/"],
         "argument url: http://198.18.0.1:99999/: 99999 is not a port (1-65535)"),
        (["get", "http://files.lab/"],
         "argument url: http://files.lab/: 'files.lab' is not an IPv4 address (a.b.c.d)"),
        (["get", "ftp://198.18.0.1/"],
         "argument url: ftp://198.18.0.1/ is not an http://HOST[:PORT]/PATH URL"),
    ],
)  # fmt: skip
def test_the_cli_refuses_a_bad_value_before_making_a_stack(
    nothing_opens: None, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"usage: pystack {argv[0]} ")
    assert err[-1] == f"pystack {argv[0]}: error: {message}"


@pytest.mark.parametrize(
    ("raised", "status", "line"),
    [
        (PrivilegeError("opening TAP device 'tap0'", "root or CAP_NET_ADMIN"), 1,
         "pystack serve: error: opening TAP device 'tap0' needs root or CAP_NET_ADMIN"),
        (ValueError("no default route: name a device (tap= or interface=)"), 2,
         "pystack serve: error: no default route: name a device (tap= or interface=)"),
        (OSError(errno.ENODEV, "No such device"), 1,
         "pystack serve: error: cannot attach to tap0: No such device"),
    ],
)  # fmt: skip
def test_an_attachment_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    raised: Exception, status: int, line: str,
) -> None:  # fmt: skip
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(stack_mod.PyStack, "__init__", fail)
    assert cli.main(["serve", "echo", "--tap", "tap0", "--ip", "198.18.0.2/24"]) == status
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""
