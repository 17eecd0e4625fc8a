"""The evasion policy on the simulated wire: what the receiving stack gets, for the shapes
that keep the bytes and, per overlap policy, for the shapes that add decoys."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.apps.tcp_application import TCPApplication
from pystack.evasion import ORDERS, Evasion, readings, reassemble_as
from pystack.evasion.policy import decoy_payload
from pystack.layers.ip_reassembly import OverlapPolicy
from pystack.sim import SimNet, WireTap
from pystack.wire import ipv4, udp
from pystack.wire import tcp as tcpwire
from pystack.wire.checksum import raw_sum
from pystack.wire.ipv4 import Ipv4Packet

REAL = b"GET /admin/secret HTTP/1.0\r\nHost: target\r\n\r\n"
DECOY = b"X"


def open_pair(net: SimNet, session_class: Any = None, port: int = 80) -> tuple[Any, Any]:
    """A connection from A (made with ``session_class``) to an application on B."""
    server = TCPApplication()
    net.b.register_tcp_application(server)
    server.bind(port)
    server.listen(1)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    conn = net.a.tcp.connect(str(net.b.address), port, session_class=session_class)
    assert net.run_until(lambda: conn.state == "ESTABLISHED" and accepted, 5)
    return conn, accepted[0]


def transfer(net: SimNet, conn: Any, server: Any, data: bytes, max_time: float = 5) -> bytes:
    """Send ``data`` on ``conn``; what ``server``'s application got within ``max_time``."""
    got = bytearray()
    sent = [0]

    def done() -> bool:
        if sent[0] < len(data):
            sent[0] += conn.send(data[sent[0] :])
        got.extend(server.fetch_data())
        return len(got) >= len(data)

    net.run_until(done, max_time)
    return bytes(got)


# -- shapes without decoys: the receiver gets the bytes ------------------------------------

NON_OVERLAPPING = [
    Evasion(ip_fragment_size=8),
    Evasion(ip_fragment_size=16, ip_order="reverse"),
    Evasion(ip_fragment_size=24, ip_order="random", seed=7),
    Evasion(tcp_segment_size=1),
    Evasion(tcp_segment_size=7, tcp_order="reverse"),
    Evasion(tcp_segment_size=100, tcp_order="random", seed=3),
    Evasion(ip_fragment_size=32, ip_order="reverse", tcp_segment_size=50, tcp_order="random"),
]


@pytest.mark.parametrize("evasion", NON_OVERLAPPING, ids=repr)
@pytest.mark.parametrize("scope", ["connection", "stack"])
def test_a_reshaped_stream_arrives_intact(evasion: Evasion, scope: str) -> None:
    data = bytes(range(256)) * 20
    with SimNet(2) as net:
        if scope == "stack":
            evasion.install(net.a)
            conn, server = open_pair(net)
        else:
            conn, server = open_pair(net, evasion.session_class())
        assert transfer(net, conn, server, data) == data


def test_a_stack_policy_shapes_what_its_accepted_connections_send() -> None:
    evasion = Evasion(ip_fragment_size=8, ip_order="reverse", tcp_segment_size=3)
    answer = b"hello from the server"
    with SimNet(2) as net:
        evasion.install(net.b)
        tap = WireTap(net)
        client, server = net.connect_tcp(80)
        server.send_packet(answer)
        got = bytearray()
        net.run_until(lambda: got.extend(client.fetch_data()) or len(got) >= len(answer), 5)
        from_b = [p for p in tap.ip() if p.src == str(net.b.address)]
    assert bytes(got) == answer
    assert from_b and all(p.is_fragment and len(p.payload) <= 8 for p in from_b)
    assert from_b[0].frag_offset > 0  # reverse: each datagram's last fragment first


def test_one_policy_makes_one_class_per_base() -> None:
    evasion = Evasion(tcp_segment_size=4)
    assert evasion.session_class() is evasion.session_class()
    assert evasion.session_class().evasion is evasion
    other = Evasion(tcp_segment_size=4)
    assert other.session_class() is not evasion.session_class()


