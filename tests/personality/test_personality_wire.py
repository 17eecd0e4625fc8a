"""What each shipped personality puts on the simulated wire: the SYN,ACK nmap's probes
get (window, option order, TTL, DF, IP ID), the answers to odd segments on open and
closed ports, ECN, ICMP echo codes and IP ID sequences, and the client's SYN p0f sees.

Stack A (198.18.0.1) has the personality; the probes are injected from B's address
(198.18.0.2) and A's answers read off the wire.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.personality import PERSONALITIES, Personality, resolve
from pystack.sim import SimNet, WireTap
from pystack.stack import PyStack
from pystack.wire import icmp as icmp_wire
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.ipv4 import FLAG_DF, Ipv4Packet
from pystack.wire.tcp_options import NOP, Mss, Nop, SackPermitted, Timestamp, WindowScale

A, B = "198.18.0.1", "198.18.0.2"
OPEN, CLOSED = 7, 8
S, F, R, P, AK, U = (tcpwire.SYN, tcpwire.FIN, tcpwire.RST, tcpwire.PSH, tcpwire.ACK,
                     tcpwire.URG)  # fmt: skip
ECE, CWR = tcpwire.ECE, tcpwire.CWR
# nmap's first SEQ probe: WS 10, NOP, MSS 1460, TS, SACK-permitted.
PROBE_OPTIONS = (WindowScale(10), NOP, Mss(1460), Timestamp(0xFFFFFFFF, 0), SackPermitted())
KIND = {Mss: "M", Nop: "N", WindowScale: "W", SackPermitted: "S", Timestamp: "T"}


class Probe:
    """Stack A with personality ``name`` listening on OPEN, and a tap on the wire."""

    def __init__(self, net: SimNet) -> None:
        self.net, self.tap = net, WireTap(net)
        app = TCPApplication()
        net.a.register_tcp_application(app)
        app.bind(OPEN, app=app, newinstance=True)
        app.listen(5)
        net.advance(0.01)
        self.port = 40000

    def send(self, dport: int, flags: int, options: tuple = (), seq: int = 1000,
             ack: int = 0) -> list[tuple[Ipv4Packet, tcpwire.TcpSegment]]:  # fmt: skip
        """Inject one segment to A; A's TCP answers (datagram, segment) to it."""
        self.port += 1
        seg = tcpwire.TcpSegment(self.port, dport, seq, ack, flags, 1024, b"", options)
        start = len(self.tap.frames)
        self.tap.inject(Ipv4Packet(B, A, ipv4.PROTO_TCP, tcpwire.emit(seg, B, A), ttl=64))
        self.net.advance(0.05)
        return self.answers(start, ipv4.PROTO_TCP, self.port)

    def answers(self, start: int, proto: int, port: int | None = None) -> list:
        out = []
        for frame in self.tap.frames[start:]:
            if frame.ethertype != 0x0800:
                continue
            pkt = ipv4.parse(frame.payload)
            if pkt.src != A or pkt.proto != proto:
                continue
            if proto == ipv4.PROTO_TCP:
                seg = tcpwire.parse(pkt.payload)
                if port is None or seg.dst_port == port:
                    out.append((pkt, seg))
            else:
                out.append((pkt, icmp_wire.parse(pkt.payload)))
        return out

    def ping(
        self, code: int, seq: int, df: bool = False
    ) -> tuple[Ipv4Packet, icmp_wire.IcmpMessage]:
        start = len(self.tap.frames)
        request = icmp_wire.IcmpMessage(8, code, (77 << 16) | seq, b"x" * 20)
        self.tap.inject(Ipv4Packet(B, A, ipv4.PROTO_ICMP, icmp_wire.emit(request), ttl=64,
                                   flags=FLAG_DF if df else 0))  # fmt: skip
        self.net.advance(0.05)
        [reply] = self.answers(start, ipv4.PROTO_ICMP)
        return reply


@pytest.fixture(params=sorted(PERSONALITIES))
def probe(request: pytest.FixtureRequest) -> Iterator[tuple[Personality, Probe]]:
    with SimNet(2, personality=request.param) as net:
        yield resolve(request.param), Probe(net)


# name: (SYN,ACK window to PROBE_OPTIONS, option kinds, IP ID is zero)
SYNACK = {
    "linux": (65160, "MSTNW", True),  # nmap W1=FE88, O1=M5B4ST11NW7, TI=Z
    "windows": (8192, "MNWST", False),  # nmap W1=2000, O1=M5B4NW8ST11, TI=I
    "freebsd": (65535, "MNWST", True),  # nmap W1=FFFF, O1=M5B4NW6ST11, TI=Z
}
WSCALE = {"linux": 7, "windows": 8, "freebsd": 6}


def test_synack_to_nmaps_first_probe(probe: tuple[Personality, Probe]) -> None:
    p, pr = probe
    [(pkt, seg)] = pr.send(OPEN, S, PROBE_OPTIONS)
    window, kinds, zero_id = SYNACK[p.name]
    assert seg.flags == S | AK
    assert seg.window == window
    assert "".join(KIND[type(o)] for o in seg.options) == kinds
    assert seg.wscale == WSCALE[p.name]
    assert seg.timestamp is not None and seg.timestamp[1] == 0xFFFFFFFF
    assert pkt.ttl == p.ttl and pkt.flags & FLAG_DF
    assert (pkt.ident == 0) == zero_id


