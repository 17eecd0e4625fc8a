"""The :class:`Personality` record: every value an OS personality sets, by layer."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LISTEN_ANSWERS", "OPTION_LAYOUTS", "Personality"]

OPTION_LAYOUTS = ("linux", "windows", "bsd")
"""Orders of the SYN and SYN,ACK options (see :mod:`pystack.personality.tcp`)."""
LISTEN_ANSWERS = ("drop", "reset", "accept")
"""What an open port does with an odd segment: nothing, an RST, or take it as a SYN."""


@dataclass(frozen=True, slots=True)
class Personality:
    """How a stack looks on the wire to a fingerprinting tool (nmap -O, p0f).

    A personality changes only what the RFCs leave to the implementation: header values,
    option order, sequences, and the answers to segments no RFC asks an answer for.
    Apply one with ``PyStack(personality=...)`` (a name or an instance).
    """

    name: str
    family: str
    """The OS family fingerprinting tools should report ("Linux", "Windows", ...)."""
    description: str
    # ---------------------------------------------------------------------------- IP
    ttl: int = 64
    """TTL of every datagram we originate."""
    tcp_df: bool = True
    """DF on TCP segments (path MTU discovery, RFC 1191)."""
    icmp_df: bool = False
    """DF on the ICMP messages we originate (echo replies, errors)."""
    ipid_tcp: str = "per-host"
    """IP ID sequence of TCP segments of a connection (:mod:`pystack.personality.ipid`);
    personalities naming one sequence for several kinds of datagram share one counter."""
    ipid_tcp_reply: str = "zero"
    """IP ID sequence of SYN,ACKs and RSTs (sent before or without a connection)."""
    ipid_icmp: str = "per-host"
    """IP ID sequence of ICMP messages."""
    ipid_other: str = "per-host"
    """IP ID sequence of everything else (UDP)."""
    # --------------------------------------------------------------------------- TCP
    syn_window: int = 65535
    """Window of our SYN (never scaled, RFC 7323 §2.2)."""
    synack_window: int = 0
    """Window of our SYN,ACK; 0: the largest multiple of the MSS in use below 65536."""
    wscale: int = 7
    """Window scale shift we announce (RFC 7323 §2.3, at most 14)."""
    option_layout: str = "linux"
    """Order of the SYN and SYN,ACK options, one of ``OPTION_LAYOUTS``."""
    client_timestamps: bool = True
    """Offer timestamps on our SYN; off, we still answer a SYN that offers them."""
    ts_hz: int = 1000
    """Rate of the TSval clock (RFC 7323 §5.4 allows 1 ms to 1 s per tick)."""
    ts_per_connection: bool = False
    """A random TSval offset per connection (RFC 7323 §7.1) rather than per host pair."""
    ecn_synack: bool = True
    """Set ECE on the SYN,ACK answering an ECN-setup SYN (RFC 3168 §6.1.1)."""
    listen_null: str = "drop"
    """An open port's answer to a segment without SYN, ACK or RST (nmap's T2)."""
    listen_syn_fin: str = "drop"
    """An open port's answer to SYN with FIN (nmap's T3)."""
    rst_ack_nonzero: bool = False
    """The RST answering a bare ACK carries a non-zero acknowledgment field (nmap's A=O),
    though without the ACK flag the field means nothing (RFC 9293 §3.1)."""
    closed_fin_reset: bool = True
    """A closed port resets a segment without SYN, ACK or RST (nmap's T7)."""
    rst_payload: bytes = b""
    """Text carried by the RSTs of a closed port (RFC 1122 §4.2.2.12 allows it)."""
    # -------------------------------------------------------------------------- ICMP
    echo_reply_keeps_code: bool = True
    """Echo replies carry the request's code rather than 0."""
    echo_reply_keeps_df: bool = False
    """Echo replies carry the request's DF bit (over ``icmp_df``)."""

    def __post_init__(self) -> None:
        from pystack.personality.ipid import SEQUENCES

        if not 1 <= self.ttl <= 255:
            raise ValueError("ttl must be in 1..255")
        for seq in (self.ipid_tcp, self.ipid_tcp_reply, self.ipid_icmp, self.ipid_other):
            if seq not in SEQUENCES:
                raise ValueError(f"unknown IP ID sequence {seq!r}; known: {', '.join(SEQUENCES)}")
        if self.option_layout not in OPTION_LAYOUTS:
            raise ValueError(f"option_layout must be one of {', '.join(OPTION_LAYOUTS)}")
        if self.listen_null not in LISTEN_ANSWERS or self.listen_syn_fin not in LISTEN_ANSWERS:
            raise ValueError(f"listen answers must be one of {', '.join(LISTEN_ANSWERS)}")
        if not 0 <= self.wscale <= 14 or not 0 <= self.synack_window <= 65535:
            raise ValueError("wscale must be in 0..14 and synack_window in 0..65535")
        if not 0 < self.syn_window <= 65535 or self.ts_hz < 1:
            raise ValueError("syn_window must be in 1..65535 and ts_hz positive")
