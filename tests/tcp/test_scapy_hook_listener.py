"""Regression: a subclass overriding on_segment_in also sees the SYNs of its listeners
(the listener has no remote address yet; building the scapy packet used to raise)."""

from __future__ import annotations

from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet
from pystack.tcp.session import TCPSession


class Watching(TCPSession):
    seen: list[tuple[str, str, str]] = []

    def on_segment_in(self, segment: Any, meta: Any) -> None:
        packet = self.to_scapy(segment, meta)
        Watching.seen.append((packet["IP"].src, packet["IP"].dst, str(packet["TCP"].flags)))


def test_listener_with_on_segment_in_accepts_and_sees_the_syn() -> None:
    Watching.seen = []
    with SimNet(2, seed=1) as net:
        net.b.tcp.session_class = Watching
        server = TCPApplication()
        net.b.register_tcp_application(server)
        server.bind(9000)
        server.listen(5)
        client = TCPApplication()
        net.a.register_tcp_application(client)
        assert net.b.address is not None
        assert net.wait(client.connect_deferred(net.b.address, 9000), 5) is True
    assert Watching.seen[0] == ("198.18.0.1", "198.18.0.2", "S")
