"""OS personalities: the same stack, shaped to look like Linux, Windows or FreeBSD.

Without root, on a simulated wire: for each personality (or the ones named with
``--personality``), a stack listens on port 7 and answers a SYN shaped like nmap's first
OS-detection probe, then connects out to a stack without personality; the program
prints the SYN,ACK as nmap reads it (TTL, DF, IP ID, window, options) and the client SYN
as p0f's raw signature. A custom
personality, "windows-xp", is built from the shipped Windows one with
``dataclasses.replace``::

    python examples/os_personality.py
    python examples/os_personality.py --personality windows

On a real link the same stack is ``PyStack(..., personality="windows")``, or
``pystack serve echo --personality windows``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from pystack.apps.tcp_application import TCPApplication
from pystack.personality import PERSONALITIES, Personality, resolve
from pystack.sim import SimNet, WireTap
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.ipv4 import FLAG_DF, Ipv4Packet
from pystack.wire.tcp_options import NOP, Mss, SackPermitted, Timestamp, WindowScale

# A user's own personality: Windows XP answered with window 65535 and no window scale
# (p0f.fp "Windows XP": 65535,0:mss,nop,nop,sok).
WINDOWS_XP = dataclasses.replace(
    resolve("windows"), name="windows-xp", description="Windows XP", syn_window=65535,
    synack_window=65535, wscale=0,
)  # fmt: skip
NAMES = {"M": Mss, "S": SackPermitted, "T": Timestamp, "W": WindowScale}
# nmap's first SEQ probe: WS 10, NOP, MSS 1460, TS, SACK-permitted.
PROBE = (WindowScale(10), NOP, Mss(1460), Timestamp(0xFFFFFFFF, 0), SackPermitted())
P0F_OPTIONS = {Mss: "mss", SackPermitted: "sok", Timestamp: "ts", WindowScale: "ws"}


def nmap_options(seg: tcpwire.TcpSegment) -> str:
    """The options as nmap's O tests spell them (M5B4 N W7 S T11 ...)."""
    out = []
    for o in seg.options:
        if isinstance(o, Mss):
            out.append(f"M{o.value:X}")
        elif isinstance(o, WindowScale):
            out.append(f"W{o.shift:X}")
        elif isinstance(o, Timestamp):
            out.append(f"T{int(o.tsval != 0)}{int(o.tsecr != 0)}")
        else:
            out.append("S" if isinstance(o, SackPermitted) else "N")
    return "".join(out)


def p0f_signature(pkt: Ipv4Packet, seg: tcpwire.TcpSegment) -> str:
    """The client SYN in p0f's raw_sig form (version:ttl:olen:mss:win,ws:options:quirks)."""
    layout = ",".join(P0F_OPTIONS.get(type(o), "nop") for o in seg.options)
    quirks = ",".join(q for q, on in (("df", pkt.flags & FLAG_DF), ("id+", pkt.ident)) if on)
    return f"4:{pkt.ttl}:0:{seg.mss}:{seg.window},{seg.wscale or 0}:{layout}:{quirks}:0"


def show(p: Personality) -> None:
    """Print the SYN,ACK and the client SYN of a stack with personality ``p``."""
    with SimNet(2, personality=p) as net:
        tap = WireTap(net)
        server = TCPApplication()
        net.a.register_tcp_application(server)
        server.bind(7, app=server, newinstance=True)
        server.listen(5)
        probe = tcpwire.TcpSegment(40000, 7, 1000, 0, tcpwire.SYN, 1024, b"", PROBE)
        data = tcpwire.emit(probe, "198.18.0.2", "198.18.0.1")
        tap.inject(Ipv4Packet("198.18.0.2", "198.18.0.1", ipv4.PROTO_TCP, data))  # to A
        net.advance(0.05)
        net.connect_tcp(80)  # from A to B
        print(f"{p.name} ({p.description})")
        for pkt in tap.ip():
            if pkt.src != "198.18.0.1" or pkt.proto != ipv4.PROTO_TCP:
                continue
            seg = tcpwire.parse(pkt.payload)
            df = "Y" if pkt.flags & FLAG_DF else "N"
            if seg.flags == tcpwire.SYN | tcpwire.ACK and seg.dst_port == 40000:
                print(f"  SYN,ACK  T={pkt.ttl} DF={df} ID={pkt.ident} W={seg.window:X} "
                      f"O={nmap_options(seg)}")  # fmt: skip
            elif seg.flags == tcpwire.SYN:
                print(f"  SYN      {p0f_signature(pkt, seg)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choices = [*PERSONALITIES, WINDOWS_XP.name]
    parser.add_argument("--personality", action="append", choices=choices,
                        help="show only this one (repeatable); default: all")  # fmt: skip
    args = parser.parse_args(argv)
    for name in args.personality or choices:
        show(WINDOWS_XP if name == WINDOWS_XP.name else resolve(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
