"""TCP Fast Open (RFC 7413): the request rides on the SYN, one round trip saved.

Two stacks on a simulated wire with ``TcpConfig(fastopen=True)``, no root needed::

    python examples/fast_open.py
    python examples/fast_open.py --delay 0.05 --connections 3
    python examples/fast_open.py --bad-cookie

The client connects to the server a few times and sends a request at once. The first
connection asks for a cookie (an empty Fast Open option on its SYN) and gets one on the
SYN,ACK; every later connection sends the cookie and the request in its SYN, and the
server's application reads it before the handshake completes. For each connection the
program prints the SYN and SYN,ACK as they crossed the wire, the state of the server's
connection when the request reached its application, and the time from connect() to the
answer, then the time of a connection without Fast Open. ``--bad-cookie`` starts the
client with a cookie the server never gave: the server takes only the SYN, the client
sends the request again after the handshake, and the fresh cookie of that SYN,ACK makes
the next connection fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet, WireTap
from pystack.tcp.config import TcpConfig
from pystack.tcp.fastopen import FastOpenState, fastopen_option
from pystack.wire import tcp as tcpwire

PORT = 80
SYN, ACK = tcpwire.SYN, tcpwire.ACK


class Server(TCPApplication):
    """Answers each request, and notes the connection's state when it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.seen_in: list[str] = []

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.seen_in.append(self.sessions[kwargs["id"]].state)
        self.send_packet(b"200 OK: " + packet, **kwargs)


def describe(seg: tcpwire.TcpSegment) -> str:
    """One segment: its flags, Fast Open option and payload size."""
    option = fastopen_option(seg)
    if option is None:
        tfo = "no Fast Open option"
    elif option.is_request:
        tfo = "cookie request"
    else:
        tfo = f"cookie {option.cookie.hex()}"
    return f"{seg.flags_str:<4} {tfo:<30} {len(seg.payload):>3} bytes of data"


def one_connection(net: SimNet, tap: WireTap, server: Server, request: bytes) -> list[str]:
    """Connect, send ``request`` at once, wait for the answer; what crossed the wire."""
    client = TCPApplication()
    net.a.register_tcp_application(client)
    answer = bytearray()
    client.packet_received = lambda data, **kw: answer.extend(data)  # type: ignore[method-assign]
    before = len(tap.ip())
    start = net.now()
    client.connect_deferred(str(net.b.address), PORT)
    client.send_packet(request)
    net.run_until(lambda: answer.endswith(request), 30)
    took = net.now() - start
    client.close()
    net.advance(1)
    lines = []
    for packet in tap.ip()[before:]:
        seg = tcpwire.parse(packet.payload)
        if seg.flags & SYN:
            who = "client" if packet.src == str(net.a.address) else "server"
            lines.append(f"  {who}: {describe(seg)}")
    lines.append(
        f"  server read the request in {server.seen_in[-1]}; answer after {took * 1000:.0f} ms"
    )
    return lines


def run(connections: int, delay: float, bad_cookie: bool, fastopen: bool = True) -> list[str]:
    """The report of ``connections`` connections over a wire of one-way ``delay``."""
    out = []
    with SimNet(2, delay=delay, tcp=TcpConfig(fastopen=fastopen)) as net:
        tap = WireTap(net)
        server = Server()
        net.b.register_tcp_application(server)
        server.bind(PORT, app=server)
        server.listen(8)
        if bad_cookie:
            state = FastOpenState.of(net.a.tcp)
            assert state is not None
            state.cache.put(str(net.b.address), b"not-given", 1460)
        for n in range(1, connections + 1):
            out.append(f"connection {n}:")
            out += one_connection(net, tap, server, b"GET /%d" % n)
        taken = net.a.stats.get("tcp", "fastopen_active")
        out.append(f"client: {taken} requests taken in the SYN")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2, help="connections (2)")
    parser.add_argument("--delay", type=float, default=0.01, help="one-way delay, s (0.01)")
    parser.add_argument("--bad-cookie", action="store_true",
                        help="start the client with a cookie the server never gave")  # fmt: skip
    args = parser.parse_args(argv)
    if args.connections < 1 or args.delay < 0:
        parser.error("--connections must be >= 1 and --delay >= 0")
    print("\n".join(run(args.connections, args.delay, args.bad_cookie)))
    print("without Fast Open, for comparison:")
    print("\n".join(run(2, args.delay, False, fastopen=False)[-2:-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
