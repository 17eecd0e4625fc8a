"""Web server (the 2013 PyStack's example): twisted.web serving a directory over the stack.

The 2013 PyStack made its transport by hand around a private Twisted mixin; here twisted.web's
``Site`` runs unchanged on `pystack.twisted.PystackServerEndpoint`. On a TAP device
(root), serving the current directory, fetched with curl from the kernel side::

    python examples/web_server.py --tap tap0 --ip 198.18.0.2/24 --port 8080 --path .
    curl -o copy.bin http://198.18.0.2:8080/file.bin

Twisted's own tool does the same through the endpoint string plugin::

    twist web --listen pystack:8080:tap=tap0:ip=198.18.0.2/24 --path .
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from twisted.web.server import Site
from twisted.web.static import File

from pystack.device_options import add_options, make_stack
from pystack.twisted import PystackServerEndpoint


def site(directory: str) -> Site:
    """A twisted.web site serving the files under ``directory``."""
    return Site(File(os.path.abspath(directory)))


def serve(stack: Any, directory: str, port: int = 8080) -> Any:
    """Listen on ``port`` of ``stack``: a Deferred firing with the listening port.
    Call it in the thread that runs the stack's clock."""
    return PystackServerEndpoint(stack, port).listen(site(directory))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--path", default=".", help="directory to serve (default: .)")
    add_options(parser)
    args = parser.parse_args(argv)
    stack = make_stack(args)
    serve(stack, args.path, args.port)
    print(f"serving {os.path.abspath(args.path)} on http://{stack.address}:{args.port}/")
    stack.run(doreactor=True)  # blocks until Ctrl+C
    return 0


if __name__ == "__main__":
    sys.exit(main())
