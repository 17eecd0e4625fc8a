"""`packet_received` is called for every arrival whether a class overrides it or not; the
default keeps the bytes for `fetch_data` (with flow control), an override takes them, and
an override may keep (some of) them through ``super()``."""

from __future__ import annotations

from typing import Any

from helpers.tcp_pairs import SERVER_IP
from hypothesis import given
from hypothesis import strategies as st

from pystack.apps.tcp_application import TCPApplication
from pystack.tcp.config import CloseReason, TcpConfig
from pystack.testing.harness import TcpPair


class Recorder(TCPApplication):
    """Sees every arrival and keeps it, as the default does."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bytes] = []

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        self.seen.append(packet)
        super().packet_received(packet, **kwargs)


class Upper(TCPApplication):
    """Transforms what arrives and keeps the result for fetch_data."""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        super().packet_received(packet.upper(), **kwargs)


class KeepsEveryOther(TCPApplication):
    """Takes one arrival, keeps the next, and so on."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: list[bytes] = []

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        if len(self.taken) == len(self.seen_kept):
            self.taken.append(packet)
        else:
            self.seen_kept.append(packet)
            super().packet_received(packet, **kwargs)

    seen_kept: list[bytes]


def served_by(app_class: type[TCPApplication], config: TcpConfig | None = None,
              seed: int = 0) -> tuple[TcpPair, TCPApplication, TCPApplication]:  # fmt: skip
    """A TcpPair whose side 1 accepted a client of side 0 into an ``app_class`` instance."""
    pair = TcpPair(config=config, seed=seed)
    server = app_class()
    pair.register(server, 1)
    server.bind(7, newinstance=True)
    server.listen(1)
    client = TCPApplication()
    pair.register(client, 0)
    accepted: list[Any] = []
    client.connect_deferred(SERVER_IP, 7)
    server.accept_deferred().addCallback(accepted.append)
    pair.run_until(lambda: accepted)
    return pair, client, accepted[0]


def test_an_override_that_calls_super_keeps_the_bytes_for_fetch_data() -> None:
    pair, client, served = served_by(Recorder)
    assert isinstance(served, Recorder)
    client.send_packet(b"hello ")
    pair.run(0.5)
    client.send_packet(b"world")
    pair.run(0.5)
    assert served.seen == [b"hello ", b"world"]  # each arrival once, only the new bytes
    assert served.fetch_data() == b"hello world"


def test_an_override_may_keep_transformed_bytes() -> None:
    pair, client, served = served_by(Upper)
    client.send_packet(b"shout")
    pair.run(0.5)
    assert served.fetch_data() == b"SHOUT"


def test_bytes_an_override_took_are_gone_and_kept_ones_stay_in_order() -> None:
    KeepsEveryOther.seen_kept = []
    pair, client, served = served_by(KeepsEveryOther)
    assert isinstance(served, KeepsEveryOther)
    for word in (b"a1", b"b2", b"c3", b"d4"):
        client.send_packet(word)
        pair.run(0.5)
    assert served.taken == [b"a1", b"c3"]
    assert served.fetch_data() == b"b2d4"


def test_closing_inside_the_hook_after_taking_the_bytes_is_a_clean_close() -> None:
    class TakeAndClose(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            self.close()  # the bytes were taken: nothing is unread, so FIN rather than RST

    pair, client, served = served_by(TakeAndClose)
    client.send_packet(b"bye")
    pair.run(1)
    assert client.eof and served.close_reason is not CloseReason.RESET


def test_closing_inside_the_hook_after_keeping_the_bytes_resets() -> None:
    class KeepAndClose(TCPApplication):
        def packet_received(self, packet: bytes, **kwargs: Any) -> None:
            super().packet_received(packet, **kwargs)
            self.close()  # kept and never read: as a socket's close(), RST

    pair, client, served = served_by(KeepAndClose)
    client.send_packet(b"bye")
    pair.run(1)
    assert served.close_reason is CloseReason.RESET


def frames_and_fetches(app_class: type[TCPApplication], sends: list[int],
                       fetches: list[int | None]) -> tuple[list[bytes], bytes]:  # fmt: skip
    """Every frame on the wire and every byte fetched, for one scripted run."""
    pair, client, served = served_by(app_class, TcpConfig(rcv_buf=8192), seed=3)
    frames: list[bytes] = []
    pair.wire.filter = lambda src, dst, data: frames.append(data) or True
    fetched = bytearray()
    for i, size in enumerate(sends):
        client.send_packet(bytes([65 + i % 26]) * size)
        pair.run(0.05)
        want = fetches[i % len(fetches)]
        if want != 0:
            fetched += served.fetch_data(want)
    for _ in range(40):
        pair.run(0.5)
        fetched += served.fetch_data()
    return frames, bytes(fetched)


@given(
    sends=st.lists(st.integers(1, 6000), min_size=1, max_size=12),
    fetches=st.lists(st.one_of(st.none(), st.integers(0, 5000)), min_size=1, max_size=4),
)
def test_overriding_and_keeping_is_the_default_on_the_wire(
    sends: list[int], fetches: list[int | None]
) -> None:
    """The same traffic, read at the same moments, puts the same frames on the wire (the
    same windows, the same window updates) for the default hook and for an override that
    keeps through super(); both fetch every byte, in order."""
    default = frames_and_fetches(TCPApplication, sends, fetches)
    overridden = frames_and_fetches(Recorder, sends, fetches)
    assert overridden == default
    assert default[1] == b"".join(bytes([65 + i % 26]) * n for i, n in enumerate(sends))
