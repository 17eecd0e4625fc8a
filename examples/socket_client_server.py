"""Client and server with the socket module work-alike (the 2013 PyStack's example).

``import pystack.pystack_socket as socket`` and write socket code as usual; the stack to
use is given once with ``socket.use_stack(stack)``. Serve on a TAP device (root)::

    python examples/socket_client_server.py server --tap tap0 --ip 198.18.0.2/24 --port 5555

or connect to a server on the kernel side (``nc -l 5555`` there)::

    python examples/socket_client_server.py client 198.18.0.1 --tap tap0 --ip 198.18.0.2/24
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pystack.pystack_socket as socket
from pystack.device_options import add_options, make_stack


def client(host: str, port: int, message: bytes = b"Hello, world\n") -> bytes:
    """Send ``message``, half-close, and return everything the server answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(message)
        s.shutdown(socket.SHUT_WR)
        answer = bytearray()
        while chunk := s.recv(1024):
            answer += chunk
    return bytes(answer)


def listen(port: int) -> socket.socket:
    """A listening socket on every address of the stack."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("", port))
    s.listen(2)
    return s


def serve_one(listener: socket.socket) -> tuple[str, int]:
    """Accept one client, answer each of its lines upper-cased, return its address."""
    cli, addr = listener.accept()
    with cli, cli.makefile("rb") as lines:
        for line in lines:
            cli.sendall(line.upper())
    return addr


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=["client", "server"])
    parser.add_argument("host", nargs="?", default="198.18.0.1")
    parser.add_argument("--port", type=int, default=5555)
    add_options(parser)
    args = parser.parse_args(argv)
    stack = make_stack(args)
    stack.run(doreactor=False)
    socket.use_stack(stack)
    try:
        if args.role == "client":
            print("Received", repr(client(args.host, args.port)))
        else:
            with listen(args.port) as listener:
                while True:
                    print("served", serve_one(listener))
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
