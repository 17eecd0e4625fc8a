"""TCP echo server (the 2013 PyStack's example): a `TCPApplication` replying what it gets.

Run it on a TAP device (root; the kernel side of the TAP reaches it), then talk to it::

    python examples/echo_server.py --tap tap0 --ip 198.18.0.2/24 --port 8888
    nc 198.18.0.2 8888        # from the kernel side, e.g. `pystack lab exec -- nc ...`

``--interface IF`` attaches to an existing interface instead (see ``pystack serve --help``
for every attachment option). Ctrl+C stops the stack and removes what it installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.device_options import add_options, make_stack


class EchoServer(TCPApplication):
    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.send_packet(packet, **kwargs)  # kwargs["id"] names the client: reply to it


def serve(stack: Any, port: int = 8888) -> EchoServer:
    """Listen on ``port`` of ``stack``; every client shares one EchoServer."""
    echoserver = EchoServer()
    stack.register_tcp_application(echoserver)
    echoserver.bind(port, echoserver, False)
    echoserver.listen(5)
    return echoserver


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8888)
    add_options(parser)
    args = parser.parse_args(argv)
    stack = make_stack(args)
    serve(stack, args.port)
    print(f"echo server on {stack.address}:{args.port}; Ctrl+C to stop")
    stack.run(doreactor=True)  # blocks; Ctrl+C calls stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
