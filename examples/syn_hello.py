"""Add a transition: a "hello" TCP option negotiated on the SYN, as a session subclass.

The client offers an experimental option (kind 253 with a 16-bit ExID, RFC 6994) on its
SYN; a listener whose session class understands it answers with the same option on its
SYN,ACK, and both connections record ``hello_negotiated``. A peer that does not know the
option ignores it (RFC 9293 §3.1) and the connection opens as usual. Two stacks on a
simulated wire, no root needed::

    python examples/syn_hello.py

prints, for each pairing of a hello-speaking and a plain stack, the options of the SYN and
SYN,ACK on the wire and what each end negotiated. Render the extended machine with
``PYTHONPATH=examples pystack diagrams --class syn_hello:HelloSession --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from typing import Any

from pystack.sim import SimNet, WireTap
from pystack.tcp.session import TCPSession
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import TcpOption, UnknownOption

# RFC 6994 §3: kinds 253 and 254 are shared by experiments, told apart by an ExID in the
# first bytes of the option's data. This ExID is made up for the example: a real
# experiment registers its own with IANA.
HELLO_KIND = 253
HELLO_EXID = 0x4845
HELLO = UnknownOption(HELLO_KIND, HELLO_EXID.to_bytes(2, "big"))

# Two transitions tried before the base ones (prepend): when the peer's SYN or SYN,ACK
# carries the option, the same edge as the base one is taken with one more hook. Without
# it, the condition fails and the base transition runs as before.
HELLO_MACHINE = """
[[transitions]]
trigger = "rcv_syn"
source = "LISTEN"
dest = "SYN_RECEIVED"
conditions = ["accept_connection", "peer_sent_hello"]
hooks = ["choose_isn", "accept_hello", "send_synack"]
prepend = true
extension = true
reason = "RFC 6994 experimental option: a SYN that offers hello gets it back on the SYN,ACK."
doc = "A SYN offering the hello option: accept it and answer SYN,ACK with it."
rfc = "RFC 6994 §3"

[[transitions]]
trigger = "rcv_synack"
source = "SYN_SENT"
dest = "ESTABLISHED"
conditions = ["peer_sent_hello"]
hooks = ["accept_hello", "send_ack"]
prepend = true
extension = true
reason = "RFC 6994 experimental option: the server answered our hello, so both ends use it."
doc = "A SYN,ACK that answers our hello: the option is negotiated."
rfc = "RFC 6994 §3"

[hooks]
peer_sent_hello = "Condition: the segment (keyword segment) carries the hello option."
accept_hello = "Hook: record that the hello option is negotiated (hello_negotiated)."
"""


def carries_hello(segment: tcpwire.TcpSegment) -> bool:
    """Whether ``segment`` carries the hello option (kind 253 with our ExID)."""
    return any(opt == HELLO for opt in segment.options)


class HelloSession(TCPSession, extend=tomllib.loads(HELLO_MACHINE)):
    """A TCP connection that offers and answers the hello option on the handshake."""

    hello_negotiated = False
    """True once both ends sent the hello option on their SYN and SYN,ACK."""

    def peer_sent_hello(self, *, segment: tcpwire.TcpSegment, **kw: Any) -> bool:
        return carries_hello(segment)

    def accept_hello(self, **kw: Any) -> None:
        self.hello_negotiated = True

    def extra_syn_options(self, flags: int) -> tuple[TcpOption, ...]:
        # Offer on every SYN; on a SYN,ACK only answer a SYN that offered it.
        if flags & tcpwire.ACK and not self.hello_negotiated:
            return ()
        return (HELLO,)


def handshake(client_class: type[TCPSession], server_class: type[TCPSession]) -> dict[str, Any]:
    """Connect a stack using ``client_class`` to one using ``server_class`` and send a few
    bytes: what each end negotiated, whether the bytes arrived, and whether the SYN and
    the SYN,ACK seen on the wire carried the option."""
    with SimNet(2) as net:
        tap = WireTap(net)
        net.a.tcp.session_class = client_class
        net.b.tcp.session_class = server_class
        client, server = net.connect_tcp(7)  # server: the listening application
        client.send_packet(b"hello?")
        got = bytearray()
        net.run_until(lambda: got.extend(server.fetch_data()) or bytes(got) == b"hello?")
        segments = [tcpwire.parse(packet.payload) for packet in tap.ip()]
        syn = [s for s in segments if s.flags & tcpwire.SYN and not s.flags & tcpwire.ACK]
        synack = [s for s in segments if s.flags & tcpwire.SYN and s.flags & tcpwire.ACK]
        return {
            "syn_has_hello": carries_hello(syn[0]),
            "synack_has_hello": carries_hello(synack[0]),
            "client_negotiated": getattr(client.session, "hello_negotiated", False),
            "server_negotiated": any(
                getattr(conn, "hello_negotiated", False) for conn in server.sessions.values()
            ),
            "data": bytes(got),
        }


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    pairs = [(HelloSession, HelloSession), (HelloSession, TCPSession), (TCPSession, HelloSession)]
    for client_class, server_class in pairs:
        seen = handshake(client_class, server_class)
        print(f"{client_class.__name__} -> {server_class.__name__}: " + ", ".join(
            f"{key}={value}" for key, value in seen.items()))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