def test_fragments_on_the_wire_have_the_size_and_order_asked_for() -> None:
    evasion = Evasion(ip_fragment_size=16, ip_order="reverse")
    with SimNet(2) as net:
        conn, server = open_pair(net, evasion.session_class())
        tap = WireTap(net)
        assert transfer(net, conn, server, REAL) == REAL
        ours = [p for p in tap.ip() if p.src == str(net.a.address)]
    data_frags = [p for p in ours if p.is_fragment]
    assert data_frags, "the request went out in fragments"
    assert all(len(p.payload) <= 16 for p in data_frags)
    offsets = [p.frag_offset for p in data_frags if p.ident == data_frags[0].ident]
    assert offsets == sorted(offsets, reverse=True) and offsets[-1] == 0


def test_tcp_segments_on_the_wire_have_the_size_asked_for() -> None:
    evasion = Evasion(tcp_segment_size=5, tcp_order="reverse")
    with SimNet(2) as net:
        conn, server = open_pair(net, evasion.session_class())
        tap = WireTap(net)
        assert transfer(net, conn, server, REAL) == REAL
        segs = [tcpwire.parse(p.payload) for p in tap.ip() if p.src == str(net.a.address)]
    carrying = [s for s in segs if s.payload]
    assert [len(s.payload) for s in carrying] == [len(REAL) % 5 or 5] + [5] * (len(REAL) // 5)
    seqs = [s.seq for s in carrying]
    assert seqs == sorted(seqs, reverse=True)  # reverse: the last bytes first
    assert carrying[0].flags & tcpwire.PSH and not carrying[-1].flags & tcpwire.PSH


def test_the_connection_retransmits_correctly_through_the_policy() -> None:
    """Fragments and segments are lost on a lossy wire: the connection's own timers and
    fast retransmit resend, the policy reshapes what they resend, every byte arrives once."""
    data = bytes(range(256)) * 400
    evasion = Evasion(ip_fragment_size=64, ip_order="random", tcp_segment_size=300,
                      tcp_order="reverse")  # fmt: skip
    with SimNet(2, loss=0.03, seed=3) as net:
        conn, server = open_pair(net, evasion.session_class())
        assert transfer(net, conn, server, data, max_time=120) == data
        assert conn.rexmit_bytes > 0  # losses were repaired by retransmission
        assert net.run_until(lambda: conn.snd_una == conn.snd_max, 30)


# -- overlapping decoys: which copy each overlap policy keeps ------------------------------

# (policy, decoy sent) -> what the application of a stack with that policy receives.
IP_OVERLAP_TABLE = [
    (OverlapPolicy.FIRST, "before", "decoy"),
    (OverlapPolicy.FIRST, "after", "real"),
    (OverlapPolicy.LAST, "before", "real"),
    (OverlapPolicy.LAST, "after", "decoy"),
    (OverlapPolicy.BSD, "before", "decoy"),
    (OverlapPolicy.BSD, "after", "real"),
    (OverlapPolicy.LINUX_LEGACY, "before", "real"),
    (OverlapPolicy.LINUX_LEGACY, "after", "decoy"),
    (OverlapPolicy.WINDOWS, "before", "decoy"),
    (OverlapPolicy.WINDOWS, "after", "real"),
    (OverlapPolicy.LINUX, "before", "decoy"),
    (OverlapPolicy.LINUX, "after", "real"),
    (OverlapPolicy.RFC5722, "before", None),
    (OverlapPolicy.RFC5722, "after", None),
]


def reading(got: bytes) -> str | None:
    """Which copy arrived: "real", "decoy" (decoy bytes where decoys went), None: nothing."""
    if not got:
        return None
    if got == REAL:
        return "real"
    return "decoy" if got.count(DECOY) > len(REAL) // 2 else f"mixed {got!r}"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("policy", "sent", "expected"), IP_OVERLAP_TABLE)
def test_ip_overlap_reading_per_policy(
    policy: OverlapPolicy, sent: str, expected: str | None, order: str
) -> None:
    evasion = Evasion(ip_fragment_size=8, ip_order=order,  # type: ignore[arg-type]
                      ip_overlap_decoy=DECOY, ip_decoy_sent=sent)  # type: ignore[arg-type]  # fmt: skip
    with SimNet(2, overlap_policy=policy) as net:
        conn, server = open_pair(net, evasion.session_class())
        got = transfer(net, conn, server, REAL, max_time=3)
    assert reading(got) == expected
    # The same fragments, reassembled offline, read the same (what the example prints).
    assert reading(offline_reading(evasion, policy)) == expected


def offline_reading(evasion: Evasion, policy: OverlapPolicy) -> bytes:
    seg = tcpwire.TcpSegment(1234, 80, 1, 1, tcpwire.ACK | tcpwire.PSH, 65535, REAL)
    pkt = Ipv4Packet("198.18.0.1", "198.18.0.2", ipv4.PROTO_TCP,
                     tcpwire.emit(seg, "198.18.0.1", "198.18.0.2"), ident=9)  # fmt: skip
    payload = reassemble_as(evasion.shape_datagram(pkt, 1500), policy)
    if payload is None or not tcpwire.checksum_ok(payload, "198.18.0.1", "198.18.0.2"):
        return b""
    return tcpwire.parse(payload).payload


# PyStack's TCP receiver keeps the first copy of each byte, in order or out of order.
TCP_OVERLAP_TABLE = [("before", "decoy"), ("after", "real")]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(("sent", "expected"), TCP_OVERLAP_TABLE)
def test_tcp_overlap_reading(sent: str, expected: str, order: str) -> None:
    evasion = Evasion(tcp_segment_size=4, tcp_order=order,  # type: ignore[arg-type]
                      tcp_overlap_decoy=DECOY, tcp_decoy_sent=sent)  # type: ignore[arg-type]  # fmt: skip
    with SimNet(2) as net:
        conn, server = open_pair(net, evasion.session_class())
        got = transfer(net, conn, server, REAL, max_time=3)
        assert reading(got) == expected
        if expected == "decoy":
            assert got == DECOY * len(REAL)
        # The receiver acknowledges whichever copy it kept: the sender is done.
        assert net.run_until(lambda: conn.snd_una == conn.snd_max, 3)


def test_readings_tell_each_policy_apart_for_one_datagram() -> None:
    evasion = Evasion(ip_fragment_size=8, ip_overlap_decoy=DECOY, ip_decoy_sent="after")
    pkt = Ipv4Packet("198.18.0.1", "198.18.0.2", ipv4.PROTO_UDP,
                     udp.emit(udp.UdpDatagram(9, 9, REAL), "198.18.0.1", "198.18.0.2"))  # fmt: skip
    seen = readings(evasion.shape_datagram(pkt, 1500))
    assert seen["rfc5722"] is None
    assert seen["first"] == seen["bsd"] == seen["windows"] == seen["linux"] == pkt.payload
    assert seen["last"] == seen["linux-legacy"] != pkt.payload


# -- properties ----------------------------------------------------------------------------


@st.composite
def datagrams(draw: st.DrawFn) -> Ipv4Packet:
    payload = draw(st.binary(min_size=1, max_size=600))
    proto = draw(st.sampled_from([ipv4.PROTO_TCP, ipv4.PROTO_UDP, 253]))
    ident = draw(st.integers(0, 0xFFFF))
    return Ipv4Packet("198.18.0.1", "198.18.0.2", proto, payload, ident=ident)


@given(
    pkt=datagrams(),
    size=st.integers(1, 80).map(lambda n: n * 8),
    order=st.sampled_from(ORDERS),
    seed=st.integers(0, 1 << 16),
    policy=st.sampled_from(list(OverlapPolicy)),
)
def test_without_decoys_every_policy_reassembles_the_original(
    pkt: Ipv4Packet, size: int, order: str, seed: int, policy: OverlapPolicy
) -> None:
    evasion = Evasion(ip_fragment_size=size, ip_order=order, seed=seed)  # type: ignore[arg-type]
    pieces = evasion.shape_datagram(pkt, 1500)
    assert all(len(p.payload) <= size for p in pieces)
    assert sorted(p.frag_offset for p in pieces) == list(range(0, len(pkt.payload), size))
    assert reassemble_as(pieces, policy) == pkt.payload


@given(
    payload=st.binary(min_size=1, max_size=300),
    size=st.integers(1, 64),
    order=st.sampled_from(ORDERS),
    seq=st.integers(0, 0xFFFFFFFF),
    fin=st.booleans(),
)
def test_tcp_pieces_cover_the_segment_once(
    payload: bytes, size: int, order: str, seq: int, fin: bool
) -> None:
    flags = tcpwire.ACK | tcpwire.PSH | (tcpwire.FIN if fin else 0)
    seg = tcpwire.TcpSegment(1, 2, seq, 5, flags, 1000, payload)
    pieces = Evasion(tcp_segment_size=size, tcp_order=order).shape_segment(seg)  # type: ignore[arg-type]
    by_offset = sorted(pieces, key=lambda p: (p.seq - seq) & 0xFFFFFFFF)
    assert b"".join(p.payload for p in by_offset) == payload
    assert [p.flags & tcpwire.FIN for p in by_offset[:-1]] == [0] * (len(pieces) - 1)
    assert by_offset[-1].flags == flags  # FIN and PSH only on the last bytes


@given(real=st.binary(min_size=2, max_size=200), pattern=st.binary(min_size=1, max_size=9))
def test_a_decoy_keeps_the_ones_complement_sum(real: bytes, pattern: bytes) -> None:
    decoy = decoy_payload(real, pattern)
    assert len(decoy) == len(real)
    assert raw_sum(decoy) % 0xFFFF == raw_sum(real) % 0xFFFF


# -- the IP layer's shaper hook and API misuse ---------------------------------------------


@dataclasses.dataclass
class HalvesOverMtu:
    """A shaper that sends each datagram as two fragments, each still over the MTU."""

    calls: int = 0

    def shape_datagram(self, pkt: Ipv4Packet, mtu: int) -> list[Ipv4Packet]:
        self.calls += 1
        half = len(pkt.payload) // 2 // 8 * 8
        first = dataclasses.replace(pkt, payload=pkt.payload[:half], flags=ipv4.FLAG_MF)
        second = dataclasses.replace(pkt, payload=pkt.payload[half:], frag_offset=half)
        return [second, first]


def test_a_stack_shaper_sees_every_datagram_and_big_pieces_are_cut_again() -> None:
    """`IPProtocol.shaper` shapes ICMP too; a piece over the MTU is fragmented at its own
    offset (RFC 791 §3.2), so the receiver still reassembles the datagram (the echo
    request: B answers it)."""
    data = bytes(range(256)) * 12
    with SimNet(2) as net:
        shaper = HalvesOverMtu()
        net.a.ip.shaper = shaper
        tap = WireTap(net)
        rtt = net.wait(net.a.ping_deferred(str(net.b.address), 2, data), 3)
        ours = [p for p in tap.ip() if p.src == str(net.a.address)]
    assert rtt > 0 and shaper.calls == 1
    assert len(ours) == 4 and max(len(p.payload) for p in ours) <= 1480
    assert ours[0].frag_offset == (len(data) + 8) // 2 // 8 * 8  # the second half first


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ip_fragment_size": 12},
        {"ip_fragment_size": 0},
        {"tcp_segment_size": 0},
        {"ip_fragment_size": 8, "ip_order": "sideways"},
        {"ip_fragment_size": 8, "ip_overlap_decoy": b""},
        {"ip_order": "reverse"},
        {"ip_overlap_decoy": b"X"},
        {"tcp_decoy_sent": "during"},
    ],
)
def test_misuse_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Evasion(**kwargs)
