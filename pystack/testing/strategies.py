"""Hypothesis strategies for every packet repr of :mod:`pystack.wire`, and for scapy packets.

Use them to test your own protocol code the way PyStack tests its codecs::

    from hypothesis import given
    from pystack.testing import strategies as pst

    @given(pst.tcp_segments())
    def test_my_hook_never_raises(seg): ...

Every repr strategy yields values that ``emit`` accepts and that ``parse`` gives back
unchanged. The ``scapy_*`` strategies build scapy packets from scapy's own field values
(not through :mod:`pystack.wire.scapy_edge`), for differential tests against scapy.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pystack.wire import arp, ethernet, icmp, ipv4, ipv6, ndp, tcp, udp
from pystack.wire.arp import ArpPacket
from pystack.wire.ethernet import EthernetFrame
from pystack.wire.icmp import IcmpMessage
from pystack.wire.icmpv6 import Icmpv6Message
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.ipv6 import (
    DestinationOptions,
    ExtensionHeader,
    FragmentHeader,
    HopByHopOptions,
    Ipv6Option,
    Ipv6Packet,
    Pad1,
    PadN,
    RoutingHeader,
)
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp import TcpSegment
from pystack.wire.tcp_options import (
    MAX_OPTIONS_LEN,
    NOP,
    FastOpen,
    Mss,
    Sack,
    SackPermitted,
    TcpOption,
    Timestamp,
    UnknownOption,
    WindowScale,
)
from pystack.wire.udp import UdpDatagram

__all__ = [
    "arp_packets",
    "ethernet_frames",
    "icmp_messages",
    "icmpv6_messages",
    "ipv4_addresses",
    "ipv4_options",
    "ipv4_packets",
    "ipv6_addresses",
    "ipv6_extension_headers",
    "ipv6_option_lists",
    "ipv6_options",
    "ipv6_packets",
    "mac_addresses",
    "nd_messages",
    "nd_options",
    "payloads",
    "ports",
    "scapy_frames",
    "scapy_tcp_options",
    "seq_numbers",
    "seqnums",
    "tcp_option_lists",
    "tcp_options",
    "tcp_segments",
    "u8",
    "u16",
    "u32",
    "udp_datagrams",
]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ports = u16
seq_numbers = u32


def seqnums() -> st.SearchStrategy[SeqNum]:
    """Sequence numbers, biased towards the wrap-around points."""
    edges = st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1])
    return st.one_of(edges, u32).map(SeqNum)


def payloads(max_size: int = 64) -> st.SearchStrategy[bytes]:
    """Payload bytes (kept short by default so that many examples run quickly)."""
    return st.binary(max_size=max_size)


def mac_addresses() -> st.SearchStrategy[str]:
    """Lower-case colon MAC strings, broadcast and multicast included."""
    return st.binary(min_size=6, max_size=6).map(lambda raw: raw.hex(":"))


def ipv4_addresses() -> st.SearchStrategy[str]:
    """Dotted-quad strings, any value."""
    return u32.map(lambda n: ".".join(str(b) for b in n.to_bytes(4, "big")))


def ethernet_frames(payload: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[Any]:
    """:class:`EthernetFrame` values."""
    return st.builds(
        EthernetFrame,
        mac_addresses(),
        mac_addresses(),
        u16,
        payloads() if payload is None else payload,
    )


def arp_packets() -> st.SearchStrategy[ArpPacket]:
    """:class:`ArpPacket` values (any opcode)."""
    return st.builds(
        ArpPacket, u16, mac_addresses(), ipv4_addresses(), mac_addresses(), ipv4_addresses()
    )


def ipv4_options() -> st.SearchStrategy[bytes]:
    """Raw IPv4 options: 0 to 40 bytes, a multiple of 4."""
    return st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))


def ipv4_packets(payload: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[Any]:
    """:class:`Ipv4Packet` values, fragments and options included."""
    return st.builds(
        Ipv4Packet,
        src=ipv4_addresses(),
        dst=ipv4_addresses(),
        proto=u8,
        payload=payloads() if payload is None else payload,
        ttl=u8,
        tos=u8,
        ident=u16,
        flags=st.integers(0, 7),
        frag_offset=st.integers(0, 0x1FFF).map(lambda blocks: blocks * 8),
        options=ipv4_options(),
    )


def icmp_messages() -> st.SearchStrategy[IcmpMessage]:
    """:class:`IcmpMessage` values: echo, errors quoting a datagram, and any other type."""
    quoted = st.builds(
        lambda pkt, n: ipv4.emit(pkt)[: 20 + len(pkt.options) + n],
        ipv4_packets(payloads(16)),
        st.integers(0, 16),
    )
    return st.one_of(
        st.builds(IcmpMessage, st.sampled_from([0, 8]), st.just(0), u32, payloads()),
        st.builds(IcmpMessage, st.sampled_from([3, 11]), st.integers(0, 15), u32, quoted),
        st.builds(IcmpMessage, u8, u8, u32, payloads()),
    )


def udp_datagrams(payload: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[Any]:
    """:class:`UdpDatagram` values."""
    return st.builds(UdpDatagram, ports, ports, payloads() if payload is None else payload)


# Body lengths a known kind decodes; any other length keeps the option raw.
_KNOWN_LENGTHS = {2: {2}, 3: {1}, 4: {0}, 5: {8, 16, 24, 32}, 8: {8}, 34: {0, *range(4, 17)}}


def _unknown_option() -> st.SearchStrategy[UnknownOption]:
    def build(kind: int, data: bytes) -> UnknownOption:
        if len(data) in _KNOWN_LENGTHS.get(kind, ()):
            data += b"\x00"  # keep it raw: a decodable length would parse as the known option
        return UnknownOption(kind, data)

    return st.builds(build, st.integers(2, 255), st.binary(max_size=12))


def tcp_options() -> st.SearchStrategy[TcpOption]:
    """One TCP option of any kind (EOL excepted: it ends the list and is implied)."""
    sack_block = st.tuples(u32, u32)
    return st.one_of(
        st.just(NOP),
        st.builds(Mss, u16),
        st.builds(WindowScale, u8),
        st.just(SackPermitted()),
        st.lists(sack_block, min_size=1, max_size=4).map(lambda b: Sack(tuple(b))),
        st.builds(Timestamp, u32, u32),
        st.builds(FastOpen, st.just(b"") | st.binary(min_size=4, max_size=16)),
        _unknown_option(),
    )


@st.composite
def tcp_option_lists(draw: st.DrawFn) -> tuple[TcpOption, ...]:
    """A tuple of options whose encoding fits in the 40 bytes of a TCP header."""
    out: list[TcpOption] = []
    used = 0
    for _ in range(draw(st.integers(0, 8))):
        opt = draw(tcp_options())
        size = len(opt.to_bytes())
        if used + size > MAX_OPTIONS_LEN:
            break
        out.append(opt)
        used += size
    return tuple(out)


def tcp_segments(
    payload: st.SearchStrategy[bytes] | None = None,
    options: st.SearchStrategy[tuple[TcpOption, ...]] | None = None,
) -> st.SearchStrategy[TcpSegment]:
    """:class:`TcpSegment` values: any flags (reserved bits too), numbers and options."""
    return st.builds(
        TcpSegment,
        src_port=ports,
        dst_port=ports,
        seq=u32,
        ack=u32,
        flags=st.integers(0, 0xFFF),
        window=u16,
        payload=payloads() if payload is None else payload,
        options=tcp_option_lists() if options is None else options,
        urgent=u16,
    )


# --- IPv6, ICMPv6 and Neighbor Discovery ---------------------------------------------

_IPV6_EDGES = ["::", "::1", "fe80::1", "ff02::1", "ff02::1:ff00:1", "::ffff:198.18.0.1"]


def ipv6_addresses() -> st.SearchStrategy[str]:
    """IPv6 addresses as RFC 5952 text (how the codecs give them back), any value."""
    raw = st.binary(min_size=16, max_size=16).map(ipv6.ip6_to_str)
    return st.one_of(st.sampled_from(_IPV6_EDGES), raw)


def ipv6_options() -> st.SearchStrategy[Pad1 | PadN | Ipv6Option]:
    """One Hop-by-Hop or Destination option: Pad1, PadN, or any other type."""
    return st.one_of(
        st.just(ipv6.PAD1),
        st.integers(2, 12).map(PadN),
        st.builds(Ipv6Option, st.integers(2, 255), st.binary(max_size=12)),
    )


def ipv6_option_lists() -> st.SearchStrategy[tuple[Pad1 | PadN | Ipv6Option, ...]]:
    """Options padded (Pad1/PadN) to fill whole 8-byte units, as a header needs."""
    return st.lists(ipv6_options(), max_size=5).map(ipv6.pad_options)


def _routing_headers() -> st.SearchStrategy[RoutingHeader]:
    data = st.integers(0, 4).flatmap(lambda n: st.binary(min_size=8 * n + 4, max_size=8 * n + 4))
    return st.builds(RoutingHeader, u8, u8, data)


def _fragment_headers() -> st.SearchStrategy[FragmentHeader]:
    offset = st.integers(0, 0x1FFF).map(lambda blocks: blocks * 8)
    return st.builds(FragmentHeader, offset, st.booleans(), u32)


@st.composite
def ipv6_extension_headers(draw: st.DrawFn) -> tuple[ExtensionHeader, ...]:
    """A chain in an order parse accepts: Hop-by-Hop first, a Fragment header last."""
    out: list[ExtensionHeader] = []
    if draw(st.booleans()):
        out.append(HopByHopOptions(draw(ipv6_option_lists())))
    middle = st.one_of(
        ipv6_option_lists().map(DestinationOptions), _routing_headers()
    )  # fmt: skip
    out.extend(draw(st.lists(middle, max_size=3)))
    if draw(st.booleans()):
        out.append(draw(_fragment_headers()))
    return tuple(out)


@st.composite
def ipv6_packets(
    draw: st.DrawFn,
    payload: st.SearchStrategy[bytes] | None = None,
    headers: st.SearchStrategy[tuple[ExtensionHeader, ...]] | None = None,
) -> Ipv6Packet:
    """:class:`Ipv6Packet` values, extension headers included."""
    chain = draw(ipv6_extension_headers() if headers is None else headers)
    proto = draw(u8)
    if proto in (0, 43, 44, 60) and not (chain and isinstance(chain[-1], FragmentHeader)):
        proto = ipv6.NH_NONE  # an extension header type would be walked as one
    return Ipv6Packet(
        draw(ipv6_addresses()),
        draw(ipv6_addresses()),
        proto,
        draw(payloads() if payload is None else payload),
        draw(u8),
        draw(u8),
        draw(st.integers(0, 0xFFFFF)),
        chain,
    )


def icmpv6_messages() -> st.SearchStrategy[Icmpv6Message]:
    """:class:`Icmpv6Message` values: echo, errors quoting a datagram, and any other type."""
    quoted = st.builds(
        lambda pkt, n: ipv6.emit(pkt)[: 40 + n],
        ipv6_packets(payloads(16), st.just(())),
        st.integers(0, 16),
    )
    return st.one_of(
        st.builds(Icmpv6Message, st.sampled_from([128, 129]), st.just(0), u32, payloads()),
        st.builds(Icmpv6Message, st.integers(1, 4), u8, u32, quoted),
        st.builds(Icmpv6Message, u8, u8, u32, payloads()),
    )


# Body lengths (after type and length) a known option kind decodes.
_ND_KNOWN = {1: 6, 2: 6, 3: 30, 5: 6}


def _unknown_nd_option() -> st.SearchStrategy[ndp.UnknownNdOption]:
    def build(kind: int, units: int) -> st.SearchStrategy[ndp.UnknownNdOption]:
        if _ND_KNOWN.get(kind) == 8 * units - 2:
            units += 1  # another length keeps it raw
        size = 8 * units - 2
        return st.binary(min_size=size, max_size=size).map(lambda d: ndp.UnknownNdOption(kind, d))

    # Every Redirected Header (kind 4) decodes, whatever its length.
    kinds = u8.filter(lambda k: k != ndp.OPT_REDIRECTED_HEADER)
    return st.tuples(kinds, st.integers(1, 4)).flatmap(lambda t: build(*t))


def nd_options() -> st.SearchStrategy[ndp.NdOption]:
    """One Neighbor Discovery option of any kind (RFC 4861 §4.6)."""
    prefix = st.builds(ndp.PrefixInformation, u8, u8, u32, u32, ipv6_addresses())
    redirected = st.integers(0, 4).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n))
    return st.one_of(
        st.builds(ndp.SourceLinkAddress, mac_addresses()),
        st.builds(ndp.TargetLinkAddress, mac_addresses()),
        prefix,
        redirected.map(ndp.RedirectedHeader),
        st.builds(ndp.Mtu, u32),
        _unknown_nd_option(),
    )


def _unicast(addr: str) -> bool:
    return ipv6.ip6_to_bytes(addr)[0] != 0xFF


@st.composite
def _redirects(draw: st.DrawFn, options: st.SearchStrategy[tuple[ndp.NdOption, ...]]) -> Any:
    destination = draw(ipv6_addresses().filter(_unicast))
    # RFC 4861 §8.1: the target is a link-local router, or the destination itself.
    link_local = st.binary(min_size=8, max_size=8).map(
        lambda low: ipv6.ip6_to_str(b"\xfe\x80" + bytes(6) + low)
    )
    target = draw(st.one_of(st.just(destination), link_local))
    return ndp.Redirect(target, destination, draw(options))


def nd_messages() -> st.SearchStrategy[ndp.NdMessage]:
    """The five Neighbor Discovery messages (RFC 4861 §4.1-§4.5) with any options.

    Targets and destinations are ones a receiver accepts (RFC 4861 §7.1, §8.1).
    """
    opts = st.lists(nd_options(), max_size=4).map(tuple)
    target = ipv6_addresses().filter(_unicast)
    flag = st.booleans()
    return st.one_of(
        st.builds(ndp.RouterSolicitation, opts),
        st.builds(ndp.RouterAdvertisement, u8, u8, u16, u32, u32, opts),
        st.builds(ndp.NeighborSolicitation, target, opts),
        st.builds(ndp.NeighborAdvertisement, target, flag, flag, flag, opts),
        _redirects(opts),
    )


# --- scapy packets built from scapy's own field values -------------------------------

# Kinds scapy has no decoder for: their bodies round-trip as raw bytes in both codecs.
_SCAPY_RAW_KINDS = [k for k in range(6, 256) if k not in (8, 14, 15, 19, 25, 28, 29, 34)]


@st.composite
def scapy_tcp_options(draw: st.DrawFn) -> list[tuple[Any, Any]]:
    """A well-formed scapy TCP option list (scapy's names and values), at most 40 bytes."""
    choices = st.one_of(
        st.just(("NOP", None)),
        st.builds(lambda v: ("MSS", v), u16),
        st.builds(lambda v: ("WScale", v), u8),
        st.just(("SAckOK", b"")),
        st.lists(u32, min_size=2, max_size=8)
        .filter(lambda e: len(e) % 2 == 0)
        .map(lambda e: ("SAck", tuple(e))),
        st.builds(lambda a, b: ("Timestamp", (a, b)), u32, u32),
        st.builds(lambda k, d: (k, d), st.sampled_from(_SCAPY_RAW_KINDS), st.binary(max_size=8)),
    )
    sizes = {"NOP": 1, "MSS": 4, "WScale": 3, "SAckOK": 2, "Timestamp": 10}
    out: list[tuple[Any, Any]] = []
    used = 0
    for _ in range(draw(st.integers(0, 8))):
        name, value = draw(choices)
        if name == "SAck":
            size = 2 + 4 * len(value)
        elif isinstance(name, int):
            size = 2 + len(value)
        else:
            size = sizes[name]
        if used + size > MAX_OPTIONS_LEN:
            break
        out.append((name, value))
        used += size
    return out


@st.composite
def scapy_frames(draw: st.DrawFn) -> Any:
    """Scapy ``Ether / (IP / (TCP | UDP | ICMP | Raw) | ARP)`` packets with random fields."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    ether = Ether(dst=draw(mac_addresses()), src=draw(mac_addresses()))
    if draw(st.booleans()) and draw(st.booleans()):
        arp = ARP(
            op=draw(u16),
            hwsrc=draw(mac_addresses()),
            psrc=draw(ipv4_addresses()),
            hwdst=draw(mac_addresses()),
            pdst=draw(ipv4_addresses()),
        )
        return ether / arp
    ip = IP(
        src=draw(ipv4_addresses()),
        dst=draw(ipv4_addresses()),
        ttl=draw(u8),
        tos=draw(u8),
        id=draw(u16),
        flags=draw(st.integers(0, 2)),  # no MF/offset: scapy would not dissect the upper layer
    )
    data = Raw(draw(payloads()))
    kind = draw(st.sampled_from(["tcp", "udp", "icmp"]))
    upper: Any
    if kind == "tcp":
        upper = TCP(
            sport=draw(ports),
            dport=draw(ports),
            seq=draw(u32),
            ack=draw(u32),
            flags=draw(st.integers(0, 0x1FF)),
            reserved=draw(st.integers(0, 7)),
            window=draw(u16),
            urgptr=draw(u16),
            options=draw(scapy_tcp_options()),
        )
    elif kind == "udp":
        upper = UDP(sport=draw(ports), dport=draw(ports))
    else:
        upper = ICMP(type=draw(st.sampled_from([0, 8])), id=draw(u16), seq=draw(u16))
    return ether / ip / upper / data


# --- whole frames as bytes, for feeding a receive path ---------------------------------


@st.composite
def wire_frames(
    draw: st.DrawFn,
    dst_mac: str | None = None,
    dst_ip: str | None = None,
    corrupt: bool = True,
) -> bytes:
    """Ethernet frames as bytes: ARP, or IPv4 carrying TCP, UDP, ICMP or anything.

    ``dst_mac``/``dst_ip`` pin the destination (a frame your stack will look at); the
    checksums are right. With ``corrupt`` some frames are then damaged: truncated, a bit
    flipped, a byte overwritten or junk appended, which a receive path must survive.
    """
    dst_mac = dst_mac or draw(mac_addresses())
    if draw(st.integers(0, 9)) == 0:
        body = arp.emit(draw(arp_packets()))
        raw = ethernet.emit(EthernetFrame(dst_mac, draw(mac_addresses()), 0x0806, body))
    else:
        src_ip = draw(ipv4_addresses())
        to_ip = dst_ip or draw(ipv4_addresses())
        proto = draw(st.sampled_from([6, 17, 1, 6, 17, 0, 50]))
        if proto == 6:
            payload = tcp.emit(draw(tcp_segments()), src_ip, to_ip)
        elif proto == 17:
            payload = udp.emit(draw(udp_datagrams()), src_ip, to_ip)
        elif proto == 1:
            payload = icmp.emit(draw(icmp_messages()))
        else:
            payload = draw(payloads())
        packet = draw(ipv4_packets(st.just(payload)))
        packet = Ipv4Packet(src_ip, to_ip, proto, payload, packet.ttl, packet.tos, packet.ident)
        raw = ethernet.emit(
            EthernetFrame(dst_mac, draw(mac_addresses()), 0x0800, ipv4.emit(packet))
        )
    return draw(_corrupted(raw)) if corrupt else raw


@st.composite
def _corrupted(draw: st.DrawFn, raw: bytes) -> bytes:
    how = draw(st.sampled_from(["intact", "intact", "truncate", "flip", "overwrite", "append"]))
    if how == "truncate":
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if how == "append":
        return raw + draw(st.binary(min_size=1, max_size=40))
    if how == "intact":
        return raw
    index = draw(st.integers(0, len(raw) - 1))
    value = raw[index] ^ (1 << draw(st.integers(0, 7))) if how == "flip" else draw(u8)
    return raw[:index] + bytes([value]) + raw[index + 1 :]
