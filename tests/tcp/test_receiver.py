"""The receive side is a part the session owns: ``session.receiver``, replaceable through
the class setting ``receiver_class``, reaching its session only through the
`ReceiverOwner` it is given."""

from __future__ import annotations

import gc
from typing import Any

from twisted.internet.task import Clock

from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.receiver import Receiver, ReceiverOwner
from pystack.tcp.reorder import ReorderQueue
from pystack.tcp.session import TCPSession
from pystack.tcp.timers import Timer
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum


class _Timers:
    def __init__(self, clock: Clock) -> None:
        self.delack = Timer(clock, None, lambda timers, owner: None)


class _Owner:
    """Only what `ReceiverOwner` declares: no session behind it."""

    def __init__(self, *, delayed_ack: float = 0.2, ooo_limit: int = 1 << 16) -> None:
        self.clock = Clock()
        self.config = TcpConfig(delayed_ack=delayed_ack)
        self.timers = _Timers(self.clock)
        self.reorder = ReorderQueue(ooo_limit)
        self.rcv_nxt = SeqNum(1000)
        self.ooo_fin: SeqNum | None = None
        self.sack_ok = True
        self.sack_recent: list[SeqNum] = []
        self.snd_mss = 100
        self.ack_pending = 0
        self.delivered: list[bytes] = []
        self.events: list[Any] = []

    def deliver_data(self, data: bytes, **kw: Any) -> None:
        self.delivered.append(data)

    def send_ack(self, **kw: Any) -> None:
        self.ack_pending = 0
        self.events.append("ack")

    def take_fin_from_queue(self) -> None:
        self.events.append("fin")

    def count_drop(self, reason: TcpDrop) -> None:
        self.events.append(reason)


def _seg(seq: int, payload: bytes, flags: int = tcpwire.ACK) -> tcpwire.TcpSegment:
    return tcpwire.TcpSegment(1, 2, seq, 0, flags, 1000, payload)


def test_the_receiver_queues_a_hole_and_delivers_once_it_fills() -> None:
    owner = _Owner()
    typed: ReceiverOwner = owner  # mypy checks the fake against the protocol
    receiver = Receiver()
    receiver.take_text(typed, _seg(1010, b"b" * 10, tcpwire.ACK | tcpwire.FIN))
    assert owner.delivered == [] and owner.events == ["ack"]  # RFC 5681 §4.2: at once
    assert owner.sack_recent == [SeqNum(1010)] and owner.ooo_fin == SeqNum(1020)
    receiver.take_text(owner, _seg(1000, b"a" * 10))
    assert owner.delivered == [b"a" * 10, b"b" * 10]
    assert owner.rcv_nxt == SeqNum(1020) and owner.sack_recent == []
    assert owner.events == ["ack", "fin", "ack"]  # the queued FIN, then the hole's ACK


def test_the_receiver_delays_the_ack_of_one_small_segment_not_of_two_full_ones() -> None:
    """RFC 9293 §3.8.6.3: ACK at least every second full-sized segment."""
    owner = _Owner()
    Receiver().take_text(owner, _seg(1000, b"x"))
    assert owner.events == [] and owner.timers.delack.active
    full = _Owner()
    Receiver().take_text(full, _seg(1000, b"y" * 100))
    Receiver().take_text(full, _seg(1100, b"y" * 100))
    assert full.events == ["ack"] and full.delivered == [b"y" * 100] * 2


def test_a_super_segment_of_two_full_sizes_is_acknowledged_at_once() -> None:
    """A device's receive offload hands over several segments as one: they are still
    two or more full-sized segments (RFC 9293 §3.8.6.3), so the ACK does not wait for the
    delayed-ACK timer, as Linux acknowledges a coalesced packet of more than one MSS."""
    owner = _Owner()
    Receiver().take_text(owner, _seg(1000, b"g" * 250))
    assert owner.events == ["ack"] and owner.ack_pending == 0
    one = _Owner()
    Receiver().take_text(one, _seg(1000, b"h" * 199))  # one full-sized, then some
    assert one.events == [] and one.timers.delack.active


def test_the_receiver_counts_what_a_full_reorder_queue_refuses() -> None:
    owner = _Owner(ooo_limit=4)
    Receiver().take_text(owner, _seg(1010, b"z" * 10))
    assert owner.events == [TcpDrop.OUT_OF_ORDER_FULL, "ack"]


def test_the_session_has_a_receiver_replaceable_through_its_class_setting() -> None:
    taken: list[bytes] = []

    class Recording(Receiver):
        __slots__ = ()

        def take_in_order(self, s: ReceiverOwner, seg: tcpwire.TcpSegment) -> None:
            taken.append(seg.payload)
            super().take_in_order(s, seg)

    class Session(TCPSession):
        receiver_class = Recording

    h = TcpHarness(session_class=Session)
    assert type(h.session.receiver) is Recording
    assert type(TcpHarness().session.receiver) is Receiver
    h.send(".", seq=h.remote(1), ack=h.local(1), payload=b"hi")
    assert taken == [b"hi"] and h.session.read() == b"hi"
    assert gc.get_referents(h.session.receiver) == [Recording]  # no reference back
