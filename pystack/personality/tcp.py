"""The TCP side of a personality, through TCPSession's public hooks.

`session_class` builds a subclass of the stack's session class whose hooks reshape what
an OS shows: `on_segment_out` lays out the SYN and SYN,ACK (window, option order, ECE),
`segment_arrives` answers odd segments on an open port, `choose_isn` and `ts_val` set
the timestamp clock. The ISN stays RFC 6528's (a keyed hash of the addresses and ports
plus a 4 µs clock), which is what Linux, FreeBSD and Windows all do in substance: to
nmap's probes, which come from distinct ports, it looks random (SP and ISR high).
`closed_port_reply` is the TCP layer's hook for closed ports. Nothing here changes
what a connection does once it is open.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

from pystack.layers.ip_meta import IpMeta
from pystack.personality.base import Personality
from pystack.tcp.config import TcpDrop
from pystack.tcp.listener import ReplyTo
from pystack.tcp.session import TCPSession, reset_for
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import NOP, Mss, SackPermitted, TcpOption, Timestamp, WindowScale

__all__ = ["closed_port_reply", "layout_options", "listen_answer", "session_class"]

SYN, ACK, RST, FIN = tcpwire.SYN, tcpwire.ACK, tcpwire.RST, tcpwire.FIN
ECE, CWR = tcpwire.ECE, tcpwire.CWR
_MASK = 0xFFFFFFFF


def layout_options(
    layout: str, mss: int | None, wscale: int | None, sack: bool, ts: tuple[int, int] | None
) -> tuple[TcpOption, ...]:
    """The options of a SYN or SYN,ACK in an OS's order (each present one once).

    - ``linux``: MSS, SACK-permitted in TSopt's two alignment bytes, TSopt, NOP + WS
      (nmap-os-db's Linux O1=M5B4ST11NW7; p0f.fp's ``mss,sok,ts,nop,ws``).
    - ``windows``: MSS, NOP + WS, SACK-permitted or two NOPs, TSopt; without TSopt,
      two NOPs + SACK-permitted (nmap-os-db's Windows 10 O1=M5B4NW8ST11, ECN
      O=M5B4NW8NNS; p0f.fp's Windows ``mss,nop,ws,nop,nop,sok``).
    - ``bsd``: MSS, NOP + WS, SACK-permitted or two NOPs, TSopt; without TSopt the
      SACK-permitted option is padded with EOLs (nmap-os-db's FreeBSD 12-13
      O1=M5B4NW6ST11, ECN O=M5B4NW6SLL; p0f.fp's FreeBSD ``mss,nop,ws,sok,ts``).
    """
    out: list[TcpOption] = [Mss(mss)] if mss is not None else []
    ws: list[TcpOption] = [NOP, WindowScale(wscale)] if wscale is not None else []
    if layout == "linux":
        if ts is not None:
            out += [SackPermitted() if sack else NOP, *([] if sack else [NOP]), Timestamp(*ts)]
        elif sack:
            out += [NOP, NOP, SackPermitted()]
        return (*out, *ws)
    out += ws
    if ts is not None:
        out += [SackPermitted()] if sack else [NOP, NOP]
        out.append(Timestamp(*ts))
    elif sack:
        out += [NOP, NOP, SackPermitted()] if layout == "windows" else [SackPermitted()]
    return tuple(out)


def _effective_mss(seg: tcpwire.TcpSegment, ts: bool) -> int:
    return (seg.mss or 536) - (12 if ts else 0)


def shape_syn(p: Personality, seg: tcpwire.TcpSegment, peer_ecn: bool) -> tcpwire.TcpSegment:
    """``seg`` (our SYN or SYN,ACK) with the personality's window, options and ECE."""
    ts = seg.timestamp
    synack = bool(seg.flags & ACK)
    if not synack and not p.client_timestamps:
        ts = None
    others = tuple(
        o for o in seg.options
        if type(o) not in (Mss, WindowScale, SackPermitted, Timestamp) and o is not NOP
    )  # fmt: skip
    options = layout_options(p.option_layout, seg.mss, seg.wscale, seg.sack_permitted, ts)
    if not synack:
        window = p.syn_window
    elif p.synack_window:
        window = p.synack_window
    else:  # Linux: whole segments of our MSS (nmap-os-db's W=FE88 = 45 * 1448)
        mss = max(_effective_mss(seg, ts is not None), 1)
        window = 65535 // mss * mss
    flags = seg.flags | ECE if synack and peer_ecn and p.ecn_synack else seg.flags
    return dataclasses.replace(seg, window=window, options=options + others, flags=flags)


def listen_answer(p: Personality, seg: tcpwire.TcpSegment) -> str:
    """What an open port does with ``seg``: ``"accept"`` (the usual processing),
    ``"drop"`` or ``"reset"``."""
    flags = seg.flags
    # RFC 9293 §3.10.7.2: RST first, then ACK (answered with an RST whatever else is
    # set), then SYN; only the rest is left to the OS.
    if flags & RST:
        return "accept"
    if flags & ACK:
        return "reset" if p.rst_ack_nonzero else "accept"
    if flags & SYN:
        return p.listen_syn_fin if flags & FIN else "accept"
    return p.listen_null


def reset_answer(p: Personality, seg: tcpwire.TcpSegment) -> tcpwire.TcpSegment:
    """The RST answering ``seg`` (RFC 9293 §3.10.7.1), with the personality's quirks."""
    rst = reset_for(seg)
    if seg.flags & ACK and p.rst_ack_nonzero:
        # nmap-os-db's Windows T4/T6 A=O: the acknowledgment field is neither 0 nor the
        # probe's sequence number; the probe's own ACK value fills it.
        rst = dataclasses.replace(rst, ack=seg.ack or 1)
    if p.rst_payload:
        rst = dataclasses.replace(rst, payload=p.rst_payload)
    return rst


def closed_port_reply(p: Personality) -> Any:
    """The TCP layer's ``closed_port_reply`` hook for ``p``."""

    def reply(seg: tcpwire.TcpSegment) -> tcpwire.TcpSegment | None:
        if not seg.flags & (SYN | ACK) and not p.closed_fin_reset:
            return None
        return reset_answer(p, seg)

    return reply


class PersonalityMixin:
    """The hooks of a personality's session class; ``personality`` is set per class."""

    personality: ClassVar[Personality]
    peer_ecn_setup = False

    def on_segment_out(self, segment: tcpwire.TcpSegment) -> Any:
        """Hook: our SYN and SYN,ACK get the personality's window, options and ECE."""
        out = super().on_segment_out(segment)  # type: ignore[misc]
        if type(out) is tcpwire.TcpSegment and out.flags & SYN:
            return shape_syn(self.personality, out, self.peer_ecn_setup)
        return out

    def take_syn(self, seg: tcpwire.TcpSegment) -> None:
        """Record the peer's SYN, and whether it asked for ECN."""
        # RFC 3168 §6.1.1: an ECN-setup SYN has both ECE and CWR.
        self.peer_ecn_setup = seg.flags & (ECE | CWR) == ECE | CWR
        super().take_syn(seg)  # type: ignore[misc]

    def segment_arrives(self, seg: tcpwire.TcpSegment, meta: IpMeta) -> None:
        """A listener answers odd segments (no SYN; SYN with FIN) as the OS does."""
        s: Any = self
        if s.state == "LISTEN":
            answer = listen_answer(self.personality, seg)
            if answer == "drop":
                s.count_drop(TcpDrop.LISTEN_NOT_SYN)
                return
            if answer == "reset":
                s.count_drop(TcpDrop.LISTEN_NOT_SYN)
                s.host.transmit(ReplyTo(meta.dst, meta.src), reset_answer(self.personality, seg))
                return
        super().segment_arrives(seg, meta)  # type: ignore[misc]

    def choose_isn(self, **kw: Any) -> None:
        """Hook: RFC 6528's ISN, and a TSval offset per connection if the OS does so."""
        super().choose_isn(**kw)  # type: ignore[misc]
        s: Any = self
        rng = getattr(s.host, "rng", None)
        if rng is not None and self.personality.ts_per_connection and s.config.timestamps:
            s.ts_offset = rng.getrandbits(32)  # RFC 7323 §7.1: an offset per connection

    def ts_val(self) -> int:
        """Our TSval on the personality's clock (RFC 7323 §5.4)."""
        s: Any = self
        return (s.ts_offset + int(s.clock.seconds() * self.personality.ts_hz)) & _MASK


@functools.cache
def session_class(p: Personality, base: type[TCPSession] = TCPSession) -> type[TCPSession]:
    """``base`` with the hooks of personality ``p`` (one class per pair, made once); a
    ``base`` that already has a personality is replaced by the class it was made from."""
    base = getattr(base, "personality_base", base)
    name = f"{p.name.capitalize()}{base.__name__}"
    attrs = {"personality": p, "personality_base": base, "__module__": __name__}
    return type(name, (PersonalityMixin, base), attrs)
