"""A covert channel in TCP headers, through the session hooks on_segment_out / on_segment_in.

Every segment a `CovertSession` sends carries one byte of a secret in the TCP urgent
pointer while the URG flag is off: receivers ignore that field then (RFC 9293 §3.1 gives
it meaning only with URG), so the connection works as usual with any peer, and a peer
running `CovertSession` reads the hidden bytes. The cover traffic is ordinary data.

Without options, two stacks on a simulated wire (no root)::

    python examples/covert_channel.py --secret "meet at dawn"

On a real device, a receiver and a sender (both PyStack, e.g. one per TAP in two labs)::

    python examples/covert_channel.py --tap tap0 --ip 198.18.0.2/24 listen --port 9000
    python examples/covert_channel.py --tap tap1 --ip 198.18.1.2/24 send 198.18.0.2 9000 \\
        --secret "meet at dawn"
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.layers.ip_meta import IpMeta
from pystack.tcp.session import TCPSession
from pystack.wire.tcp import SYN, URG, TcpSegment

MARK = 0x100  # set in the urgent pointer of a segment that carries a byte


class CovertSession(TCPSession):
    """Hides ``outbox`` bytes in outgoing segments and collects them into ``inbox``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = bytearray()
        self.inbox = bytearray()

    def on_segment_out(self, segment: TcpSegment) -> TcpSegment:
        # Not in the SYN: a listener, not this connection, would read that one.
        if self.outbox and not segment.flags & (URG | SYN):
            return dataclasses.replace(segment, urgent=MARK | self.outbox.pop(0))
        return segment

    def on_segment_in(self, segment: TcpSegment, meta: IpMeta) -> None:
        if not segment.flags & URG and segment.urgent & MARK:
            self.inbox.append(segment.urgent & 0xFF)
        # The connection then processes the segment as usual.


def use_covert_sessions(stack: Any) -> None:
    """Make every new connection and listener of ``stack`` a `CovertSession`."""
    stack.tcp.session_class = CovertSession


class Cover(TCPApplication):
    """Echoes the cover text back (so both directions have segments to carry bytes)."""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.send_packet(packet, **kwargs)


def hide(session: Any, secret: bytes) -> None:
    """Queue ``secret`` on ``session``'s next outgoing segments."""
    session.outbox += secret


def simulated(secret: bytes, say: Callable[[str], None] = print) -> bytes:
    """Send ``secret`` from stack a to stack b hidden under cover text; return what b read."""
    from pystack.sim import SimNet

    with SimNet(2, seed=5) as net:
        for stack in net.stacks:
            use_covert_sessions(stack)
        server = Cover()
        net.b.register_tcp_application(server)
        server.bind(9000, server, True)
        server.listen(5)
        client = TCPApplication()
        net.a.register_tcp_application(client)
        assert net.wait(client.connect_deferred("198.18.0.2", 9000), 5)
        session = client.session
        hide(session, secret)
        for word in b"an entirely innocent conversation about the weather".split():
            client.send_packet(word + b" ")
            net.advance(0.5)
        child = next(iter(net.b.tcp.connections.values()))
        say(f"cover text echoed: {client.fetch_data().decode()!r}")
        say(f"hidden bytes read by the server: {bytes(child.inbox)!r}")
        return bytes(child.inbox)


def main(argv: Sequence[str] | None = None, say: Callable[[str], None] = print) -> int:
    from pystack.device_options import add_options, make_stack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", nargs="?", choices=["listen", "send"])
    parser.add_argument("host", nargs="?")
    parser.add_argument("port", nargs="?", type=int, default=9000)
    parser.add_argument("--port", dest="listen_port", type=int, default=9000)
    parser.add_argument("--secret", default="meet at dawn")
    add_options(parser)
    args = parser.parse_args(argv)
    if not (args.tap or args.interface):
        simulated(args.secret.encode(), say)
        return 0
    return real(args, make_stack(args), say)


def real(args: argparse.Namespace, stack: Any, say: Callable[[str], None]) -> int:
    """Listen for hidden bytes, or send some, on a stack attached to a real device."""
    use_covert_sessions(stack)
    if args.role == "listen":
        server = Cover()
        stack.register_tcp_application(server)
        server.bind(args.listen_port, server, True)
        server.listen(5)
        stack.clock.addSystemEventTrigger("before", "shutdown", _report, stack, say)
        stack.run(doreactor=True)
        return 0
    from pystack.reactor import blocking_call

    stack.run(doreactor=False)
    try:
        client = TCPApplication()
        stack.register_tcp_application(client)
        if not client.connect(args.host, args.port, timeout=10):
            raise ConnectionError(f"cannot connect to {args.host}:{args.port}")
        blocking_call(hide, client.session, args.secret.encode(), _reactor=stack.clock)
        for word in b"an entirely innocent conversation about the weather".split():
            client.send_packet(word + b" ")
        client.close()
    finally:
        stack.stop()
    return 0


def _report(stack: Any, say: Callable[[str], None]) -> None:
    for session in stack.tcp.connections.values():
        say(f"{session.remote_ip}:{session.remote_port} hid {bytes(session.inbox)!r}")


if __name__ == "__main__":
    sys.exit(main())
