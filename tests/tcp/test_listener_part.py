"""A listening session's passive open is a part: ``session.listen_side``, replaceable
through the class setting ``listener_class``, reaching its session only through the
`ListenerOwner` it is given."""

from __future__ import annotations

import collections
import gc
from typing import Any

from twisted.internet.task import Clock

from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.listener import Listener, ListenerOwner
from pystack.tcp.session import TCPSession
from pystack.tcp.states import TCP
from pystack.testing.harness import TcpHarness
from pystack.wire.seqnum import SeqNum


class _Host:
    def syncookie_secret(self) -> bytes:
        return b"k" * 16


class _Owner:
    """Only what `ListenerOwner` declares: no session behind it."""

    def __init__(self, mode: str, *, half_open: int = 0, queued: int = 0) -> None:
        self.config = TcpConfig(syn_cookies=mode, syn_backlog=4)
        self.host: Any = _Host()
        self.clock = Clock()
        self.local_port = 80
        self.half_open = half_open
        self.backlog = 2
        self.accept_queue: collections.deque[Any] = collections.deque([None] * queued)
        self._cc_factory = None
        self._last_cookie_at: float | None = None
        self.drops: list[TcpDrop] = []

    def fire(self, trigger: str, **kwargs: Any) -> bool:
        return True

    def count_drop(self, reason: TcpDrop) -> None:
        self.drops.append(reason)


def test_a_syn_gets_a_cookie_only_when_the_syn_queue_is_full_and_accept_has_room() -> None:
    """RFC 4987 §3.6 cookies on SYN queue overflow, never for a full accept queue (Linux)."""
    listener = Listener()
    typed: ListenerOwner = _Owner("overflow", half_open=3)  # mypy checks the protocol
    assert not listener.cookie_due(typed)
    assert listener.cookie_due(_Owner("overflow", half_open=4))
    assert listener.cookie_due(_Owner("always"))
    assert not listener.cookie_due(_Owner("always", queued=2))
    assert not listener.cookie_due(_Owner("off", half_open=99))
    no_secret = _Owner("always")
    no_secret.host = object()
    assert not listener.cookie_due(no_secret)


def test_an_ack_is_looked_at_for_a_cookie_only_two_minutes_after_the_last_one() -> None:
    owner = _Owner("overflow")
    assert not Listener().cookies_recent(owner)
    owner._last_cookie_at = 0.0
    owner.clock.advance(119)
    assert Listener().cookies_recent(owner)
    owner.clock.advance(2)
    assert not Listener().cookies_recent(owner)


def test_the_session_has_a_listener_part_replaceable_through_its_class_setting() -> None:
    spawned: list[tuple[str | None, SeqNum | None]] = []

    class Recording(Listener):
        __slots__ = ()

        def spawn_child(
            self, s: ListenerOwner, seg: Any, local_ip: str, remote_ip: str | None,
            isn_floor: SeqNum | None,
        ) -> None:  # fmt: skip
            spawned.append((remote_ip, isn_floor))
            super().spawn_child(s, seg, local_ip, remote_ip, isn_floor)

    class Session(TCPSession):
        listener_class = Recording

    h = TcpHarness(TCP.LISTEN, session_class=Session)
    assert type(h.session.listen_side) is Recording
    assert type(TcpHarness(TCP.LISTEN).session.listen_side) is Listener
    h.send("S", seq=h.remote(0))
    assert len(spawned) == 1 and spawned[0][1] is None
    assert [seg.flags for seg in h.take()] == [h.expect("S.").flags]
    assert h.state == TCP.SYN_RECEIVED
    assert gc.get_referents(h.session.listen_side) == [Recording]  # no reference back
