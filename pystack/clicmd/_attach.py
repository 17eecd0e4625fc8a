"""Attachment options shared by ``serve``, ``ping`` and ``get``, building the stack, and
the argument types that check values before anything is created."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from pystack import errors
from pystack.errors import PrivilegeError

USAGE_ERROR = 2  # argparse's exit status for a bad argument
RUN_ERROR = 1  # the command could not do its job (a missing privilege, an absent device)


class CommandError(Exception):
    """A command cannot go on; ``pystack`` prints ``pystack CMD: error: MESSAGE`` as one
    line and exits with ``status``."""

    def __init__(self, message: str, status: int = RUN_ERROR) -> None:
        super().__init__(message)
        self.status = status


def _argument_type(check: Callable[[Any], Any], convert: Callable[[str], Any], name: str) -> Any:
    """An argparse ``type=``: ``convert`` the text, then ``check`` it; argparse prints the
    ValueError's message as ``error: argument --X: MESSAGE`` and exits before the command
    runs, so a bad value creates nothing."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = text  # the check names what was expected
        try:
            return check(value)
        except ValueError as exc:
            message = str(exc)  # "<repr of the value> is not ...": name it as typed
            if message.startswith(repr(value)):
                message = text + message[len(repr(value)) :]
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def _int(text: str) -> int:
    return int(text, 10)


def _positive(value: Any) -> float:
    if isinstance(value, str) or not value > 0:
        raise ValueError(f"{value!r} is not a positive number")
    return float(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, str) or not value > 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return int(value)


port = _argument_type(errors.check_port, _int, "port")
mtu = _argument_type(errors.check_mtu, _int, "mtu")
cidr = _argument_type(errors.check_cidr, str, "cidr")
ipv4 = _argument_type(errors.check_address, str, "ipv4")
cidr6 = _argument_type(errors.check_cidr6, str, "cidr6")
ip_any = _argument_type(errors.check_ip, str, "ip")
mac = _argument_type(errors.check_mac, str, "mac")
positive = _argument_type(_positive, float, "positive")
positive_int = _argument_type(_positive_int, _int, "positive_int")


def add_options(parser: argparse.ArgumentParser) -> None:
    """--tap/--interface, --ip, --ip6, --gateway, --mac, --mtu, --pcap and --offloads."""
    where = parser.add_argument_group("attachment (default: the default-route interface)")
    dev = where.add_mutually_exclusive_group()
    dev.add_argument("--tap", metavar="NAME", help="own TAP device NAME (created if missing)")
    dev.add_argument("--interface", "-i", metavar="IF", help="packet socket on interface IF")
    where.add_argument(
        "--ip",
        metavar="A.B.C.D/N",
        type=cidr,
        help="the stack's own address; without it on an interface, the stack "
        "shares the kernel's address (a netfilter rule silences the kernel)",
    )
    where.add_argument(
        "--ip6",
        metavar="ADDR/N",
        type=cidr6,
        help="an IPv6 address for the stack (e.g. 2001:db8::2/64), beside its link-local one",
    )
    where.add_argument("--gateway", metavar="A.B.C.D", type=ipv4, help="default gateway")
    where.add_argument("--mac", metavar="MAC", type=mac, help="the stack's MAC (default: random)")
    where.add_argument("--mtu", type=mtu, help="MTU, 68-65535 (default: the device's)")
    where.add_argument("--pcap", metavar="FILE", help="write every frame to FILE (pcap)")
    where.add_argument(
        "--offloads",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="checksum and TCP segmentation offloads, frames of up to 64 KB both ways "
        "(default: on where the device allows; --no-offloads: plain frames)",
    )


class _PersonalityAction(argparse.Action):
    """``--personality NAME``; ``--personality help`` lists the names and exits."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:  # fmt: skip
        from pystack import personality

        if values == "help":
            print(personality.describe())
            parser.exit(0)
        try:
            personality.resolve(values)
        except ValueError as exc:
            parser.error(f"argument --personality: {exc}")
        setattr(namespace, self.dest, values)


def add_personality_option(parser: argparse.ArgumentParser) -> None:
    """``--personality NAME``: look like that OS to nmap -O and p0f."""
    parser.add_argument(
        "--personality",
        metavar="NAME",
        action=_PersonalityAction,
        help="look like this OS to fingerprinting tools (nmap -O, p0f): linux, windows "
        "or freebsd; 'help' lists them",
    )


def make_stack(args: argparse.Namespace) -> Any:
    """A PyStack attached as the options say (the link wrapped in a capture with --pcap);
    what stops the attachment is a :class:`CommandError`."""
    from pystack.stack import PyStack

    options = {
        "tap": args.tap,
        "interface": args.interface,
        "ip": args.ip,
        "gateway": args.gateway,
        "mac": args.mac,
        "mtu": args.mtu,
    }
    if getattr(args, "ip6", None):
        options["ip6"] = args.ip6
    offloads = getattr(args, "offloads", None)
    if offloads is not None:
        options["offloads"] = offloads
    persona = getattr(args, "personality", None)
    if persona is not None:
        options["personality"] = persona
    fastopen = getattr(args, "fastopen_mode", False)  # serve/get --fastopen
    if fastopen:
        from pystack.tcp.config import TcpConfig

        options["tcp"] = TcpConfig(fastopen=fastopen)
    try:
        # PyStack wraps the link in the capture itself, after attaching, so a
        # shared-address stack still hands its kernel filter to TCP and UDP.
        return PyStack(pcap=args.pcap or None, **options)
    except PrivilegeError as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:  # options that do not fit together, or fit no device
        raise CommandError(str(exc), USAGE_ERROR) from None
    except OSError as exc:  # the device refused (absent, down, busy)
        device = args.tap or args.interface or "the default route's interface"
        raise CommandError(f"cannot attach to {device}: {exc.strerror or exc}") from None


def wait_for_ipv6(stack: Any, timeout: float = 5.0) -> None:
    """Block until duplicate address detection is over for the stack's IPv6 addresses
    (about a second after the start), so the first packet can use them."""
    import time

    from pystack.reactor import blocking_call

    deadline = time.monotonic() + timeout
    while blocking_call(lambda: bool(stack.ipv6.autoconf.tentative), _reactor=stack.clock):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


@contextlib.contextmanager
def attached_stack(args: argparse.Namespace) -> Iterator[Any]:
    """``make_stack(args)``, stopped on leaving the block however it is left."""
    stack = make_stack(args)
    try:
        yield stack
    finally:
        stack.stop()
