"""A UDP echo server and client on two stacks joined by a simulated wire (no root needed).

The wire loses 10 % of the frames, so the client sends each word again until its echo
comes back. It takes no options::

    python examples/udp_echo.py
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from pystack.apps.udp_application import UDPApplication
from pystack.sim import SimNet


class EchoServer(UDPApplication):
    """Sends every datagram back where it came from."""

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.sendto(packet, (kwargs["IP"].src, kwargs["UDP"].src_port))


def main(argv: Sequence[str] | None = None) -> list[tuple[bytes, tuple[str, int]]]:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    net = SimNet(2, loss=0.1, seed=3)  # 10 % of frames are lost: the client retries
    server, client = EchoServer(), UDPApplication()
    net.b.register_udp_application(server)
    net.a.register_udp_application(client)
    server.bind(7)
    replies = []
    for word in (b"hello", b"from", b"pystack"):
        for _ in range(10):
            client.sendto(word, ("198.18.0.2", 7))
            if net.run_until(lambda: client.data, max_time=0.5):
                break
        reply = client.recvfrom()
        if reply is not None:
            print(f"{reply[1][0]}:{reply[1][1]} echoed {reply[0]!r}")
            replies.append(reply)
    return replies


if __name__ == "__main__":
    main()