def test_synack_without_timestamps_or_sack(probe: tuple[Personality, Probe]) -> None:
    """nmap's ECN probe: WS, NOP, MSS, SACK-permitted, no TSopt; ECE|CWR set."""
    p, pr = probe
    options = (WindowScale(10), NOP, Mss(1460), SackPermitted(), NOP, NOP)
    [(_, seg)] = pr.send(OPEN, S | ECE | CWR, options)
    kinds = "".join(KIND[type(o)] for o in seg.options)
    # nmap ECN.O: Linux M5B4NNSNW7, Windows M5B4NW8NNS, FreeBSD M5B4NW6SLL (EOL padding)
    assert kinds == {"linux": "MNNSNW", "windows": "MNWNNS", "freebsd": "MNWS"}[p.name]
    assert bool(seg.flags & ECE) == p.ecn_synack  # nmap ECN.CC: Y, N, Y
    assert not seg.flags & CWR


# name: answer to (NULL, SYN|FIN|URG|PSH, ACK) on the open port: None or (flags, ack rule)
ODD_OPEN = {
    "linux": (None, None, (R, "zero")),  # nmap T2(R=N) T3(R=N) T4(A=Z F=R)
    "windows": ((R | AK, "seq"), (R | AK, "seq+2"), (R, "other")),  # T2 A=S, T3 A=O, T4 A=O
    "freebsd": (None, (S | AK, "seq+1"), (R, "zero")),  # T2(R=N) T3(F=AS) T4(A=Z)
}


def _ack_rule(rule: str, seq: int, ack: int) -> bool:
    return {"zero": ack == 0, "seq": ack == seq, "seq+1": ack == seq + 1,
            "seq+2": ack == seq + 2, "other": ack not in (0, seq, seq + 1)}[rule]  # fmt: skip


def test_odd_segments_on_the_open_port(probe: tuple[Personality, Probe]) -> None:
    p, pr = probe
    probes = ((0, 5000, 0), (S | F | U | P, 5000, 0), (AK, 5000, 0x1234567))
    for (flags, seq, ack), expected in zip(probes, ODD_OPEN[p.name], strict=True):
        got = pr.send(OPEN, flags, PROBE_OPTIONS, seq=seq, ack=ack)
        if expected is None:
            assert got == [], (p.name, flags)
            continue
        [(_, seg)] = got
        assert seg.flags == expected[0], (p.name, flags)
        assert _ack_rule(expected[1], seq, seg.ack), (p.name, flags, seg.ack)


def test_closed_port_resets(probe: tuple[Personality, Probe]) -> None:
    """nmap T5 (SYN), T6 (ACK), T7 (FIN|PSH|URG) to a closed port: an RST each."""
    p, pr = probe
    [(pkt, seg)] = pr.send(CLOSED, S, seq=100)
    assert seg.flags == R | AK and seg.ack == 101 and seg.seq == 0  # T5 S=Z A=S+
    assert pkt.ttl == p.ttl and (pkt.ident == 0) == SYNACK[p.name][2]  # CI
    [(_, seg)] = pr.send(CLOSED, AK, seq=100, ack=777)
    assert seg.flags == R and seg.seq == 777  # T6 S=A
    assert (seg.ack != 0) == p.rst_ack_nonzero  # Windows A=O, others A=Z
    [(_, seg)] = pr.send(CLOSED, F | P | U, seq=100)
    assert seg.flags == R | AK and seg.ack == 101  # T7 A=S+ (FIN counts one)


def test_icmp_echo_reply_code_and_ip_id(probe: tuple[Personality, Probe]) -> None:
    """nmap IE: two echo requests with code 9, the first with DF; CD=S (code kept) or Z,
    DFI=N (no DF on either reply) or S (each reply as its request), II."""
    p, pr = probe
    first_pkt, first = pr.ping(9, 1, df=True)
    second_pkt, second = pr.ping(9, 2)
    assert first.code == second.code == (9 if p.echo_reply_keeps_code else 0)
    assert first_pkt.ttl == p.ttl and not second_pkt.flags & FLAG_DF
    assert bool(first_pkt.flags & FLAG_DF) == (p.name == "freebsd")
    step = (second_pkt.ident - first_pkt.ident) % 65536
    if p.ipid_icmp == "random-increment":
        assert 1000 <= step < 20000  # nmap II=RI
    else:
        assert step == 1  # nmap II=I


def test_windows_shares_one_ip_id_counter() -> None:
    """nmap SS=S: Windows numbers TCP segments and ICMP messages from one counter."""
    with SimNet(2, personality="windows") as net:
        pr = Probe(net)
        [(syn_ack, _)] = pr.send(OPEN, S, PROBE_OPTIONS)
        echo, _ = pr.ping(0, 1)
        [(rst, _)] = pr.send(CLOSED, S)
        assert [(echo.ident - syn_ack.ident) % 65536, (rst.ident - echo.ident) % 65536] == [1, 1]


