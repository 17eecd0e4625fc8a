"""Frames as ladder arrows: each frame decoded with the stack's own codecs and labelled.

TCP sequence and acknowledgment numbers are shown relative to each direction's initial
sequence number, as Wireshark does: a SYN is ``Seq=0``, its SYN-ACK ``Seq=0 Ack=1``.
:class:`Decoder` keeps that state, so it labels a whole capture in order; the conformance
tool feeds it in-memory segments through :meth:`Decoder.tcp`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from pystack.ladder.model import Frame
from pystack.wire import Malformed, arp, ethernet, icmp, icmpv6, ipv4, ipv6, ndp, udp
from pystack.wire import tcp as tcpwire
from pystack.wire.ethernet import EthernetFrame
from pystack.wire.icmp import IcmpMessage
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.ipv6 import Ipv6Packet
from pystack.wire.tcp import TcpSegment
from pystack.wire.tcp_options import Mss, Sack, SackPermitted, Timestamp, WindowScale
from pystack.wire.udp import UdpDatagram

_FLAG_NAMES = (
    (tcpwire.FIN, "FIN"), (tcpwire.SYN, "SYN"), (tcpwire.RST, "RST"), (tcpwire.PSH, "PSH"),
    (tcpwire.ACK, "ACK"), (tcpwire.URG, "URG"), (tcpwire.ECE, "ECE"), (tcpwire.CWR, "CWR"),
    (tcpwire.AE, "AE"),
)  # fmt: skip
_ICMP_TYPES = {
    0: "echo reply", 3: "destination unreachable", 4: "source quench", 5: "redirect",
    8: "echo request", 11: "time exceeded", 12: "parameter problem",
}  # fmt: skip
_ICMPV6_TYPES = {
    1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
    4: "parameter problem", 128: "echo request", 129: "echo reply",
}  # fmt: skip
_UNREACHABLE = {0: "net", 1: "host", 2: "protocol", 3: "port", 4: "fragmentation needed"}
_PROTOCOLS = {ipv4.PROTO_ICMP: "ICMP", ipv4.PROTO_TCP: "TCP", ipv4.PROTO_UDP: "UDP"}
_MASK = 0xFFFFFFFF
_Direction = tuple[str, int, str, int]


def tcp_flag_names(flags: int) -> str:
    """``SYN, ACK``: the flags by name, in header order."""
    return ", ".join(name for bit, name in _FLAG_NAMES if flags & bit) or "none"


class Decoder:
    """Turns frames into :class:`Frame` records; remembers each TCP direction's initial
    sequence number and window scale, and each host's MAC (``macs``, by IP)."""

    def __init__(self) -> None:
        self.isn: dict[_Direction, int] = {}
        self.wscale: dict[_Direction, int | None] = {}
        self.macs: dict[str, str] = {}
        self.lanes6: dict[str, str] = {}  # IPv6 address -> its host's lane

    def ethernet(self, time: float, data: bytes) -> Frame:
        """One Ethernet frame."""
        try:
            frame = ethernet.parse(data)
        except Malformed as exc:
            return Frame(time, "?", "?", (f"malformed Ethernet frame ({exc})",))
        if frame.ethertype == ethernet.ETHERTYPE_ARP:
            return self.arp(time, frame)
        if frame.ethertype == ethernet.ETHERTYPE_IPV4:
            return self.ipv4(time, frame.payload, frame.src)
        if frame.ethertype == ethernet.ETHERTYPE_IPV6:
            return self.ipv6(time, frame)
        line = f"ethertype {frame.ethertype:#06x}, {len(frame.payload)} bytes"
        return Frame(time, frame.src, frame.dst, (line,), broadcast=frame.dst == ethernet.BROADCAST)

    def arp(self, time: float, frame: EthernetFrame) -> Frame:
        """An ARP request (to the lane of the address asked about) or reply."""
        try:
            pkt = arp.parse(frame.payload)
        except Malformed as exc:
            return Frame(time, frame.src, frame.dst, (f"malformed ARP ({exc})",), "arp")
        self.macs[pkt.sender_ip] = pkt.sender_mac
        if pkt.op == arp.OP_REQUEST:
            line = f"ARP who-has {pkt.target_ip}? tell {pkt.sender_ip}"
            dst = pkt.target_ip
        else:
            line = f"ARP {pkt.sender_ip} is-at {pkt.sender_mac}"
            dst = pkt.target_ip
        return Frame(time, pkt.sender_ip, dst, (line,), "arp", frame.dst == ethernet.BROADCAST)

    def ipv4(self, time: float, data: bytes, src_mac: str | None = None) -> Frame:
        """One IPv4 datagram (or fragment of one)."""
        try:
            pkt = ipv4.parse(data)
        except Malformed as exc:
            return Frame(time, src_mac or "?", "?", (f"malformed IPv4 ({exc})",), "ip")
        if src_mac is not None:
            self.macs.setdefault(pkt.src, src_mac)
        if pkt.is_fragment:
            return self._fragment(time, pkt)
        try:
            if pkt.proto == ipv4.PROTO_TCP:
                return self.tcp(time, pkt.src, pkt.dst, tcpwire.parse(pkt.payload))
            if pkt.proto == ipv4.PROTO_UDP:
                return self.udp(time, pkt.src, pkt.dst, udp.parse(pkt.payload))
            if pkt.proto == ipv4.PROTO_ICMP:
                return self.icmp(time, pkt.src, pkt.dst, icmp.parse(pkt.payload))
        except Malformed as exc:
            name = _PROTOCOLS[pkt.proto]
            return Frame(time, pkt.src, pkt.dst, (f"malformed {name} ({exc})",), name.lower())
        line = f"IPv4 protocol {pkt.proto}, {len(pkt.payload)} bytes"
        return Frame(time, pkt.src, pkt.dst, (line,), "ip")

    def ipv6(self, time: float, frame: EthernetFrame) -> Frame:
        """One IPv6 datagram, on the lane of its host's IPv4 address when the frame's MAC
        is known (else its own); a multicast one (a solicitation) drawn dashed."""
        multicast = frame.dst.startswith("33:33:")
        try:
            pkt = ipv6.parse(frame.payload)
        except Malformed as exc:
            src = self._mac_lane(frame.src) or frame.src
            return Frame(time, src, "?", (f"malformed IPv6 ({exc})",), "ip", multicast)
        src = self._lane6(pkt.src, frame.src)
        dst = self._lane6(pkt.dst, None if multicast else frame.dst)
        try:
            kind, lines = self._ipv6_payload(pkt)
        except Malformed as exc:
            kind, lines = "ip", (f"malformed IPv6 payload ({exc})",)
        if multicast:
            dst = self._solicited_lane(kind, lines, src) or dst
        try:
            if kind == "tcp":
                lines = self.tcp(time, src, dst, tcpwire.parse(pkt.payload)).lines
            elif kind == "udp":
                lines = self.udp(time, src, dst, udp.parse(pkt.payload)).lines
        except Malformed as exc:
            lines = (f"malformed {kind.upper()} ({exc})",)
        return Frame(time, src, dst, lines, kind, multicast)

    def _ipv6_payload(self, pkt: Ipv6Packet) -> tuple[str, tuple[str, ...]]:
        frag = pkt.fragment
        if pkt.is_fragment and frag is not None:
            more = ", M" if frag.more else ""
            return "ip", (f"IPv6 fragment id={frag.ident} off={frag.offset} "
                          f"len={len(pkt.payload)}{more}",)  # fmt: skip
        if pkt.proto == ipv6.NH_TCP:
            return "tcp", ()
        if pkt.proto == ipv6.NH_UDP:
            return "udp", ()
        if pkt.proto != ipv6.NH_ICMPV6:
            return "ip", (f"IPv6 next header {pkt.proto}, {len(pkt.payload)} bytes",)
        msg = icmpv6.parse(pkt.payload, pkt.src, pkt.dst)
        if msg.type in (135, 136):
            nd = ndp.from_icmpv6(msg)
            target = getattr(nd, "target", "?")
            word = "NS who-has" if msg.type == 135 else "NA"
            return "icmp", (f"{word} {target}",)
        name = _ICMPV6_TYPES.get(msg.type, f"type {msg.type}")
        if msg.type in (128, 129):
            return "icmp", (f"ICMPv6 {name} id={msg.ident} seq={msg.seq} len={len(msg.payload)}",)
        return "icmp", (f"ICMPv6 {name} (code {msg.code})",)

    def _mac_lane(self, mac: str) -> str | None:
        """The IPv4 lane of the host that has ``mac``, if the capture showed it."""
        for ip, known in self.macs.items():
            if known == mac and ":" not in ip:
                return ip
        return None

    def _lane6(self, address: str, mac: str | None) -> str:
        lane = self.lanes6.get(address)
        if lane is None and mac is not None:
            lane = self._mac_lane(mac)
            if lane is not None:
                self.lanes6[address] = lane
        return lane or address

    def _solicited_lane(self, kind: str, lines: tuple[str, ...], src: str) -> str | None:
        """A solicitation goes to its target's lane: known, or the one other host."""
        if not lines or not lines[0].startswith("NS who-has "):
            return None
        target = lines[0].rsplit(" ", 1)[1]
        if target in self.lanes6:
            return self.lanes6[target]
        others = [ip for ip in self.macs if ":" not in ip and ip != src]
        return others[0] if len(others) == 1 else None

    def _fragment(self, time: float, pkt: Ipv4Packet) -> Frame:
        more = ", MF" if pkt.more_fragments else ""
        lines = [f"IPv4 fragment id={pkt.ident} off={pkt.frag_offset} len={len(pkt.payload)}{more}"]
        if pkt.frag_offset == 0 and pkt.proto == ipv4.PROTO_UDP and len(pkt.payload) >= 8:
            sport, dport, length, _ = struct.unpack_from("!HHHH", pkt.payload)
            lines.insert(0, f"UDP {sport} → {dport} Len={length - 8}")
        elif pkt.frag_offset == 0:
            lines.insert(0, _PROTOCOLS.get(pkt.proto, f"protocol {pkt.proto}"))
        return Frame(time, pkt.src, pkt.dst, tuple(lines), "ip")

    def udp(self, time: float, src: str, dst: str, dgram: UdpDatagram) -> Frame:
        """A UDP datagram: ports and payload length."""
        line = f"UDP {dgram.src_port} → {dgram.dst_port} Len={len(dgram.payload)}"
        return Frame(time, src, dst, (line,), "udp")

    def icmp(self, time: float, src: str, dst: str, msg: IcmpMessage) -> Frame:
        """An ICMP echo or error message."""
        name = _ICMP_TYPES.get(msg.type, f"type {msg.type}")
        if msg.type in (icmp.TYPE_ECHO_REQUEST, icmp.TYPE_ECHO_REPLY):
            line = f"ICMP {name} id={msg.ident} seq={msg.seq} len={len(msg.payload)}"
        elif msg.type == icmp.TYPE_DEST_UNREACHABLE:
            why = _UNREACHABLE.get(msg.code, f"code {msg.code}")
            line = f"ICMP {name} ({why}{f', mtu {msg.mtu}' if msg.code == 4 else ''})"
        else:
            line = f"ICMP {name} (code {msg.code})"
        lines = [line]
        if msg.is_error:
            try:
                quoted = msg.quoted
                lines.append(f"about {_PROTOCOLS.get(quoted.proto, quoted.proto)} "
                             f"{quoted.src} → {quoted.dst}")  # fmt: skip
            except Malformed:
                pass
        return Frame(time, src, dst, tuple(lines), "icmp")

    def tcp(self, time: float, src: str, dst: str, seg: TcpSegment) -> Frame:
        """A TCP segment: flags, relative seq/ack, length, window, options."""
        key: _Direction = (src, seg.src_port, dst, seg.dst_port)
        back: _Direction = (dst, seg.dst_port, src, seg.src_port)
        syn = bool(seg.flags & tcpwire.SYN)
        if syn and not seg.flags & tcpwire.ACK and self.isn.get(key) not in (None, seg.seq):
            self.isn.pop(back, None)  # a new connection on the same ports
            self.wscale.pop(back, None)
        if syn or key not in self.isn:
            self.isn[key] = seg.seq
            self.wscale[key] = seg.wscale if syn else None
        rel = (seg.seq - self.isn[key]) & _MASK
        head = f"[{tcp_flag_names(seg.flags)}] {seg.src_port} → {seg.dst_port}"
        numbers = f"Seq={rel}"
        if seg.flags & tcpwire.ACK:
            numbers += f" Ack={self._rel_ack(back, seg.ack)}"
        numbers += f" Win={self._window(key, back, seg)} Len={len(seg.payload)}"
        lines = [head, numbers]
        options = self._options(back, seg)
        if options:
            lines.append(options)
        return Frame(time, src, dst, tuple(lines), "tcp")

    def _rel_ack(self, back: _Direction, value: int) -> str:
        base = self.isn.get(back)
        return str(value) if base is None else str((value - base) & _MASK)

    def _window(self, key: _Direction, back: _Direction, seg: TcpSegment) -> int:
        # RFC 7323 §2.2: a SYN's window is never scaled; later ones are when both SYNs
        # carried the option.
        mine, theirs = self.wscale.get(key), self.wscale.get(back)
        if seg.flags & tcpwire.SYN or mine is None or theirs is None:
            return seg.window
        return seg.window << mine

    def _options(self, back: _Direction, seg: TcpSegment) -> str:
        words = []
        for opt in seg.options:
            if isinstance(opt, Mss):
                words.append(f"MSS={opt.value}")
            elif isinstance(opt, WindowScale):
                words.append(f"WS={1 << min(opt.shift, 14)}")
            elif isinstance(opt, SackPermitted):
                words.append("SACK_PERM")
            elif isinstance(opt, Timestamp):
                words.append(f"TSval={opt.tsval} TSecr={opt.tsecr}")
            elif isinstance(opt, Sack):
                blocks = " ".join(
                    f"{self._rel_ack(back, left)}-{self._rel_ack(back, right)}"
                    for left, right in opt.blocks
                )
                words.append(f"SACK {blocks}")
            elif type(opt).__name__ == "UnknownOption":
                words.append(f"opt{getattr(opt, 'kind', '?')}")
        return " ".join(words)


def frames_from_capture(
    records: Iterable[tuple[float, bytes]],
) -> tuple[list[Frame], dict[str, str]]:
    """The arrows of ``(time, Ethernet frame)`` records, and each host's MAC by IP."""
    decoder = Decoder()
    frames = [decoder.ethernet(time, data) for time, data in records]
    return frames, decoder.macs


def frames_from_pcap(path: str) -> tuple[list[Frame], dict[str, str]]:
    """The arrows of a pcap file of Ethernet frames, and each host's MAC by IP."""
    from pystack.links.pcap import read_pcap

    return frames_from_capture(read_pcap(path))
