"""TCP client (the 2013 PyStack's example): connect, send a request, read the answer.

Fetch a page from a web server on the kernel side of a TAP device (root)::

    python examples/tcp_client.py --tap tap0 --ip 198.18.0.2/24 198.18.0.1 80

The stack runs in its background thread (``stack.run(doreactor=False)``) so that the
program can block in ``connect``; the application's calls made from this thread are
handed to the reactor thread by the stack itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.device_options import add_options, make_stack


def fetch(stack: Any, host: str, port: int, request: bytes, wait: float = 10.0) -> bytes:
    """Send ``request`` to ``host:port`` and return what came back until the server closed
    (or ``wait`` seconds passed). Call it from another thread than the reactor's."""
    conn = TCPApplication()
    stack.register_tcp_application(conn)
    if not conn.connect(host, port, timeout=wait):
        raise ConnectionError(f"could not connect to {host}:{port}")
    conn.send_packet(request)
    answer = bytearray()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        answer += conn.fetch_data()
        if conn.eof or conn.close_reason is not None:
            answer += conn.fetch_data()
            break
        time.sleep(0.02)
    conn.close()
    return bytes(answer)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int, nargs="?", default=80)
    parser.add_argument("--request", default="GET / HTTP/1.0\r\n\r\n")
    add_options(parser)
    args = parser.parse_args(argv)
    stack = make_stack(args)
    stack.run(doreactor=False)
    try:
        answer = fetch(stack, args.host, args.port, args.request.encode())
        sys.stdout.write(answer.decode("latin-1"))
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