# name: (window, option kinds, TTL) of the client's SYN as p0f reads it
CLIENT_SYN = {
    "linux": (64240, "MSTNW", 64),  # p0f.fp Linux: mss,sok,ts,nop,ws; mss*44 (generic)
    "windows": (8192, "MNWNNS", 128),  # p0f.fp "Windows 7 or 8": 8192,8:mss,nop,ws,nop,nop,sok
    "freebsd": (65535, "MNWST", 64),  # p0f.fp "FreeBSD 9.x or newer": 65535,6:mss,nop,ws,sok,ts
}


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_client_syn_and_a_transfer(name: str) -> None:
    """The SYN p0f classifies, and a connection to a stack without personality still
    carries data both ways (the personality shapes headers, not TCP's behaviour)."""
    with SimNet(2) as net:
        client_stack = PyStack(link=net.wire.attach(), ip="198.18.0.3/24", clock=net.clock,
                               personality=name)  # fmt: skip
        tap = WireTap(net)
        server = TCPApplication()
        net.b.register_tcp_application(server)
        server.bind(80)
        server.listen(1)
        client = TCPApplication()
        client_stack.register_tcp_application(client)
        client.connect_deferred(B, 80)
        accepted: list = []
        server.accept_deferred().addCallback(accepted.append)
        assert net.run_until(lambda: accepted)
        client.send_packet(b"q" * 5000)
        got = bytearray()
        assert net.run_until(lambda: got.extend(accepted[0].fetch_data()) or len(got) == 5000)
        syns = [ipv4.parse(f.payload) for f in tap.frames if f.ethertype == 0x0800]
        syn_pkt = next(p for p in syns if p.src == "198.18.0.3")
        syn = tcpwire.parse(syn_pkt.payload)
        window, kinds, ttl = CLIENT_SYN[name]
        assert syn.flags == S and syn.window == window and syn_pkt.ttl == ttl
        assert "".join(KIND[type(o)] for o in syn.options) == kinds
        assert syn_pkt.flags & FLAG_DF and syn_pkt.ident != 0  # p0f quirks "df,id+"
        client_stack.stop()


def test_unknown_personality_names_the_known_ones() -> None:
    known = "unknown personality 'beos'; known: linux, windows, freebsd"
    with pytest.raises(ValueError, match=known):
        SimNet(1, personality="beos")


def test_no_personality_keeps_the_defaults() -> None:
    with SimNet(2) as net:
        pr = Probe(net)
        [(pkt, seg)] = pr.send(OPEN, S, PROBE_OPTIONS)
        assert pkt.ttl == 64 and not pkt.flags & FLAG_DF
        assert seg.window == 65535 and seg.wscale == 3
        assert "".join(KIND[type(o)] for o in seg.options) == "MSTNW"


def test_rst_payload_of_a_custom_personality() -> None:
    """RFC 1122 §4.2.2.12: an RST may carry text; a personality can set it."""
    chatty = Personality("chatty", "Chatty", "RSTs that talk", rst_payload=b"no such port")
    with SimNet(2, personality=chatty) as net:
        [(_, seg)] = Probe(net).send(CLOSED, S, seq=100)
        assert seg.flags == R | AK and seg.payload == b"no such port"


def test_the_layer_hooks_without_a_personality() -> None:
    """The public hooks a personality uses, set by hand on a plain stack."""
    with SimNet(2) as net:
        pr = Probe(net)
        net.a.tcp.closed_port_reply = lambda seg: None  # a silent closed port
        assert pr.send(CLOSED, S) == []
        net.a.ip.on_datagram_out = lambda pkt: dataclasses.replace(pkt, ttl=5, ident=4242)
        [(pkt, _)] = pr.send(OPEN, S, PROBE_OPTIONS)
        assert (pkt.ttl, pkt.ident) == (5, 4242)
        net.a.icmp.on_echo_reply = lambda ip, reply: (
            dataclasses.replace(reply, code=3), {"df": True}
        )  # fmt: skip
        reply_pkt, reply = pr.ping(0, 1)
        assert reply.code == 3 and reply_pkt.flags & FLAG_DF


def test_a_second_personality_replaces_the_first() -> None:
    from pystack.personality import apply

    with SimNet(2, personality="windows") as net:
        apply(net.a, "linux")
        cls = net.a.tcp.session_class
        assert cls.personality.name == "linux" and "Windows" not in str(cls.__mro__)
        [(pkt, seg)] = Probe(net).send(OPEN, S, PROBE_OPTIONS)
        assert pkt.ttl == 64 and "".join(KIND[type(o)] for o in seg.options) == "MSTNW"


def test_an_ack_to_the_open_port_is_reset_whatever_else_is_set(
    probe: tuple[Personality, Probe],
) -> None:
    """RFC 9293 §3.10.7.2: in LISTEN an ACK is answered with an RST before SYN or FIN
    are looked at (the conformance suite found SYN|FIN|ACK dropped)."""
    _, pr = probe
    [(_, seg)] = pr.send(OPEN, S | F | AK, seq=5000, ack=777)
    assert seg.flags == R and seg.seq == 777
