"""For any datagrams from several sources, whole or in fragments, their pieces interleaved
in any order: each payload reaches the transport once, with its own datagram's metadata
(addresses, TTL, TOS, identification, and fragment 0's link header)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pystack.apps.udp_application import UDPApplication
from pystack.testing.twostack import SimNet
from pystack.wire import ethernet as eth_wire
from pystack.wire import ipv4
from pystack.wire import udp as udp_wire
from pystack.wire.ipv4 import Ipv4Packet

US = "198.18.0.1"
SOURCES = [f"198.18.0.{i}" for i in range(2, 8)]


@dataclass(frozen=True)
class Sent:
    """One datagram as sent, and the frames its pieces travel in."""

    src: str
    ttl: int
    tos: int
    ident: int
    payload: bytes
    frames: tuple[tuple[str, str, Ipv4Packet], ...]  # (dst MAC, src MAC, piece)

    @property
    def first_frame(self) -> tuple[str, str, Ipv4Packet]:
        return next(f for f in self.frames if f[2].frag_offset == 0)


@st.composite
def datagram(draw: st.DrawFn, index: int, src: str, ident: int) -> Sent:
    ttl, tos = draw(st.integers(1, 255)), draw(st.integers(0, 255))
    payload = b"%03d:" % index + draw(st.binary(max_size=120))
    data = udp_wire.emit(udp_wire.UdpDatagram(1000 + index, 7, payload), src, US)
    size = draw(st.one_of(st.none(), st.integers(1, 8).map(lambda n: 8 * n)))
    cuts = [(0, len(data))] if size is None else [
        (o, min(o + size, len(data))) for o in range(0, len(data), size)
    ]  # fmt: skip
    frames = []
    for n, (start, end) in enumerate(cuts):
        more = int(end < len(data))
        piece = Ipv4Packet(src, US, 17, data[start:end], ttl=ttl, tos=tos, ident=ident,
                           flags=more, frag_offset=start)  # fmt: skip
        broadcast = draw(st.booleans())
        mac = f"02:00:00:00:{index:02x}:{n:02x}"  # tells which frame a piece came in
        frames.append((eth_wire.BROADCAST if broadcast else "", mac, piece))
    return Sent(src, ttl, tos, ident, payload, tuple(frames))


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[Sent], list[tuple[str, str, Ipv4Packet]]]:
    """Datagrams with distinct (source, identification), and all their pieces, shuffled."""
    keys = draw(
        st.lists(st.tuples(st.sampled_from(SOURCES), st.integers(0, 3)), min_size=1,
                 max_size=6, unique=True)
    )  # fmt: skip
    sent = [draw(datagram(i, src, ident)) for i, (src, ident) in enumerate(keys)]
    order = draw(st.permutations([f for s in sent for f in s.frames]))
    return sent, order


class Recorder(UDPApplication):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[bytes, Any]] = []

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.got.append((bytes(packet), kwargs["meta"]))


@given(arrivals())
def test_each_payload_comes_with_its_own_datagrams_metadata(
    case: tuple[list[Sent], list[tuple[str, str, Ipv4Packet]]],
) -> None:
    sent, order = case
    stack = SimNet(1).a
    app = Recorder()
    stack.register_udp_application(app)
    app.bind(7)
    for dst_mac, src_mac, piece in order:
        frame = eth_wire.EthernetFrame(dst_mac or stack.mac, src_mac, 0x0800, ipv4.emit(piece))
        stack.ethernet.packet_received(eth_wire.emit(frame))
    by_payload = {s.payload: s for s in sent}
    assert sorted(p for p, _ in app.got) == sorted(by_payload)  # each once
    for payload, meta in app.got:
        own = by_payload[payload]
        dst_mac, src_mac, _ = own.first_frame
        assert (meta.src, meta.dst, meta.ttl, meta.tos) == (own.src, US, own.ttl, own.tos)
        assert meta.datagram.ident == own.ident and meta.datagram.payload.endswith(payload)
        assert meta.link.src == src_mac  # fragment 0's frame, whichever came last
        assert meta.link_broadcast == (dst_mac == eth_wire.BROADCAST)
        assert meta.interface is None  # a simulated wire has no device name
