"""The send side is a part the session owns: ``session.sender``, replaceable through the
class setting ``sender_class``, reaching its session only through the `SenderOwner` it is
given."""

from __future__ import annotations

import gc
from typing import Any

from twisted.internet.task import Clock

from pystack.tcp.buffers import RecvBuffer, SendBuffer
from pystack.tcp.config import TcpConfig
from pystack.tcp.congestion import NewReno
from pystack.tcp.reorder import ReorderQueue
from pystack.tcp.sack import Scoreboard
from pystack.tcp.sender import Sender, SenderOwner
from pystack.tcp.session import TCPSession
from pystack.tcp.states import TCP
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum


class _Owner:
    """Only what `SenderOwner` declares: no session behind it."""

    def __init__(
        self, unsent: bytes, *, in_flight: int = 0, nodelay: bool = False, tso_max: int = 0
    ) -> None:
        self.state = TCP.ESTABLISHED
        self.link_tso_max = tso_max
        self.clock = Clock()
        self.config = TcpConfig(nodelay=nodelay)
        self.cc = NewReno(1000, initial_window=10_000)
        self.scoreboard = Scoreboard()
        self.sndbuf = SendBuffer()
        self.sndbuf.append(b"f" * in_flight + unsent)
        self.rcvbuf = RecvBuffer(65535)
        self.reorder = ReorderQueue()
        self.sack_ok = self.ts_ok = self.fin_queued = False
        self.sack_recent: list[SeqNum] = []
        self.snd_una = SeqNum(101)
        self.snd_nxt = self.snd_max = SeqNum(101 + in_flight)
        self.snd_wnd = self.max_snd_wnd = 10_000
        self.snd_mss = 1000
        self.snd_fin = SeqNum(0)
        self.rcv_nxt = self.rcv_adv = SeqNum(5000)
        self.rtt_seq: SeqNum | None = None
        self.rtt_time = 0.0
        self.sent: list[tuple[int, int, int]] = []
        self.calls: list[str] = []

    def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None:
        self.sent.append((seq.value, len(data), flags))

    def send_super_segment(self, seq: SeqNum, data: bytes, flags: int, mss: int) -> None:
        self.sent.append((seq.value, len(data), flags | 0x1000))  # marked: a super-segment
        assert len(data) % mss == 0 and mss == self.snd_mss

    def tso_max(self) -> int:
        return self.link_tso_max

    def sndbuf_seq(self) -> SeqNum:
        return self.snd_una

    def arm_rexmit(self) -> None:
        self.calls.append("arm_rexmit")

    def enter_persist(self) -> None:
        self.calls.append("enter_persist")


def test_the_sender_cuts_the_queue_into_mss_segments_through_its_owner_protocol() -> None:
    owner = _Owner(b"x" * 3000)
    typed: SenderOwner = owner  # mypy checks the fake against the protocol
    Sender().output(typed)
    psh = tcpwire.PSH
    assert owner.sent == [(101, 1000, 0), (1101, 1000, 0), (2101, 1000, psh)]
    assert owner.snd_nxt == owner.snd_max == SeqNum(3101)
    assert owner.rtt_seq == SeqNum(1101)  # RFC 6298 §3: the first new segment is timed
    assert owner.calls == ["arm_rexmit"]


def test_the_sender_holds_a_small_segment_while_data_is_in_flight_nagle() -> None:
    """RFC 9293 §3.7.4: with bytes unacknowledged, a segment below the MSS waits."""
    held = _Owner(b"y" * 10, in_flight=300)
    Sender().output(held)
    assert held.sent == [] and held.calls == ["arm_rexmit"]
    nodelay = _Owner(b"y" * 10, in_flight=300, nodelay=True)
    Sender().output(nodelay)
    assert nodelay.sent == [(401, 10, tcpwire.PSH)]


SUPER = 0x1000


def test_with_segmentation_offload_whole_segments_go_as_one_super_segment() -> None:
    """The usable window (min(cwnd, SND.WND) = 10 000 bytes) bounds it as it bounds plain
    segments; the tail shorter than the MSS goes alone, through Nagle (RFC 9293 §3.7.4)."""
    owner = _Owner(b"x" * 12_345, tso_max=65535)
    Sender().output(owner)
    assert owner.sent == [(101, 10_000, SUPER)]
    assert owner.rtt_seq == SeqNum(1101)  # RFC 6298 §3: its first segment is timed
    owner = _Owner(b"x" * 4500, tso_max=65535, nodelay=True)
    Sender().output(owner)
    assert owner.sent == [(101, 4000, SUPER), (4101, 500, tcpwire.PSH)]


def test_a_super_segment_never_carries_the_fin_nor_fewer_than_two_segments() -> None:
    owner = _Owner(b"x" * 3000, tso_max=65535)
    owner.fin_queued, owner.snd_fin = True, SeqNum(3101)
    Sender().output(owner)
    fin_psh = tcpwire.FIN | tcpwire.PSH
    assert owner.sent == [(101, 2000, SUPER), (2101, 1000, fin_psh)]
    owner = _Owner(b"x" * 2000, tso_max=65535)
    owner.fin_queued, owner.snd_fin = True, SeqNum(2101)
    Sender().output(owner)
    assert owner.sent == [(101, 1000, 0), (1101, 1000, fin_psh)]


def test_a_super_segment_fits_the_links_largest_datagram() -> None:
    owner = _Owner(b"x" * 9000, tso_max=3000 + 120)  # 120: the longest IPv4 + TCP headers
    owner.snd_wnd = owner.cc.cwnd = 100_000
    Sender().output(owner)
    assert owner.sent == [(101, 3000, SUPER), (3101, 3000, SUPER), (6101, 3000, SUPER | 8)]


def test_the_sender_advertises_a_window_that_never_shrinks_the_right_edge() -> None:
    """RFC 9293 §3.8.6.2.2: less free buffer than announced keeps the old right edge."""
    owner = _Owner(b"")
    owner.rcv_adv = SeqNum(5000 + 60_000)
    owner.rcvbuf.push(b"z" * 30_000)  # 35535 free, below the 60000 announced
    assert Sender().window_to_advertise(owner) == 60_000


def test_the_session_owns_a_sender_replaceable_through_its_class_setting() -> None:
    class FixedWindow(Sender):
        __slots__ = ()

        def window_to_advertise(self, s: SenderOwner, shift: int = 0) -> int:
            return 7

    class Session(TCPSession):
        sender_class = FixedWindow

    plain, custom = TcpHarness(), TcpHarness(session_class=Session)
    assert type(plain.session.sender) is Sender
    assert type(custom.session.sender) is FixedWindow
    assert type(TcpHarness(session_class=type("Sub", (Session,), {})).session.sender) is FixedWindow
    for h in (plain, custom):
        h.session.send(b"hello")
    (seg,) = custom.take()
    assert seg.window == 7 and seg.payload == b"hello"
    (seg,) = plain.take()
    assert seg.window != 7 and seg.payload == b"hello"


def test_the_sender_holds_no_reference_back_to_its_session() -> None:
    """No cycle and no per-connection object: the connections of a class share it."""
    h = TcpHarness(TCP.TIME_WAIT)
    assert h.session.sender is TcpHarness().session.sender
    assert gc.get_referents(h.session.sender) == [Sender]
    h.send("F.", seq=h.remote(1), ack=h.local(2))  # the peer's FIN again: ACKed
    acks: list[Any] = h.take()
    assert [seg.flags for seg in acks] == [tcpwire.ACK]
