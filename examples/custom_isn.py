"""Custom SYN-ACK sequence number (the 2013 documentation, §2.4.4), as a session subclass.

Every connection accepted by a stack whose TCP layer uses it (``stack.tcp.session_class =
FixedIsnSession``, or ``TCPLayer(session_class=FixedIsnSession)``) answers SYNs with
sequence number 5555.
Run ``python examples/custom_isn.py`` to see the SYN-ACK on a simulated wire.
"""

from __future__ import annotations

from typing import Any

from pystack.layers.tcp_session import TCPSession
from pystack.wire.seqnum import SeqNum


class FixedIsnSession(TCPSession):
    def choose_isn(self, **kw: Any) -> None:
        self.iss = SeqNum(5555)


if __name__ == "__main__":
    from pystack.testing.harness import TcpHarness, tcpdump

    h = TcpHarness("LISTEN", session_class=FixedIsnSession)
    h.send("S", seq=1000, mss=1460)
    for segment in h.take():
        print(tcpdump(segment))
