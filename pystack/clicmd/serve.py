"""``pystack serve echo|discard|chargen``: the classic small TCP servers, over the stack."""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet.task import LoopingCall

from pystack.apps.tcp_application import TCPApplication
from pystack.clicmd import _attach

PORTS = {"echo": 7, "discard": 9, "chargen": 19}
CHARGEN_INTERVAL = 0.01  # seconds between bursts of lines


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack serve``."""
    parser = sub.add_parser(
        "serve",
        help="run an echo, discard or chargen TCP server on the stack until Ctrl+C",
        description="Run a small TCP server on the stack until Ctrl+C: echo (RFC 862, sends "
        "back what it gets), discard (RFC 863, reads and drops), chargen (RFC 864, sends "
        "lines of characters until the client closes). Example in a lab: "
        "`ip netns exec pslab-s pystack serve echo -i s0 --ip 198.18.0.2/24`.",
    )
    parser.add_argument("service", choices=sorted(PORTS), help="which server")
    parser.add_argument(
        "--port", "-p", type=_attach.port, help="TCP port, 1-65535 (default: 7, 9 or 19)"
    )
    parser.add_argument(
        "--fastopen",
        dest="fastopen_mode",
        action="store_const",
        const="server",
        default=False,
        help="TCP Fast Open (RFC 7413): give clients cookies and take the data of a SYN "
        "that carries a valid one",
    )
    _attach.add_options(parser)
    _attach.add_personality_option(parser)
    parser.set_defaults(func=run)


def chargen_lines(start: int, count: int) -> bytes:
    """RFC 864's rotating 72-character lines of printable ASCII."""
    chars = bytes(range(32, 127))
    return b"".join(
        bytes(chars[(start + n + i) % len(chars)] for i in range(72)) + b"\r\n"
        for n in range(count)
    )


class Echo(TCPApplication):
    """RFC 862: sends back what it receives."""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.send_packet(packet)


class Discard(TCPApplication):
    """RFC 863: reads and drops."""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        pass


class Chargen(TCPApplication):
    """RFC 864: sends lines of characters until the client closes."""

    def connection_made(self) -> None:
        self._line = 0
        self._loop = LoopingCall(self._burst)
        self._loop.start(CHARGEN_INTERVAL)

    def _burst(self) -> None:
        self.send_packet(chargen_lines(self._line, 16))
        self._line += 16

    def connection_lost(self, reason: object = None) -> None:
        if getattr(self, "_loop", None) is not None and self._loop.running:
            self._loop.stop()


SERVERS: dict[str, type[TCPApplication]] = {"echo": Echo, "discard": Discard, "chargen": Chargen}


def app_class(service: str) -> type[TCPApplication]:
    """The application class of ``service`` (``"echo"``, ``"discard"`` or ``"chargen"``)."""
    return SERVERS[service]


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl+C or SIGTERM."""
    port = args.port if args.port is not None else PORTS[args.service]
    with _attach.attached_stack(args) as stack:
        server = app_class(args.service)()
        stack.register_tcp_application(server)
        server.bind(port, app=server, newinstance=True)
        server.listen(16)
        print(f"{args.service} server on {stack.address}:{port}; Ctrl+C to stop", flush=True)
        stack.run(doreactor=True)
    return 0
