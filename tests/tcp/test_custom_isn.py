"""The seed's custom SYN-ACK sequence number (§2.4.4) as a five-line subclass."""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

from pystack.testing.harness import TcpHarness, TcpPair

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "custom_isn.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("custom_isn", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synack_carries_seq_5555() -> None:
    session_class = load_example().FixedIsnSession
    h = TcpHarness("LISTEN", session_class=session_class)
    h.send("S", seq=1000, mss=1460)
    h.recv(h.expect("S.", seq=5555, ack=1001, mss=1460))
    h.send(".", seq=1001, ack=5556)
    assert h.state == "ESTABLISHED"


def test_accepted_connections_of_a_server_use_the_subclass() -> None:
    session_class = load_example().FixedIsnSession
    pair = TcpPair(session_class=session_class)
    seen: list[int] = []

    def note(src: Any, dst: Any, data: bytes) -> bool:
        seen.append(int.from_bytes(data[4:8]))
        return True

    pair.wire.filter = note
    from helpers.tcp_pairs import connect_pair

    _client, _server = connect_pair(pair)
    assert 5555 in seen


def test_on_segment_out_override_gets_scapy_and_rewrites() -> None:
    from pystack.tcp.session import TCPSession

    class Marker(TCPSession):
        def on_segment_out(self, segment: Any) -> Any:
            packet = self.to_scapy(segment)
            packet["TCP"].urgptr = 4242
            return packet

    h = TcpHarness("ESTABLISHED", session_class=Marker)
    h.session.send(b"hi")
    (seg,) = h.take()
    assert seg.urgent == 4242 and seg.payload == b"hi"
