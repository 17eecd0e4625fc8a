"""The IP side of a personality: DF and identification of every datagram we originate,
set through the IP layer's ``on_datagram_out`` hook."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from pystack.personality.base import Personality
from pystack.personality.ipid import IdSequence, make_sequence
from pystack.wire import ipv4
from pystack.wire.icmp import IcmpMessage
from pystack.wire.ipv4 import FLAG_DF, Ipv4Packet

__all__ = ["DatagramShaper", "echo_reply_hook"]

_TCP_FLAGS = 13  # offset of the flags byte in a TCP header
_SYN, _RST, _ACK = 0x02, 0x04, 0x10


class DatagramShaper:
    """Callable set as ``stack.ip.on_datagram_out``: gives each datagram the DF bit and
    the identification of its kind, whatever the sender asked (the TTL is the IP layer's
    ``ttl``, which `apply` sets). Kinds naming one sequence share one counter (nmap's
    SS=S: TCP and ICMP draw from the same Windows counter)."""

    def __init__(self, personality: Personality, rng: random.Random) -> None:
        self.personality = p = personality
        made: dict[str, IdSequence] = {}
        for name in {p.ipid_tcp, p.ipid_tcp_reply, p.ipid_icmp, p.ipid_other}:
            made[name] = make_sequence(name, rng)
        self.tcp, self.tcp_reply = made[p.ipid_tcp], made[p.ipid_tcp_reply]
        self.icmp, self.other = made[p.ipid_icmp], made[p.ipid_other]

    def __call__(self, pkt: Ipv4Packet) -> Ipv4Packet:
        p = self.personality
        if pkt.proto == ipv4.PROTO_TCP:
            df = p.tcp_df
            flags = pkt.payload[_TCP_FLAGS] if len(pkt.payload) > _TCP_FLAGS else 0
            reply = flags & _RST or flags & (_SYN | _ACK) == _SYN | _ACK
            ident = (self.tcp_reply if reply else self.tcp)(pkt.dst)
        elif pkt.proto == ipv4.PROTO_ICMP:
            df, ident = p.icmp_df, self.icmp(pkt.dst)
            if p.echo_reply_keeps_df and pkt.payload[:1] == b"\x00":  # an echo reply
                df = bool(pkt.flags & FLAG_DF)  # as `echo_reply_hook` set it
        else:
            df, ident = bool(pkt.flags & FLAG_DF), self.other(pkt.dst)
        flags_out = (pkt.flags | FLAG_DF) if df else (pkt.flags & ~FLAG_DF)
        return dataclasses.replace(pkt, ident=ident, flags=flags_out)


def echo_reply_hook(personality: Personality) -> Any:
    """The ICMP layer's ``on_echo_reply`` hook for ``personality``: the request's code
    (nmap's IE.CD=S) and DF bit (IE.DFI=S), as the personality says."""

    def on_echo_reply(request: Ipv4Packet, reply: IcmpMessage) -> tuple[IcmpMessage, dict]:
        if personality.echo_reply_keeps_code:
            reply = dataclasses.replace(reply, code=request.payload[1])
        fields = {"df": bool(request.flags & FLAG_DF)} if personality.echo_reply_keeps_df else {}
        return reply, fields

    return on_echo_reply
