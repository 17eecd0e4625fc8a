"""Conversions between the fast reprs and scapy packets, for the edges of the stack.

``to_scapy(repr)`` builds the scapy layer from the repr's fields (the payload dissected by
scapy's own guess, so a person sees ``Ether / IP / TCP``); ``from_scapy(packet)`` reads
the outermost layer of a scapy packet (pass ``pkt[TCP]`` for an inner one) from the fields
scapy dissects out of its bytes. Fields that scapy fills in on build (lengths, checksums,
EtherType) are left to scapy. Checksums are not part of the reprs: TCP and UDP need an IP
layer below them for scapy to compute theirs, as on the wire.
"""

from __future__ import annotations

import struct
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP, TCPOptions
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

from pystack.wire.arp import ArpPacket
from pystack.wire.ethernet import EthernetFrame
from pystack.wire.icmp import IcmpMessage
from pystack.wire.icmp import emit as emit_icmp
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.tcp import TcpSegment
from pystack.wire.tcp_options import (
    NOP,
    FastOpen,
    Mss,
    Nop,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamp,
    UnknownOption,
    WindowScale,
    decode_option,
)
from pystack.wire.udp import UdpDatagram

__all__ = ["Repr", "from_scapy", "to_scapy"]

Repr = EthernetFrame | ArpPacket | Ipv4Packet | IcmpMessage | UdpDatagram | TcpSegment


def _attach(layer: Packet, payload: bytes) -> Packet:
    if payload:
        upper: Packet = Raw(payload)
        try:
            guessed = layer.guess_payload_class(payload)(payload)
        except Exception:  # scapy's dissectors raise on odd input: keep those bytes raw
            guessed = None
        # The dissected layer is kept only when it rebuilds the same bytes, alone and under
        # this layer (an inner IPv4 header of zeros rebuilds alone but changes the outer
        # total length scapy computes).
        if (
            guessed is not None
            and bytes(guessed) == payload
            and bytes(layer / guessed) == bytes(layer / Raw(payload))
        ):
            upper = guessed
        layer.add_payload(upper)
    return layer


def _ether(frame: EthernetFrame) -> Packet:
    return _attach(Ether(dst=frame.dst, src=frame.src, type=frame.ethertype), frame.payload)


def _arp(pkt: ArpPacket) -> Packet:
    return ARP(
        hwtype=1, ptype=0x0800, hwlen=6, plen=4, op=pkt.op,
        hwsrc=pkt.sender_mac, psrc=pkt.sender_ip, hwdst=pkt.target_mac, pdst=pkt.target_ip,
    )  # fmt: skip


def _ip(pkt: Ipv4Packet) -> Packet:
    layer = IP(
        tos=pkt.tos, id=pkt.ident, flags=pkt.flags, frag=pkt.frag_offset >> 3, ttl=pkt.ttl,
        proto=pkt.proto, src=pkt.src, dst=pkt.dst,
    )  # fmt: skip
    if pkt.options:
        # Let scapy decode the raw options the way it decodes them off the wire.
        ihl = 5 + len(pkt.options) // 4
        layer.options = IP(bytes([0x40 | ihl]) + bytes(19) + pkt.options).options
    return _attach(layer, pkt.payload)


def _icmp(msg: IcmpMessage) -> Packet:
    # The second header word (and more, for timestamps) means different fields per type in
    # scapy: let scapy dissect the message, then have it compute the checksum again.
    raw = emit_icmp(msg)
    try:
        layer = ICMP(raw[:2] + b"\x00\x00" + raw[4:])
    except Exception:  # a timestamp or mask request shorter than scapy's fixed fields
        return Raw(raw)
    layer.chksum = None
    return layer


def _udp(dgram: UdpDatagram) -> Packet:
    return _attach(UDP(sport=dgram.src_port, dport=dgram.dst_port), dgram.payload)


def _tcp_option(opt: TcpOption) -> tuple[Any, Any]:
    if isinstance(opt, Nop):
        return ("NOP", None)
    if isinstance(opt, Mss):
        return ("MSS", opt.value)
    if isinstance(opt, WindowScale):
        return ("WScale", opt.shift)
    if isinstance(opt, SackPermitted):
        return ("SAckOK", b"")
    if isinstance(opt, Sack):
        return ("SAck", tuple(edge for block in opt.blocks for edge in block))
    if isinstance(opt, Timestamp):
        return ("Timestamp", (opt.tsval, opt.tsecr))
    if isinstance(opt, FastOpen):
        return (opt.kind, opt.cookie)  # raw: scapy's "TFO" codec takes 8-byte cookies only
    return (opt.kind, opt.data)


def _tcp(seg: TcpSegment) -> Packet:
    layer = TCP(
        sport=seg.src_port, dport=seg.dst_port, seq=seg.seq, ack=seg.ack,
        reserved=seg.flags >> 9, flags=seg.flags & 0x1FF, window=seg.window,
        urgptr=seg.urgent, options=[_tcp_option(o) for o in seg.options],
    )  # fmt: skip
    return _attach(layer, seg.payload)


_TO_SCAPY: dict[type, Any] = {
    EthernetFrame: _ether,
    ArpPacket: _arp,
    Ipv4Packet: _ip,
    IcmpMessage: _icmp,
    UdpDatagram: _udp,
    TcpSegment: _tcp,
}


