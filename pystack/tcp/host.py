"""`TcpHost`: what a TCP session needs from whoever runs it (the TCP layer, a harness).

A session calls only what this protocol declares. The required members are in the
`TcpHost` protocol; the optional ones a session looks up with ``getattr`` and does
without when absent (a test harness usually leaves them out):

- ``listener_for(local_ip, local_port)``: the listener a SYN reopening a TIME_WAIT
  connection goes to, or None (without it, no reopening);
- ``challenge_ack_allowed()``: the RFC 5961 §7 budget for challenge ACKs (no limit);
- ``count_event(name)``: count a ``tcp`` event (not counted);
- ``syncookie_secret()``: bytes; without it a listener sends no SYN cookies;
- ``holds_time_wait``: True when the host keeps compact TIME_WAIT records and runs the
  2*MSL wait itself;
- ``ts_offset(local_ip, remote_ip)`` or ``rng``: the TSval offset per address pair, or a
  random one per connection (else 0);
- ``notify(session, old, trigger, new)``: an observer of every transition;
- ``tso_max`` (``tso_max6``): the largest IPv4 (IPv6) datagram the link has its device
  cut into segments (TCP segmentation offload; 0 or absent: plain segments only), with
  ``transmit_super(session, seg, gso_size)``, which sends the super-segment ``seg`` of
  whole ``gso_size``-byte segments for the device to cut;
- ``shared_state(name, factory)``: an object the host keeps for all its sessions, made
  by ``factory(host)`` the first time ``name`` is asked for (an extension's keys or
  caches: TCP Fast Open keeps its cookie keys and cookie cache there); without it, the
  extension does without.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pystack.tcp.config import TcpDrop
    from pystack.wire.tcp import TcpSegment

__all__ = ["CookieHost", "TcpHost"]


class TcpHost(Protocol):
    """The required part of a session's host."""

    @property
    def clock(self) -> Any:
        """The injected clock: ``seconds()`` and ``callLater(delay, fn, ...)``."""

    def transmit(self, session: Any, seg: TcpSegment) -> None:
        """Send ``seg`` from ``session``'s local address to its remote one."""

    def transmit_bytes(self, session: Any, data: bytes, **ip: Any) -> None:
        """Send an already encoded TCP segment of ``session`` (from a scapy hook); ``ip``
        are keyword arguments of IP's ``send_payload`` (``ttl``, ``shaper``, ...)."""

    def isn(self, local_ip: str, local_port: int, remote_ip: Any, remote_port: Any) -> int:
        """The initial sequence number for this 4-tuple (RFC 6528)."""

    def count_drop(self, reason: TcpDrop) -> None:
        """Count a dropped segment under its named reason."""

    def adopt(self, session: Any) -> None:
        """Enter a new connection (a listener's child) in the demux table."""

    def forget(self, session: Any) -> None:
        """Remove a closed connection from the demux table."""


class CookieHost(TcpHost, Protocol):
    """A host that keeps a SYN cookie secret (RFC 4987 §3.6): a listener sends cookies
    only when its host is one."""

    def syncookie_secret(self) -> bytes:
        """The secret cookies are keyed with."""
