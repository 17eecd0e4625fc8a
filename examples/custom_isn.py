"""Custom SYN-ACK sequence number (the 2013 PyStack's example), as a session subclass.

Every connection accepted by a stack whose TCP layer uses it (``stack.tcp.session_class =
FixedIsnSession``, or ``TCPLayer(session_class=FixedIsnSession)``) answers SYNs with
sequence number 5555. Without root, on a test harness (no options)::

    python examples/custom_isn.py

prints the SYN-ACK a listener of this class sends for a SYN, as tcpdump would.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pystack.tcp.session import TCPSession
from pystack.wire.seqnum import SeqNum


class FixedIsnSession(TCPSession):
    def choose_isn(self, **kw: Any) -> None:
        self.iss = SeqNum(5555)


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    from pystack.testing.harness import TcpHarness, tcpdump

    h = TcpHarness("LISTEN", session_class=FixedIsnSession)
    h.send("S", seq=1000, mss=1460)
    for segment in h.take():
        print(tcpdump(segment))
    return 0


if __name__ == "__main__":
    sys.exit(main())
