"""SYN-RECEIVED (RFC 9293 §3.10.7.4)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from pystack.tcp.config import TcpDrop
from pystack.tcp.session import TCPSession
from pystack.testing.harness import TcpHarness


def test_ack_of_syn_establishes() -> None:
    h = TcpHarness("SYN_RECEIVED")
    h.send(".", seq=h.remote(1), ack=h.local(1))
    assert h.state == "ESTABLISHED"


def test_bad_ack_gets_reset() -> None:
    h = TcpHarness("SYN_RECEIVED")
    h.send(".", seq=h.remote(1), ack=h.local(9))
    h.recv(h.expect("R", seq=h.local(9)))
    assert h.state == "SYN_RECEIVED"
    assert h.drops[TcpDrop.BAD_ACK_SYN_RECEIVED] == 1


class Recording(TCPSession):
    """Logs every transition of every instance, from its construction on."""

    log: ClassVar[list[tuple[int, str, str, str]]] = []

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        super().on_state_change(old, trigger, new)
        Recording.log.append((id(self), old, trigger, new))


@pytest.mark.requirement("RFC9293:MUST-11")
def test_rst_of_a_passive_open_discards_the_child_and_the_listener_stays() -> None:
    # RFC 9293 §3.10.7.4: a passive open's SYN-RECEIVED "returns to LISTEN" on RST. The
    # listener never left LISTEN; the child it spawned is discarded by a declared edge.
    h = TcpHarness("LISTEN")
    listener = h.session
    h.send("S", seq=h.remote(0))
    child = h.session
    h.send("R", seq=h.remote(1))
    assert h.transitions[-1] == ("SYN_RECEIVED", "rcv_rst", "CLOSED")
    assert child.state == "CLOSED" and child in h.host.forgotten
    assert listener.state == "LISTEN" and listener.half_open == 0
    assert listener.user is None and child.user is None  # nobody is told


def test_a_child_is_spawned_by_a_declared_edge_only_a_child_can_take() -> None:
    Recording.log.clear()
    h = TcpHarness("LISTEN", session_class=Recording)
    h.send("S", seq=h.remote(0))
    child = h.session
    mine = [(old, trigger, new) for who, old, trigger, new in Recording.log if who == id(child)]
    assert mine == [("CLOSED", "spawned", "LISTEN"), ("LISTEN", "rcv_syn", "SYN_RECEIVED")]
    assert child.fsm.spec.edges() >= {("CLOSED", "spawned", "LISTEN")}
    # A session no listener spawned (not passive) cannot take the edge.
    alone = TCPSession(h.host, local_ip="198.18.0.1", local_port=7)
    assert not alone.fire("spawned") and alone.state == "CLOSED"


def test_retransmitted_syn_gets_the_synack_again() -> None:
    h = TcpHarness("LISTEN")
    h.send("S", seq=h.remote(0))
    h.take()
    h.send("S", seq=h.remote(0))
    h.recv(h.expect("S.", seq=h.local(0), ack=h.remote(1)))


def test_data_with_the_ack_is_delivered() -> None:
    h = TcpHarness("SYN_RECEIVED")
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"early")
    assert h.state == "ESTABLISHED"
    assert h.session.read() == b"early"