def to_scapy(rep: Repr) -> Packet:
    """The scapy packet for a repr; ``bytes()`` of it equals the codec's ``emit``.

    For TCP and UDP put it under an IP layer (``IP(src=..., dst=...) / to_scapy(seg)``) so
    that scapy computes the checksum ``emit`` computes from the addresses. An ICMP message
    scapy cannot dissect (a timestamp or address-mask message shorter than its fixed
    fields) comes back as ``Raw``.
    """
    convert = _TO_SCAPY.get(type(rep))
    if convert is None:
        raise TypeError(f"no scapy conversion for {type(rep).__name__}")
    return convert(rep)


def _layer_bytes(layer: Packet) -> tuple[bytes, bytes]:
    """The layer's own header bytes and its payload bytes, as scapy builds them."""
    raw = bytes(layer)
    payload = bytes(layer.payload)
    return raw[: len(raw) - len(payload)], payload


def _from_ether(p: Packet) -> EthernetFrame:
    # scapy dissects a type below 0x600 as an 802.3 length (its Dot3 layer names it ``len``).
    ethertype = getattr(p, "type", None)
    if ethertype is None:
        ethertype = p.len
    return EthernetFrame(p.dst.lower(), p.src.lower(), ethertype, bytes(p.payload))


def _from_arp(p: Packet) -> ArpPacket:
    if (p.hwtype, p.ptype, p.hwlen, p.plen) != (1, 0x0800, 6, 4):
        raise ValueError("only Ethernet/IPv4 ARP has a repr")
    return ArpPacket(p.op, p.hwsrc.lower(), p.psrc, p.hwdst.lower(), p.pdst)


def _from_ip(p: Packet) -> Ipv4Packet:
    header, payload = _layer_bytes(p)
    return Ipv4Packet(
        p.src, p.dst, p.proto, payload[: p.len - p.ihl * 4], ttl=p.ttl, tos=p.tos, ident=p.id,
        flags=int(p.flags), frag_offset=p.frag << 3, options=header[20 : p.ihl * 4],
    )  # fmt: skip


def _from_icmp(p: Packet) -> IcmpMessage:
    header, payload = _layer_bytes(p)
    return IcmpMessage(p.type, p.code, int.from_bytes(header[4:8], "big"), header[8:] + payload)


def _from_udp(p: Packet) -> UdpDatagram:
    return UdpDatagram(p.sport, p.dport, bytes(p.payload)[: p.len - 8])


_OPTION_FROM_SCAPY: dict[str, Any] = {
    "NOP": lambda v: NOP,
    "MSS": lambda v: Mss(v),
    "WScale": lambda v: WindowScale(v),
    "SAckOK": lambda v: SackPermitted(),
    "SAck": lambda v: (
        Sack(tuple(zip(v[::2], v[1::2], strict=True)))
        if v and len(v) % 2 == 0
        else UnknownOption(5, struct.pack(f"!{len(v)}I", *v))
    ),
    "Timestamp": lambda v: Timestamp(*v),
}


def _raw_option(name: str, value: Any) -> UnknownOption:
    """An option scapy decoded by name that has no dedicated repr: back to its bytes."""
    kind = TCPOptions[1].get(name, 0)
    fmt = TCPOptions[0].get(kind, (name, None))[1]
    if value is None or isinstance(value, bytes) or not fmt:
        return UnknownOption(kind, bytes(value or b""))
    values = value if isinstance(value, tuple) else (value,)
    if fmt == "!":
        fmt = f"!{len(values)}I"
    return UnknownOption(kind, struct.pack(fmt, *values))


def _from_tcp_options(options: list[tuple[Any, Any]]) -> tuple[TcpOption, ...]:
    out: list[TcpOption] = []
    for name, value in options:
        if name == "EOL":
            break  # the list ends at End-of-Option-List, as in tcp_options.parse_options
        if isinstance(name, int):
            out.append(decode_option(name, bytes(value or b"")))
            continue
        decodable = not isinstance(value, bytes) or (name == "SAckOK" and not value)
        known = _OPTION_FROM_SCAPY.get(name) if decodable else None
        # A known kind whose body scapy could not decode is kept raw, as parse_options does.
        if known is None:
            raw = _raw_option(name, value)
            out.append(decode_option(raw.kind, raw.data))  # e.g. scapy's "TFO": FastOpen
        else:
            out.append(known(value))
    return tuple(out)


def _from_tcp(p: Packet) -> TcpSegment:
    return TcpSegment(
        p.sport, p.dport, p.seq, p.ack, (p.reserved << 9) | int(p.flags), p.window,
        bytes(p.payload), _from_tcp_options(p.options), p.urgptr,
    )  # fmt: skip


# Most specific first: scapy's IPerror/TCPerror/UDPerror subclass the plain layers.
_FROM_SCAPY: tuple[tuple[type, Any], ...] = (
    (Ether, _from_ether),
    (ARP, _from_arp),
    (IP, _from_ip),
    (ICMP, _from_icmp),
    (UDP, _from_udp),
    (TCP, _from_tcp),
)


def from_scapy(packet: Packet) -> Repr:
    """The repr of the outermost layer of ``packet`` (an inner one: ``pkt[TCP]``).

    The packet is built and dissected again first, so fields scapy computes on build
    (lengths, data offset, EtherType) have their wire values.
    """
    if not isinstance(packet, Packet):
        raise TypeError(f"expected a scapy packet, not {type(packet).__name__}")
    for cls, convert in _FROM_SCAPY:
        if isinstance(packet, cls):
            return convert(cls(bytes(packet)))
    raise TypeError(f"no repr for scapy layer {type(packet).__name__}")
