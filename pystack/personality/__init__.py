"""OS personalities: make a stack look like Linux, Windows or FreeBSD to fingerprinting
tools (nmap -O, p0f), built on the stack's public hooks.

::

    stack = PyStack(ip="198.18.0.2/24", interface="veth0", personality="windows")

A :class:`Personality` bundles the values; :func:`resolve` finds one by name;
:func:`apply` sets a built stack's IP, ICMP and TCP hooks. See docs/extending.md,
"OS personalities".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pystack.personality.base import Personality
from pystack.personality.ip import DatagramShaper, echo_reply_hook
from pystack.personality.profiles import FREEBSD, LINUX, WINDOWS
from pystack.personality.tcp import closed_port_reply, session_class

__all__ = ["PERSONALITIES", "Personality", "apply", "describe", "resolve", "tcp_config"]

PERSONALITIES: dict[str, Personality] = {p.name: p for p in (LINUX, WINDOWS, FREEBSD)}
"""The shipped personalities by name."""


def resolve(personality: str | Personality) -> Personality:
    """``personality`` itself, or the shipped one of that name; ValueError otherwise."""
    if isinstance(personality, Personality):
        return personality
    found = PERSONALITIES.get(str(personality).lower())
    if found is None:
        known = ", ".join(PERSONALITIES)
        raise ValueError(f"unknown personality {personality!r}; known: {known}")
    return found


def describe() -> str:
    """One line per shipped personality: its name and what it looks like."""
    return "\n".join(f"{p.name:10} {p.description}" for p in PERSONALITIES.values())


def tcp_config(personality: Personality, config: Any = None) -> Any:
    """``config`` (a TcpConfig, default one if None) with the receive buffer whose window
    scale is the personality's (RFC 7323 §2.3: the smallest shift covering it)."""
    from pystack.tcp.config import TcpConfig

    config = config or TcpConfig()
    rcv_buf = 0xFFFF << personality.wscale
    return dataclasses.replace(config, rcv_buf=rcv_buf, window_scaling=True)


def apply(stack: Any, personality: str | Personality) -> Personality:
    """Give ``stack`` (a built PyStack) the personality: its IP header values, ICMP echo
    code, TCP session class and closed-port answers. Call it before the stack opens
    connections (``PyStack(personality=...)`` does); the TCP window scale comes from
    its TcpConfig (:func:`tcp_config`)."""
    p = resolve(personality)
    stack.ip.ttl = p.ttl
    stack.ip.on_datagram_out = DatagramShaper(p, stack.rng)
    stack.icmp.on_echo_reply = echo_reply_hook(p)
    if stack.tcp is not None:
        stack.tcp.session_class = session_class(p, stack.tcp.session_class)
        stack.tcp.closed_port_reply = closed_port_reply(p)
    return p
