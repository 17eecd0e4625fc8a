"""Properties of IPv6 reassembly through the declared reassembly machine: fragments of a
datagram in any order, with exact duplicates, give the datagram back once; a datagram
with any overlapping pair is never delivered (RFC 5722 §4)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.apps.udp_application import UDPApplication
from pystack.sim import SimNet, WireTap
from pystack.testing import examples
from pystack.wire import ipv6
from pystack.wire import udp as udp_wire
from pystack.wire.ipv6 import FragmentHeader, Ipv6Packet

A, PEER = "2001:db8::1", "2001:db8::99"


def _setup() -> tuple[SimNet, WireTap, UDPApplication]:
    net = SimNet(2, ipv6=True)
    tap = WireTap(net)
    app = UDPApplication()
    net.a.register_udp_application(app)
    app.bind(9000)
    return net, tap, app


def _pieces(datagram: bytes, step: int, ident: int) -> list[Ipv6Packet]:
    out = []
    for off in range(0, len(datagram), step):
        more = off + step < len(datagram)
        frag = FragmentHeader(off, more, ident)
        out.append(Ipv6Packet(PEER, A, ipv6.NH_UDP, datagram[off : off + step], headers=(frag,)))
    return out


@settings(max_examples=examples(ci=300, dev=60), deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=3000),
    step=st.integers(1, 64).map(lambda n: n * 8),
    order=st.randoms(use_true_random=False),
    duplicates=st.integers(0, 3),
    ident=st.integers(0, 2**32 - 1),
)
def test_fragments_in_any_order_with_duplicates_deliver_once(
    payload: bytes, step: int, order: object, duplicates: int, ident: int
) -> None:
    net, tap, app = _setup()
    datagram = udp_wire.emit(udp_wire.UdpDatagram(4000, 9000, payload), PEER, A)
    pieces = _pieces(datagram, step, ident)
    if len(pieces) > 1:  # an atomic fragment is a whole datagram: a copy is delivered again
        pieces += [pieces[i % len(pieces)] for i in range(duplicates)]
    order.shuffle(pieces)  # type: ignore[attr-defined]
    for piece in pieces:
        tap.inject(piece)
    net.advance(0.01)
    assert app.fetch_data() == payload
    assert app.fetch_data() == b""  # once
    assert (
        net.a.stats.get("IPv6", "datagrams_reassembled")
        == (len(_pieces(datagram, step, 0)) > 1) * 1
    )


@settings(max_examples=examples(ci=300, dev=60), deadline=None)
@given(
    payload=st.binary(min_size=64, max_size=2000),
    step=st.integers(2, 32).map(lambda n: n * 8),
    shift=st.integers(1, 15).map(lambda n: n * 8),
    order=st.randoms(use_true_random=False),
)
def test_an_overlapping_fragment_discards_the_datagram(
    payload: bytes, step: int, shift: int, order: object
) -> None:
    net, tap, app = _setup()
    datagram = udp_wire.emit(udp_wire.UdpDatagram(4000, 9000, payload), PEER, A)
    step = min(step, len(datagram) // 2 // 8 * 8)  # two pieces at least
    pieces = _pieces(datagram, step, 77)
    start = min(shift, step - 8)  # a piece starting inside the first, with other bytes
    overlap = Ipv6Packet(
        PEER, A, ipv6.NH_UDP, bytes(16), headers=(FragmentHeader(start, True, 77),)
    )
    order.shuffle(pieces)  # type: ignore[attr-defined]
    # Before the datagram is complete: after, it was delivered and the entry is done.
    pieces.insert(order.randrange(len(pieces)), overlap)  # type: ignore[attr-defined]
    for piece in pieces:
        tap.inject(piece)
    net.advance(0.01)
    assert app.fetch_data() == b""
    assert net.a.stats.dropped("IPv6", "reassembly_overlap") >= 1
