"""The frames of the fuzz campaign (:mod:`pystack.benchmarks.fuzz`): generators aimed at
one stack's addresses, ports and connections, the mutations applied to what they build,
and the guard that keeps the checked transfer out of harm a correct stack must allow.

Frames are built from bytes with ``struct``, not with the codecs, so that any field can
hold any value; checksums are right unless a mutation breaks them on purpose. Every
draw comes from one ``random.Random``, so a seed gives the same frames every time.
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from pystack.wire.checksum import internet_checksum, pseudo_header

__all__ = [
    "DnsWait",
    "Endpoint",
    "FrameFactory",
    "Target",
    "fix_checksums",
    "ip_bytes",
    "mac_bytes",
]

ETH_IPV4 = b"\x08\x00"
ETH_ARP = b"\x08\x06"
BROADCAST = b"\xff" * 6
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_MASK = 0xFFFFFFFF
_TCP_HDR = struct.Struct("!HHIIBBHHH")
_IP_HDR = struct.Struct("!BBHHHBBH4s4s")
_ARP = struct.Struct("!HHBBH6s4s6s4s")
# TCP flag sets, most common first: a segment a peer would send, then odd ones.
_FLAGS = (ACK, ACK, ACK | PSH, ACK | PSH, SYN, SYN | ACK, FIN | ACK, RST, RST | ACK, FIN,
          0, SYN | FIN, SYN | RST, RST | FIN | ACK, URG | ACK, 0xFF, 0xC2 | ACK)  # fmt: skip
# Header fields as (offset in the header, width in bytes), for field-level mutations.
_FIELDS = {
    "eth": ((0, 6), (6, 6), (12, 2)),
    "arp": ((0, 2), (2, 2), (4, 1), (5, 1), (6, 2), (8, 6), (14, 4), (18, 6), (24, 4)),
    "ip": ((0, 1), (1, 1), (2, 2), (4, 2), (6, 2), (8, 1), (9, 1), (10, 2), (12, 4), (16, 4)),
    6: ((0, 2), (2, 2), (4, 4), (8, 4), (12, 1), (13, 1), (14, 2), (16, 2), (18, 2),
        (20, 1), (21, 1), (22, 2)),
    17: ((0, 2), (2, 2), (4, 2), (6, 2)),
    1: ((0, 1), (1, 1), (2, 2), (4, 4), (8, 1), (10, 2), (16, 2), (17, 1), (28, 4)),
}  # fmt: skip


def mac_bytes(mac: str) -> bytes:
    """``"02:00:00:00:00:01"`` as 6 bytes."""
    return bytes.fromhex(mac.replace(":", ""))


def ip_bytes(ip: str) -> bytes:
    """A dotted IPv4 address as 4 bytes."""
    return socket.inet_aton(ip)


@dataclass
class Endpoint:
    """A TCP connection as the target stack holds it (sequence numbers as ints)."""

    local_port: int
    remote_ip: bytes
    remote_port: int
    rcv_nxt: int
    rcv_wnd: int
    snd_una: int
    snd_max: int
    ts_recent: int
    kind: str = "other"  # "live" (the checked transfer), "victim", "closing", "syn_sent"


@dataclass
class DnsWait:
    """A DNS query in flight: where its answer must come to, and what it must match."""

    port: int
    ident: int
    name: str
    qtype: int


@dataclass
class Target:
    """What the generators aim at on one stack: its addresses, its peer's, its ports and
    its connections (refreshed by the campaign between batches)."""

    mac: bytes
    ip: bytes
    peer_mac: bytes
    peer_ip: bytes
    listen_ports: tuple[int, ...]
    udp_ports: tuple[int, ...]
    connections: list[Endpoint] = field(default_factory=list)
    dns: DnsWait | None = None  # a query of this stack's resolver waiting for its answer


def _carry(a: int, b: int) -> int:
    return (a + b) & _MASK


def fix_checksums(frame: bytes) -> bytes:
    """``frame`` with its IPv4 header checksum and its TCP/UDP/ICMP checksum recomputed
    over what the header fields say (the whole datagram unless it is a fragment)."""
    if frame[12:14] != ETH_IPV4 or len(frame) < 34:
        return frame
    ihl = (frame[14] & 15) * 4
    if ihl < 20 or len(frame) < 14 + ihl:
        return frame
    b = bytearray(frame)
    b[24:26] = b"\0\0"
    b[24:26] = internet_checksum(b[14 : 14 + ihl]).to_bytes(2, "big")
    if int.from_bytes(b[20:22], "big") & 0x3FFF:
        return bytes(b)  # a fragment: the transport checksum covers the whole datagram
    total = int.from_bytes(b[16:18], "big")
    end = 14 + total if ihl <= total <= len(b) - 14 else len(b)
    l4, proto = 14 + ihl, b[23]
    spot = {6: 16, 17: 6, 1: 2}.get(proto)
    if spot is None or end - l4 < spot + 2:
        return bytes(b)
    b[l4 + spot : l4 + spot + 2] = b"\0\0"
    initial = 0 if proto == 1 else pseudo_header(bytes(b[26:30]), bytes(b[30:34]), proto, end - l4)
    csum = internet_checksum(b[l4:end], initial)
    if proto == 17 and csum == 0:
        csum = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    b[l4 + spot : l4 + spot + 2] = csum.to_bytes(2, "big")
    return bytes(b)


class FrameFactory:
    """Draws frames for a :class:`Target` from ``rng``: each call of :meth:`frames` gives
    one frame, or a train of fragments, already mutated (or not) and counted by family."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.families: dict[str, int] = {}
        self.mutations: dict[str, int] = {}
        gens: list[tuple[str, float, Callable[[Target], list[bytes]]]] = [
            ("raw", 2, self._raw), ("ethernet", 4, self._ethernet), ("arp", 7, self._arp),
            ("ipv4", 7, self._ipv4), ("fragments", 6, self._fragments),
            ("icmp", 12, self._icmp), ("udp", 6, self._udp), ("dns", 4, self._dns),
            ("tcp_listener", 14, self._tcp_listener), ("tcp_connection", 36, self._tcp_conn),
            ("tcp_closed_port", 4, self._tcp_closed),
        ]  # fmt: skip
        self._names = [g[0] for g in gens]
        self._gens = [g[2] for g in gens]
        total, acc = sum(g[1] for g in gens), 0.0
        self._cum = []
        for _, weight, _ in gens:
            acc += weight / total
            self._cum.append(acc)

    def frames(self, target: Target) -> list[bytes]:
        """One draw: a frame (or a train of fragments), each mutated or not."""
        r = self.rng.random()
        i = next((i for i, c in enumerate(self._cum) if r < c), len(self._cum) - 1)
        name = self._names[i]
        self.families[name] = self.families.get(name, 0) + 1
        return [self.mutate(f) for f in self._gens[i](target)]

    # -- mutations ------------------------------------------------------------------------

    def mutate(self, frame: bytes) -> bytes:
        """Leave ``frame`` alone (about 40 %), or flip bits, change a field, truncate,
        extend or break a checksum; after some mutations the checksums are made right
        again so that the mutated frame gets past them."""
        rng = self.rng
        r = rng.random()
        if r < 0.40 or not frame:
            kind, out = "none", frame
        elif r < 0.62:
            kind, out = "bitflip_fixed", fix_checksums(self._flip(frame))
        elif r < 0.70:
            kind, out = "bitflip", self._flip(frame)
        elif r < 0.80:
            kind, out = "field_fixed", fix_checksums(self._field(frame))
        elif r < 0.86:
            kind, out = "field", self._field(frame)
        elif r < 0.92:
            kind, out = "truncate", frame[: rng.randrange(len(frame))]
        elif r < 0.97:
            kind, out = "bad_checksum", self._break_checksum(frame)
        else:
            tail = rng.randbytes(rng.randrange(1, 64))
            out = frame + tail
            kind, out = "extend", fix_checksums(out) if rng.random() < 0.5 else out
        self.mutations[kind] = self.mutations.get(kind, 0) + 1
        return out

    def _flip(self, frame: bytes) -> bytes:
        rng = self.rng
        b = bytearray(frame)
        for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
            # Mostly in the headers, where a flip changes what the stack decides.
            i = rng.randrange(min(len(b), 74)) if rng.random() < 0.8 else rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)

    def _field(self, frame: bytes) -> bytes:
        """Set one header field to a boundary value, a neighbour of its own, or noise."""
        rng = self.rng
        layers: list[tuple[str | int, int]] = [("eth", 0)]
        if frame[12:14] == ETH_ARP:
            layers.append(("arp", 14))
        elif frame[12:14] == ETH_IPV4 and len(frame) >= 34:
            layers.append(("ip", 14))
            l4 = 14 + (frame[14] & 15) * 4
            if frame[23] in _FIELDS and len(frame) > l4:
                layers += [(frame[23], l4)] * 2
        name, base = rng.choice(layers[1:] or layers)
        offset, width = rng.choice(_FIELDS[name])
        start = base + offset
        if start + width > len(frame):
            return frame
        top = (1 << (8 * width)) - 1
        old = int.from_bytes(frame[start : start + width], "big")
        flip = old ^ (1 << rng.randrange(8 * width))
        value = rng.choice((0, 1, top, top - 1, (top + 1) >> 1, rng.randrange(top + 1),
                            (old + 1) & top, (old - 1) & top, flip))  # fmt: skip
        return frame[:start] + value.to_bytes(width, "big") + frame[start + width :]

    def _break_checksum(self, frame: bytes) -> bytes:
        """Flip the high byte of the IPv4 or the transport checksum (never a no-op:
        0x0000 and 0xFFFF are the only equal pair, and this moves by 0xFF00)."""
        if frame[12:14] != ETH_IPV4 or len(frame) < 34:
            return self._flip(frame)
        spot = 24
        l4 = 14 + (frame[14] & 15) * 4
        where = {6: 16, 17: 6, 1: 2}.get(frame[23])
        if where is not None and len(frame) > l4 + where + 1 and self.rng.random() < 0.7:
            spot = l4 + where
        return frame[:spot] + bytes((frame[spot] ^ 0xFF,)) + frame[spot + 1 :]

    # -- addresses ------------------------------------------------------------------------

    def _src_ip(self, t: Target) -> bytes:
        """A source: the real peer, a spoofed neighbour or stranger, ourselves, or one
        RFC 1122 §3.2.1.3 forbids (broadcast, multicast, loopback, zero)."""
        rng = self.rng
        r = rng.random()
        if r < 0.30:
            return t.peer_ip
        if r < 0.60:
            return bytes((198, 18, 0, rng.randrange(3, 255)))
        if r < 0.75:
            return bytes((198, 19, rng.randrange(256), rng.randrange(256)))
        if r < 0.80:
            return t.ip
        if r < 0.90:
            return rng.choice((b"\x7f\0\0\1", b"\xe0\0\0\5", BROADCAST[:4], b"\0\0\0\0",
                               bytes((198, 18, 0, 255))))  # fmt: skip
        return rng.randbytes(4)

    def _dst_ip(self, t: Target) -> bytes:
        r = self.rng.random()
        if r < 0.88:
            return t.ip
        if r < 0.94:
            return self.rng.choice((BROADCAST[:4], bytes((198, 18, 0, 255)), b"\xe0\0\0\1"))
        return bytes((198, 18, 0, self.rng.randrange(256)))

    def _dst_mac(self, t: Target) -> bytes:
        r = self.rng.random()
        if r < 0.92:
            return t.mac
        if r < 0.97:
            return BROADCAST
        return self.rng.choice((b"\x01\x00\x5e\x00\x00\x01", self.rng.randbytes(6)))

    def _src_mac(self) -> bytes:
        return bytes((0x02,)) + self.rng.randbytes(5)

    # -- builders -------------------------------------------------------------------------

    def _ipv4_frame(
        self, t: Target, src: bytes, dst: bytes, proto: int, payload: bytes, *,
        frag: int = 0, ident: int | None = None, options: bytes = b"",
    ) -> bytes:  # fmt: skip
        rng = self.rng
        ihl = 5 + len(options) // 4
        ttl = rng.choice((64, 64, 64, 1, 0, 255))
        tos = 0 if rng.random() < 0.8 else rng.randrange(256)
        ident = rng.randrange(1 << 16) if ident is None else ident
        header = _IP_HDR.pack(0x40 | ihl, tos, ihl * 4 + len(payload) & 0xFFFF, ident, frag,
                              ttl, proto, 0, src, dst) + options  # fmt: skip
        csum = internet_checksum(header).to_bytes(2, "big")
        header = header[:10] + csum + header[12:]
        return self._dst_mac(t) + self._src_mac() + ETH_IPV4 + header + payload

    def _tcp_segment(self, src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int,
                     flags: int, window: int, options: bytes, payload: bytes) -> bytes:  # fmt: skip
        off = (5 + len(options) // 4) << 4
        urgent = self.rng.randrange(1 << 16) if flags & URG else 0
        header = _TCP_HDR.pack(sport, dport, seq & _MASK, ack & _MASK, off, flags & 0xFF,
                               window, 0, urgent) + options  # fmt: skip
        data = header + payload
        csum = internet_checksum(data, pseudo_header(src, dst, 6, len(data)))
        return data[:16] + csum.to_bytes(2, "big") + data[18:]

    def _payload(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return b""
        if r < 0.80:
            return rng.randbytes(rng.randrange(1, 65))
        if r < 0.97:
            return rng.randbytes(rng.randrange(65, 1461))
        return rng.randbytes(rng.randrange(1461, 3000))

    # -- families -------------------------------------------------------------------------

    def _raw(self, t: Target) -> list[bytes]:
        return [self.rng.randbytes(self.rng.randrange(0, 80))]

    def _ethernet(self, t: Target) -> list[bytes]:
        rng = self.rng
        ethertype = rng.choice((b"\x86\xdd", b"\x81\x00", b"\x88\xcc", rng.randbytes(2),
                                ETH_IPV4, ETH_ARP))  # fmt: skip
        return [self._dst_mac(t) + self._src_mac() + ethertype + rng.randbytes(rng.randrange(60))]

    def _arp(self, t: Target) -> list[bytes]:
        rng = self.rng
        op = rng.choice((1, 1, 2, 2, 0, 3, rng.randrange(1 << 16)))
        sender_ip = rng.choice((bytes((198, 18, 0, rng.randrange(3, 255))), t.peer_ip, t.ip,
                                b"\0\0\0\0", bytes((198, 19, 1, 1)), BROADCAST[:4]))  # fmt: skip
        sender_mac = rng.choice((self._src_mac(), self._src_mac(), BROADCAST, bytes(6),
                                 b"\x01\x00\x5e\x00\x00\x01"))  # fmt: skip
        target_ip = t.ip if rng.random() < 0.7 else bytes((198, 18, 0, rng.randrange(256)))
        target_mac = rng.choice((bytes(6), t.mac, BROADCAST, self._src_mac()))
        body = _ARP.pack(1, 0x0800, 6, 4, op, sender_mac, sender_ip, target_mac, target_ip)
        dst = BROADCAST if rng.random() < 0.5 else self._dst_mac(t)
        return [dst + sender_mac + ETH_ARP + body + bytes(rng.choice((0, 18, 3)))]

    def _ip_options(self) -> bytes:
        """IPv4 options (RFC 791 §3.1): record route, timestamps, source routes, well
        formed or with bad lengths, pointers or flags; padded with EOL to 4-byte words."""
        rng = self.rng
        out = b""
        for _ in range(rng.choice((1, 1, 2, 3))):
            if rng.random() < 0.5:
                out += self._ip_option_valid()
                continue
            kind = rng.choice((7, 68, 131, 137, 1, 0, 130, 148, rng.randrange(256)))
            if kind in (0, 1):
                out += bytes((kind,))
                continue
            slots = rng.randrange(0, 10)
            size = 3 + 4 * slots if kind in (7, 131, 137) else 4 + 4 * slots
            if kind == 68:
                size = 4 + rng.choice((4, 8)) * rng.randrange(0, 5)
            size = rng.choice((size, size, rng.randrange(0, 41)))
            pointer = rng.choice((4, 5, 5 + 4 * rng.randrange(slots + 1), rng.randrange(256)))
            third = rng.choice((0, 1, 3, 2, rng.randrange(256)))
            body = bytes((kind, size & 0xFF, pointer, third)) + rng.randbytes(max(0, size - 4))
            out += body[: max(size, 2)]
        out = out[:40]
        return out + bytes(-len(out) % 4)

    def _ip_option_valid(self) -> bytes:
        """A well-formed record route, timestamp or source route, with room left, full,
        or (a source route) completed."""
        rng = self.rng
        kind = rng.choice((7, 68, 131, 137))
        if kind == 68:
            flag = rng.choice((0, 1, 3))
            slot = 4 if flag == 0 else 8
            n = rng.randrange(1, 36 // slot + 1)
            pointer = 5 + slot * rng.randrange(n + 1)
            head = bytes((68, 4 + slot * n, pointer, rng.randrange(16) << 4 | flag))
            return head + rng.randbytes(slot * n)
        n = rng.randrange(1, 10)
        pointer = 4 + 4 * rng.randrange(n + 1)
        return bytes((kind, 3 + 4 * n, pointer)) + rng.randbytes(4 * n)

    def _ipv4(self, t: Target) -> list[bytes]:
        rng = self.rng
        proto = rng.choice((1, 6, 17, 2, 47, 50, 89, 132, 255, rng.randrange(256)))
        options = self._ip_options() if rng.random() < 0.5 else b""
        frag = rng.choice((0, 0, 0x4000, 0x8000, 0x2000, rng.randrange(1 << 16)))
        payload = rng.randbytes(rng.randrange(0, 200))
        return [self._ipv4_frame(t, self._src_ip(t), self._dst_ip(t), proto, payload,
                                 frag=frag, options=options)]  # fmt: skip

    def _datagram(self, t: Target, src: bytes) -> tuple[int, bytes]:
        """A transport payload worth fragmenting: UDP to a bound port, an echo request,
        or a TCP SYN to a listener."""
        rng = self.rng
        r = rng.random()
        size = rng.randrange(8, 3000)
        if rng.random() < 0.05:  # near 64 KiB, and at the limits of UDP and IPv4 payloads
            size = rng.choice(
                (65_507, 65_508, 65_515, 65_516, 65_535, rng.randrange(60_000, 65_536))
            )
        data = rng.randbytes(size)
        if r < 0.4:
            port = rng.choice(t.udp_ports) if t.udp_ports else 9
            length = (8 + len(data)) & 0xFFFF  # past 65535 it wraps, as a forged header would
            head = struct.pack("!HHHH", rng.randrange(1024, 65536), port, length, 0)
            udp = head + data
            csum = internet_checksum(udp, pseudo_header(src, t.ip, 17, len(udp))) or 0xFFFF
            return 17, udp[:6] + csum.to_bytes(2, "big") + udp[8:]
        if r < 0.8:
            body = struct.pack("!BBHHH", 8, 0, 0, rng.randrange(1 << 16), 1) + data
            return 1, body[:2] + internet_checksum(body).to_bytes(2, "big") + body[4:]
        port = rng.choice(t.listen_ports) if t.listen_ports else 80
        seg = self._tcp_segment(src, t.ip, rng.randrange(1024, 65536), port,
                                rng.getrandbits(32), 0, SYN, 65535, b"", data)  # fmt: skip
        return 6, seg

    def _fragments(self, t: Target) -> list[bytes]:
        """A datagram cut into fragments, then shuffled, duplicated, overlapped, shortened
        or pushed past 65535 bytes (RFC 791 §3.2, RFC 815; the ping of death)."""
        rng = self.rng
        src = self._src_ip(t) if rng.random() < 0.5 else t.peer_ip
        proto, data = self._datagram(t, src)
        step = rng.choice((8, 16, 64, 512, 1480, 8 * rng.randrange(1, 200)))
        if len(data) > 24 * step:
            step = 1480  # a datagram near 64 KiB comes in 45 pieces
        pieces = [(off, data[off : off + step]) for off in range(0, len(data), step)][:48]
        ident = rng.choice((rng.randrange(1 << 16), 1, 2, 3))
        self._disorder(pieces)
        frames = []
        last_end = max(off + len(chunk) for off, chunk in pieces)
        for off, chunk in pieces:
            more = off + len(chunk) < last_end or rng.random() < 0.05
            frag = (0x2000 if more else 0) | (off >> 3 & 0x1FFF)
            if rng.random() < 0.03:
                frag |= 0x4000  # DF on a fragment
            frames.append(self._ipv4_frame(t, src, t.ip, proto, chunk, frag=frag, ident=ident))
        return frames

    def _disorder(self, pieces: list[tuple[int, bytes]]) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            rng.shuffle(pieces)
        elif r < 0.45 and len(pieces) > 1:
            pieces.pop(rng.randrange(len(pieces)))  # a piece never comes
        elif r < 0.6:
            pieces.append(rng.choice(pieces))  # a duplicate
        elif r < 0.8:
            off, chunk = rng.choice(pieces)  # an overlap with other bytes
            moved = (max(0, off + 8 * rng.randrange(-4, 5)), rng.randbytes(len(chunk)))
            pieces.insert(rng.randrange(len(pieces) + 1), moved)
        elif r < 0.9:
            pieces[-1] = (0xFFF8 - 8 * rng.randrange(4), pieces[-1][1])  # past 65535 bytes

    def _icmp(self, t: Target) -> list[bytes]:
        """Echo requests (with IP options to reflect), unmatched replies, and errors
        quoting our own connections, UDP or echoes, cut anywhere (RFC 792, RFC 1122 §3.2.2)."""
        rng = self.rng
        r = rng.random()
        options = b""
        if r < 0.3:
            type_, code, rest = 8, 0, rng.getrandbits(32)
            body = rng.randbytes(rng.randrange(0, 100))
            options = self._ip_options() if rng.random() < 0.4 else b""
        elif r < 0.4:
            type_, code, rest, body = 0, 0, rng.getrandbits(32), rng.randbytes(8)
        elif r < 0.9:
            type_ = rng.choice((3, 3, 3, 4, 11, 12, 5))
            code = rng.choice((0, 1, 2, 3, 4, 4, rng.randrange(256)))
            mtu = rng.choice((0, 68, 576, 1280, 1500, 65535, rng.randrange(1 << 16)))
            rest = mtu if type_ == 3 and code == 4 else rng.choice((0, rng.getrandbits(32)))
            body = self._quote(t)
        else:
            type_, code, rest = rng.randrange(256), rng.randrange(256), rng.getrandbits(32)
            body = rng.randbytes(rng.randrange(0, 60))
        msg = struct.pack("!BBHI", type_, code, 0, rest) + body
        msg = msg[:2] + internet_checksum(msg).to_bytes(2, "big") + msg[4:]
        return [self._ipv4_frame(t, self._src_ip(t), self._dst_ip(t), 1, msg, options=options)]

    def _quote(self, t: Target) -> bytes:
        """The datagram an ICMP error quotes: one of ours (a connection's segment, UDP, an
        echo) or a stranger's, with the quote cut short or its header odd."""
        rng = self.rng
        r = rng.random()
        dst = t.peer_ip if rng.random() < 0.7 else self._src_ip(t)
        if r < 0.55 and t.connections:
            ep = rng.choice(t.connections)
            seq = _carry(ep.snd_una, rng.choice((0, 1, -1, 1 << 31, ep.snd_max - ep.snd_una)))
            inner = struct.pack("!HHII", ep.local_port, ep.remote_port, seq, ep.rcv_nxt)
            proto, dst = 6, ep.remote_ip
        elif r < 0.75:
            proto, inner = 17, struct.pack("!HHHH", rng.randrange(1 << 16), 53, 20, 0)
        elif r < 0.9:
            proto, inner = 1, struct.pack("!BBHHH", 8, 0, 0, rng.randrange(1 << 16), 1)
        else:
            proto, inner = rng.randrange(256), rng.randbytes(8)
        src = t.ip if rng.random() < 0.85 else self._src_ip(t)
        options = self._ip_options() if rng.random() < 0.1 else b""
        ihl = 5 + len(options) // 4
        total = rng.choice((ihl * 4 + len(inner), ihl * 4 + 1000, rng.randrange(1 << 16)))
        header = _IP_HDR.pack(0x40 | ihl, 0, total, 1, 0, 64, proto, 0, src, dst) + options
        quoted = header + inner + rng.randbytes(rng.choice((0, 0, 12, 100)))
        return quoted[: rng.choice((len(quoted), len(quoted), 28, 24, 20, 12, 0))]

    def _udp(self, t: Target) -> list[bytes]:
        rng = self.rng
        src, dst = self._src_ip(t), self._dst_ip(t)
        r = rng.random()
        port = rng.choice(t.udp_ports) if r < 0.5 and t.udp_ports else rng.randrange(1 << 16)
        data = rng.randbytes(rng.randrange(0, 600))
        length = rng.choice((8 + len(data),) * 6 + (0, 7, 9, 8 + len(data) + 1, 65535))
        udp = struct.pack("!HHHH", rng.randrange(1 << 16), port, length, 0) + data
        r = rng.random()
        csum = 0  # RFC 768: no checksum
        if r < 0.8:
            csum = internet_checksum(udp, pseudo_header(src, dst, 17, len(udp))) or 0xFFFF
        udp = udp[:6] + csum.to_bytes(2, "big") + udp[8:]
        return [self._ipv4_frame(t, src, dst, 17, udp)]

    def _dns(self, t: Target) -> list[bytes]:
        """An answer to the resolver's query in flight (RFC 1035 §4.1), from its server:
        the right ID and question, records of every type, compression pointers (some
        looping), then bytes of it flipped or cut (RFC 5452 §9.1 decides what matches)."""
        rng = self.rng
        wait = t.dns
        if wait is None:
            return self._udp(t)
        message = self._dns_message(wait)
        if rng.random() < 0.3:
            b = bytearray(message)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            message = bytes(b[: rng.randrange(len(b) + 1)] if rng.random() < 0.2 else b)
        src = t.peer_ip
        udp = struct.pack("!HHHH", 53, wait.port, 8 + len(message), 0) + message
        csum = internet_checksum(udp, pseudo_header(src, t.ip, 17, len(udp))) or 0xFFFF
        udp = udp[:6] + csum.to_bytes(2, "big") + udp[8:]
        return [self._ipv4_frame(t, src, t.ip, 17, udp)]

    def _dns_message(self, wait: DnsWait) -> bytes:
        rng = self.rng
        clean = rng.random() < 0.6  # well-formed records only, else odd ones among them
        flags = 0x8180 | rng.choice((0, 0, 0, 3, 2, 5, 0x200, 0x400, rng.randrange(16)))
        counts = [rng.choice((0, 1, 1, 2, 5)) for _ in range(3)]
        qname = b"".join(bytes((len(p),)) + p.encode() for p in wait.name.split(".")) + b"\0"
        out = struct.pack("!HHHHHH", wait.ident, flags, 1, *counts) + qname
        out += struct.pack("!HH", wait.qtype, 1)
        for _ in range(sum(counts)):
            out += self._dns_record(wait, clean)
        return out

    def _dns_record(self, wait: DnsWait, clean: bool) -> bytes:
        rng = self.rng
        owner = rng.choice((b"\xc0\x0c", b"\xc0\x0c", b"\x01x\xc0\x0c", b"\xc0\xff", b"\0"))
        rtype = rng.choice((wait.qtype, 1, 28, 5, 15, 6, 16, 2, 12, rng.randrange(1 << 16)))
        target = rng.choice((b"\xc0\x0c", b"\x03www\xc0\x0c", b"\x01a\0", b"\xc0\x12"))
        if clean:
            owner = b"\xc0\x0c"
            target = rng.choice((b"\xc0\x0c", b"\x03www\xc0\x0c", b"\x01a\0"))
        sizes = (4, 16, 20) if clean else (rng.choice((4, 4, 3)), rng.choice((16, 4)), 19)
        rdata = {
            1: rng.randbytes(sizes[0]),
            28: rng.randbytes(sizes[1]),
            15: struct.pack("!H", rng.randrange(1 << 16)) + target,
            6: target + target + rng.randbytes(sizes[2]),
            16: bytes((5,)) + b"hello",
        }.get(rtype, target if rtype in (2, 5, 12) else rng.randbytes(rng.randrange(0, 40)))
        ttl = rng.choice((0, 300, 1 << 31, 0xFFFFFFFF))
        return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata

    def _tcp_options(self, ep: Endpoint | None) -> bytes:
        """TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): the usual sets, values at
        their limits, unknown kinds and illegal lengths (MUST-7), EOL-padded."""
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return b""
        ts_recent = ep.ts_recent if ep is not None else rng.getrandbits(32)
        tsval = _carry(ts_recent, rng.choice((0, 1, -1, 1000, -1000, 1 << 31, rng.getrandbits(32))))
        ts = b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, rng.getrandbits(32))
        if r < 0.6:
            return ts
        if r < 0.75 and ep is not None:
            return ts + self._sack_option(ep)
        out = b""
        for _ in range(rng.randrange(1, 6)):
            kind = rng.choice((2, 3, 4, 5, 8, 1, 0, 34, 19, 30, rng.randrange(256)))
            if kind in (0, 1):
                out += bytes((kind,))
            elif kind == 2:
                out += b"\x02\x04" + rng.choice((0, 1, 536, 1460, 65535)).to_bytes(2, "big")
            elif kind == 3:
                out += bytes((3, 3, rng.choice((0, 7, 14, 15, 255))))
            elif kind == 4:
                out += b"\x04\x02"
            elif kind == 8:
                out += ts[2:]
            else:
                size = rng.choice((0, 1, 2, 3, 10, 18, 40, rng.randrange(256)))
                out += bytes((kind, size)) + rng.randbytes(max(0, min(size, 40) - 2))
        out = out[:40]
        return out + bytes(-len(out) % 4)

    def _sack_option(self, ep: Endpoint) -> bytes:
        rng = self.rng
        blocks = b""
        for _ in range(rng.randrange(1, 5)):
            left = _carry(ep.snd_una, rng.randrange(-3000, max(ep.snd_max - ep.snd_una, 0) + 3000))
            blocks += struct.pack("!II", left, _carry(left, rng.choice((1, 1460, -1, 0, 1 << 31))))
        option = bytes((5, 2 + len(blocks))) + blocks
        return (b"\x01\x01" + option)[:28]

    def _tcp_listener(self, t: Target) -> list[bytes]:
        """Mostly SYNs with every option mix, from any source, to a listening port; and
        the segments a listener must ignore or refuse (RFC 9293 §3.10.7.2)."""
        rng = self.rng
        src = self._src_ip(t)
        port = rng.choice(t.listen_ports) if t.listen_ports else 80
        flags = SYN if rng.random() < 0.6 else rng.choice(_FLAGS)
        payload = self._payload() if rng.random() < 0.15 else b""
        ack = rng.getrandbits(32) if flags & ACK else 0
        window = rng.choice((0, 1, 1024, 65535))
        seg = self._tcp_segment(src, t.ip, rng.randrange(1 << 16), port, rng.getrandbits(32),
                                ack, flags, window, self._tcp_options(None), payload)  # fmt: skip
        return [self._ipv4_frame(t, src, self._dst_ip(t), 6, seg)]

    def _tcp_closed(self, t: Target) -> list[bytes]:
        rng = self.rng
        src = self._src_ip(t)
        port = rng.randrange(1 << 16)
        seg = self._tcp_segment(src, t.ip, rng.randrange(1 << 16), port, rng.getrandbits(32),
                                rng.getrandbits(32), rng.choice(_FLAGS), 65535, b"",
                                self._payload())  # fmt: skip
        return [self._ipv4_frame(t, src, t.ip, 6, seg)]

    def _tcp_conn(self, t: Target) -> list[bytes]:
        """A segment on one of the target's connections, sequence and acknowledgment
        numbers placed around its windows (RFC 9293 §3.10.7.4, RFC 5961, RFC 7323 §5)."""
        rng = self.rng
        if not t.connections:
            return self._tcp_listener(t)
        ep = self._pick_endpoint(t)
        src, sport, dport = ep.remote_ip, ep.remote_port, ep.local_port
        if rng.random() < 0.05:  # one element of the 4-tuple off by a little
            sport = (sport + rng.choice((1, -1))) & 0xFFFF
        if ep.kind == "live":
            seq, ack, flags, payload, options = self._safe_on_live(ep)
        else:
            seq, ack = self._seq(ep), self._ack(ep)
            flags = rng.choice(_FLAGS)
            payload, options = self._payload(), self._tcp_options(ep)
        window = rng.choice((0, 1, 512, 65535, rng.randrange(1 << 16), ep.rcv_wnd & 0xFFFF))
        seg = self._tcp_segment(src, t.ip, sport, dport, seq, ack, flags, window, options, payload)
        return [self._ipv4_frame(t, src, t.ip, 6, seg)]

    def _pick_endpoint(self, t: Target) -> Endpoint:
        rng = self.rng
        kind = rng.choice(("live", "live", "victim", "victim", "closing", "closing", "other",
                           "syn_sent"))  # fmt: skip
        chosen = [ep for ep in t.connections if ep.kind == kind]
        return rng.choice(chosen or t.connections)

    def _seq(self, ep: Endpoint) -> int:
        rng = self.rng
        wnd = ep.rcv_wnd
        delta = rng.choice((0, 0, 1, -1, wnd, wnd - 1, wnd + 1, rng.randrange(wnd + 1),
                            -rng.randrange(1, 70000), rng.randrange(-(1 << 16), 1 << 16),
                            1 << 31, rng.getrandbits(32)))  # fmt: skip
        return _carry(ep.rcv_nxt, delta)

    def _ack(self, ep: Endpoint) -> int:
        rng = self.rng
        flight = (ep.snd_max - ep.snd_una) & _MASK
        una, nxt = ep.snd_una, ep.snd_max
        choices = ((una, 0), (una, -1), (una, 1), (nxt, 0), (nxt, 1),
                   (una, rng.randrange(flight + 1)), (una, -(1 << 30)),
                   (nxt, rng.randrange(1 << 16)), (0, rng.getrandbits(32)))  # fmt: skip
        base, delta = rng.choice(choices)
        return _carry(base, delta)

    def _safe_on_live(self, ep: Endpoint) -> tuple[int, int, int, bytes, bytes]:
        """A segment on the checked transfer that a correct stack must refuse or that
        cannot harm it: far out of the window; an in-window RST (a challenge ACK, RFC 5961
        §3.2); a SYN (§4); a duplicate or old ACK; data PAWS rejects (RFC 7323 §5.3)."""
        rng = self.rng
        r = rng.random()
        seq, ack = self._seq(ep), self._ack(ep)
        flags, payload, options = ACK, b"", self._tcp_options(ep)
        if r < 0.25:
            seq = _carry(ep.rcv_nxt, rng.choice((1 << 31, -(1 << 20), ep.rcv_wnd + (1 << 20))))
            flags, payload = rng.choice(_FLAGS), self._payload()
        elif r < 0.45:
            seq = _carry(ep.rcv_nxt, rng.choice((1, ep.rcv_wnd // 2, ep.rcv_wnd - 1, -1)))
            flags = rng.choice((RST, RST | ACK))
        elif r < 0.6:
            flags = rng.choice((SYN, SYN | ACK))
        elif r < 0.85:
            seq, ack = ep.rcv_nxt, _carry(ep.snd_una, -rng.randrange(0, 5000))
            options = self._old_ts(ep) + (self._sack_option(ep) if rng.random() < 0.5 else b"")
        else:
            flags, payload = ACK | PSH, self._payload() or b"x"
            options = self._old_ts(ep) or b"\x01\x01\x08\x0a" + bytes(8)
        return seq, ack, flags, payload, (options + bytes(-len(options) % 4))[:40]

    def _old_ts(self, ep: Endpoint) -> bytes:
        """NOP, NOP, a timestamp older than TS.Recent (or no option at all)."""
        if self.rng.random() < 0.3 or not ep.ts_recent:
            return b""
        tsval = _carry(ep.ts_recent, -self.rng.randrange(1, 1 << 30))
        return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, 0)


@dataclass
class LiveView:
    """The checked connection as one stack holds it, for the :class:`Guard`."""

    mac: str
    ip: str
    remote_ip: str
    wire_ports: bytes  # source and destination port as a frame to this stack carries them
    rcv_nxt: int
    rcv_wnd: int
    snd_max: int
    ts_ok: bool
    ts_recent: int
    peer_rcv_nxt: int  # what the other end has really received of what this one sent


class Guard:
    """Keeps the checked transfer out of what a correct stack must let happen to it.

    In-window data, an RST at exactly RCV.NXT, an ACK of bytes the peer never received,
    an in-window ACK that moves SND.WL1 or TS.Recent ahead of the real peer: a stack
    must accept these (RFC 9293 §3.10.7.4, RFC 5961 §3.2, RFC 7323 §4.3) and they would
    corrupt or stall the transfer whose bytes the campaign checks. The guard breaks the
    checksum of such a frame (so the stack drops it as bad_checksum) and counts it; the
    other connections get them all. ARP frames claiming a stack's own address get that
    stack's real MAC, as a spoofed binding would cut the wire between the two stacks.
    """

    def __init__(self, arp_truth: dict[bytes, bytes]) -> None:
        self.arp_truth = arp_truth
        self.views: dict[int, LiveView] = {}
        self.spoiled = 0

    def check(self, index: int, frame: bytes) -> bytes:
        """``frame`` as it may be delivered to stack ``index``."""
        kind = frame[12:14]
        if kind == ETH_ARP:
            return self._arp(frame)
        view = self.views.get(index)
        if view is None or kind != ETH_IPV4 or len(frame) < 38 or frame[23] != 6:
            return frame
        l4 = 14 + (frame[14] & 15) * 4
        if frame[l4 : l4 + 4] != view.wire_ports:
            return frame
        frag = int.from_bytes(frame[20:22], "big")
        if frag & 0x1FFF:
            return frame  # a later fragment: the ports it seems to hold are data
        if frag & 0x2000:
            self.spoiled += 1  # a first fragment: its datagram goes to another port
            return frame[: l4 + 2] + bytes((frame[l4 + 2] ^ 0x80,)) + frame[l4 + 3 :]
        if not self._harmful(view, frame):
            return frame
        self.spoiled += 1
        return frame[: l4 + 16] + bytes((frame[l4 + 16] ^ 0xFF,)) + frame[l4 + 17 :]

    def _arp(self, frame: bytes) -> bytes:
        mac = self.arp_truth.get(frame[28:32]) if len(frame) >= 42 else None
        if mac is None or frame[22:28] == mac:
            return frame
        self.spoiled += 1
        return frame[:22] + mac + frame[28:]

    def _harmful(self, view: LiveView, frame: bytes) -> bool:
        from pystack.wire import ethernet, ipv4
        from pystack.wire import tcp as tcpwire

        try:
            eth = ethernet.parse(frame)
            if eth.dst not in (view.mac, "ff:ff:ff:ff:ff:ff") or eth.ethertype != 0x0800:
                return False
            pkt = ipv4.parse(eth.payload)
            if not ipv4.header_checksum_ok(eth.payload) or pkt.is_fragment:
                return False
            if (pkt.src, pkt.dst) != (view.remote_ip, view.ip):
                return False
            if not tcpwire.checksum_ok(pkt.payload, pkt.src, pkt.dst):
                return False
            seg = tcpwire.parse(pkt.payload)
        except Exception:  # the stack must cope with it; the guard only judges
            return False
        return _harms(view, seg)


def _signed(a: int) -> int:
    return ((a & _MASK) ^ (1 << 31)) - (1 << 31)


def _harms(view: LiveView, seg: object) -> bool:
    """Whether a correct stack would let ``seg`` change the checked transfer."""
    flags: int = seg.flags  # type: ignore[attr-defined]
    d = _signed(seg.seq - view.rcv_nxt)  # type: ignore[attr-defined]
    if not -70000 <= d <= view.rcv_wnd + 70000:
        return False  # far out of the window: an ACK, then dropped
    if flags & RST:
        return d == 0  # RFC 5961 §3.2: only an exact RST resets
    stamp = seg.timestamp  # type: ignore[attr-defined]
    tsval = stamp[0] if stamp is not None and view.ts_ok else None
    if tsval is not None and view.ts_recent and _signed(view.ts_recent - tsval) > 0:
        return False  # RFC 7323 §5.3: PAWS drops it
    if tsval is not None and d <= 0 and _signed(tsval - view.ts_recent) > 0:
        return True  # RFC 7323 §4.3: would move TS.Recent ahead of the peer's clock
    if seg.payload or flags & FIN:  # type: ignore[attr-defined]
        return True
    if flags & SYN or not flags & ACK:
        return False  # RFC 5961 §4: a challenge ACK; no ACK bit: dropped
    if d != 0:
        return d > 0  # an acceptable pure ACK ahead of the peer moves SND.WL1 past it
    ahead = _signed(seg.ack - view.peer_rcv_nxt)  # type: ignore[attr-defined]
    return 0 < ahead <= _signed(view.snd_max - view.peer_rcv_nxt) + 1
