"""Socket module hijacking (the 2013 PyStack's example): unmodified urllib over the stack.

Inside ``pystack.pystack_socket.hijack(stack)`` the standard library's sockets are the
stack's, so ``urllib.request`` fetches a page without knowing. From a TAP device (root),
with ``python3 -m http.server 8000`` running on the kernel side::

    python examples/socket_hijack.py --tap tap0 --ip 198.18.0.2/24 http://198.18.0.1:8000/
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from collections.abc import Sequence
from typing import Any

import pystack.pystack_socket
from pystack.device_options import add_options, make_stack


def fetch(stack: Any, url: str, timeout: float = 30.0) -> bytes:
    """The body at ``url``, fetched by urllib through ``stack``."""
    with pystack.pystack_socket.hijack(stack), urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("-o", "--output", help="write the body here (default: its sha256)")
    add_options(parser)
    args = parser.parse_args(argv)
    stack = make_stack(args)
    stack.run(doreactor=False)
    try:
        body = fetch(stack, args.url)
    finally:
        stack.stop()
    if args.output:
        with open(args.output, "wb") as f:
            f.write(body)
    print(f"{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
