"""ICMP (RFC 792, RFC 1122 §3.2.2): echo server and client, errors up and down.

Errors received are passed to the protocol of the quoted datagram through the IP layer
(``icmp_error_received(kind, code, quoted_ip)``). Errors are sent on request of the other
layers, except where RFC 1122 §3.2.2 forbids it: never about an ICMP error, a datagram to
a broadcast or multicast address or in a link-layer broadcast, a fragment other than the
first, or one whose source is not a unique host address. Errors are rate limited as
Linux does (:class:`IcmpRateLimit`, RFC 1812 §4.3.2.8). Echo replies carry the request's
Record Route and Timestamp options updated with this host, and the reverse of a completed
source route (RFC 1122 §3.2.2.6, §3.2.1.8); other options are not reflected.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet.defer import Deferred

from pystack.layers.echo import EchoRequests
from pystack.layers.ip_meta import IpMeta, meta_of
from pystack.layers.layer import Layer, as_bytes, unwrap
from pystack.wire import Malformed, ipv4, ipv4_options
from pystack.wire import icmp as icmp_wire
from pystack.wire.icmp import IcmpMessage
from pystack.wire.ipv4 import Ipv4Packet

ERROR_KINDS = {3: "unreachable", 4: "source_quench", 11: "time_exceeded", 12: "parameter_problem"}
# RFC 1812 §4.3.2.3: an error carries as much of the datagram as fits in 576 bytes.
MAX_ERROR_LEN = 576
# Float slack for the token buckets: 0.001 s at 1000/s must make a whole token.
_EPSILON = 1e-9


class IcmpDrop(enum.Enum):
    """Why the ICMP layer dropped a message."""

    TRUNCATED = "truncated"
    BAD_CHECKSUM = "bad_checksum"
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    BROADCAST_ECHO = "broadcast_echo"
    UNMATCHED_REPLY = "unmatched_reply"
    BAD_QUOTE = "bad_quote"
    BAD_IP_OPTIONS = "bad_ip_options"
    UNFINISHED_SOURCE_ROUTE = "unfinished_source_route"


@dataclass(frozen=True, slots=True)
class IcmpRateLimit:
    """Linux's ICMP rate limits (``net.ipv4.icmp_*`` sysctls), for the types in ``ratemask``.

    A global token bucket (``msgs_per_sec`` refill, ``msgs_burst`` deep) and, per
    destination, one message per ``per_dest_interval`` seconds after a burst of
    ``per_dest_burst`` (Linux's XRLIM_BURST_FACTOR). Types outside ``ratemask`` (echo
    replies by default) and "fragmentation needed" are never limited, as in Linux.
    An interval or rate of 0 turns that limit off.
    """

    msgs_per_sec: float = 1000.0  # net.ipv4.icmp_msgs_per_sec
    msgs_burst: int = 50  # net.ipv4.icmp_msgs_burst
    per_dest_interval: float = 1.0  # net.ipv4.icmp_ratelimit (1000 ms)
    per_dest_burst: int = 6
    # net.ipv4.icmp_ratemask 0x1818: unreachable, source quench, time exceeded, param problem
    ratemask: frozenset[int] = frozenset({3, 4, 11, 12})
    max_destinations: int = 4096  # per-destination records kept, oldest dropped first


class IcmpRateLimiter:
    """The two limits of :class:`IcmpRateLimit` on an injected clock."""

    def __init__(self, config: IcmpRateLimit, clock: Any) -> None:
        self.config = config
        self.clock = clock
        self._credit = float(config.msgs_burst)
        self._stamp = clock.seconds()
        # destination -> (seconds of credit, time of the last update); oldest first.
        self._peers: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, type_: int, code: int, dst: str) -> bool:
        """True when a message of ``type_``/``code`` to ``dst`` may be sent now (and charge it).

        The per-destination limit is checked before the global credit is spent, so one
        noisy destination cannot use up the global budget (Linux 6.12's order).
        """
        cfg = self.config
        if type_ not in cfg.ratemask or (type_ == 3 and code == icmp_wire.CODE_FRAG_NEEDED):
            return True
        now = self.clock.seconds()
        if cfg.msgs_per_sec > 0:
            elapsed = max(0.0, now - self._stamp)
            self._credit = min(float(cfg.msgs_burst), self._credit + elapsed * cfg.msgs_per_sec)
            self._stamp = now
            if self._credit < 1 - _EPSILON:
                return False
        if cfg.per_dest_interval > 0 and not self._peer_allow(dst, now):
            return False
        if cfg.msgs_per_sec > 0:
            self._credit -= 1
        return True

    def _peer_allow(self, dst: str, now: float) -> bool:
        interval = self.config.per_dest_interval
        cap = interval * self.config.per_dest_burst
        credit, last = self._peers.pop(dst, (cap, now))
        credit = min(cap, credit + max(0.0, now - last))
        allowed = credit >= interval - _EPSILON
        self._peers[dst] = (credit - interval if allowed else credit, now)
        if len(self._peers) > self.config.max_destinations:
            self._peers.popitem(last=False)
        return allowed


EchoReplyHook = Callable[[Ipv4Packet, IcmpMessage], tuple[IcmpMessage, dict[str, Any]]]
"""The type of `ICMPProtocol.on_echo_reply`."""


class ICMPProtocol(Layer):
    """The ICMP layer; :meth:`ping` gives a Deferred round-trip time."""

    name = "ICMP"
    fast = True

    def __init__(
        self, *, echo_server: bool = True, rate_limit: IcmpRateLimit | None = None
    ) -> None:
        super().__init__()
        self.echo_server = echo_server
        self.rate_limit = rate_limit or IcmpRateLimit()
        self._limiter: IcmpRateLimiter | None = None
        self.echoes = EchoRequests(self)
        self.on_echo_reply: EchoReplyHook | None = None
        """Hook: ``on_echo_reply(request_ip, reply)`` sees each echo reply about to be
        sent with the request's datagram, and returns ``(reply, ip_fields)``: the
        message to send and IP header fields for ``send_payload`` (``df``, ``ttl``,
        ``tos``). None (the default): the reply of RFC 792 (code 0), with the IP layer's
        defaults. :mod:`pystack.personality` sets it: Linux and FreeBSD answer with the
        request's code, FreeBSD with its DF bit, and fingerprinting tools look."""
        self.handlers = {
            icmp_wire.TYPE_ECHO_REQUEST: self._on_rcv_echo_request,
            icmp_wire.TYPE_ECHO_REPLY: self._on_rcv_echo_reply,
            **{t: self._on_rcv_error for t in ERROR_KINDS},
        }

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """The 2013 PyStack's entry, for a user's layer between IP and ICMP: a message with
        its IP header in ``kwargs["IP"]`` (and the IP layer's ``kwargs["meta"]``)."""
        meta = kwargs.get("meta")
        if meta is None:
            meta = meta_of(unwrap(kwargs["IP"]), kwargs.get("Ether"))
        self.datagram_received(as_bytes(packet), meta)

    def datagram_received(self, data: bytes, meta: IpMeta) -> None:
        """An ICMP message from IP; unknown types are silently discarded (RFC 1122 §3.2.2)."""
        try:
            msg = icmp_wire.parse(data)
        except Malformed as exc:
            reason = IcmpDrop.__members__.get(exc.reason.upper(), IcmpDrop.MALFORMED)
            self.stats.drop(self.name, reason)
            return
        handler = self.handlers.get(msg.type)
        if handler is None:
            self.stats.drop(self.name, IcmpDrop.UNKNOWN_TYPE)
            return
        self.stats.incr(self.name, "messages_received")
        ip = cast(Ipv4Packet, meta.datagram) or Ipv4Packet(
            meta.src, meta.dst, ipv4.PROTO_ICMP, data, ttl=meta.ttl, tos=meta.tos
        )
        handler(msg, ip, meta)

    def _on_rcv_echo_request(self, msg: IcmpMessage, ip: Ipv4Packet, meta: IpMeta) -> None:
        ip_layer = self.layer("IP")
        # RFC 1122 §3.2.2.6: a host MAY discard echo requests to broadcast or multicast.
        if not self.echo_server or not ip_layer.is_local(ip.dst):
            self.stats.drop(self.name, IcmpDrop.BROADCAST_ECHO)
            return
        route = self._echo_reply_route(ip)
        if route is None:
            return
        dst, options = route
        if not self.limiter.allow(icmp_wire.TYPE_ECHO_REPLY, 0, ip.src):
            self.stats.incr(self.name, "echo_replies_rate_limited")
            return
        # RFC 1122 §3.2.2.6: the reply's source is the request's specific destination,
        # and its data is the request's data unchanged.
        self.stats.incr(self.name, "echo_replies_sent")
        reply_msg = icmp_wire.echo_reply(msg)
        fields: dict[str, Any] = {}
        if self.on_echo_reply is not None:
            reply_msg, fields = self.on_echo_reply(ip, reply_msg)
        reply = icmp_wire.emit(reply_msg)
        self._send(reply, dst=dst, src=ip.dst, options=options, **fields)

    def _echo_reply_route(self, ip: Ipv4Packet) -> tuple[str, bytes] | None:
        """(first hop, options) of the reply to an echo request, None to drop the request.

        RFC 1122 §3.2.2.6: Record Route and Timestamp come back updated with this host, a
        completed source route reversed; other options are not reflected. A request whose
        options do not parse is dropped, as Linux drops the datagram.
        """
        if not ip.options:
            return ip.src, b""
        try:
            options = ipv4_options.parse_options(ip.options)
        except Malformed:
            self.stats.drop(self.name, IcmpDrop.BAD_IP_OPTIONS)
            return None
        ms = int(self.clock.seconds() * 1000) % 86_400_000  # RFC 791: ms since midnight UT
        first_hop = ip.src
        back: list[ipv4_options.Ipv4Option] = []
        for opt in options:
            if isinstance(opt, ipv4_options.RecordRoute):
                back.append(opt.add(ip.dst))
            elif isinstance(opt, ipv4_options.Timestamp):
                back.append(opt.stamp(ip.dst, ms))
            elif isinstance(opt, ipv4_options.SourceRoute):
                if opt.remaining:  # we are not its final destination, and do not forward
                    self.stats.drop(self.name, IcmpDrop.UNFINISHED_SOURCE_ROUTE)
                    return None
                first_hop, reverse = opt.reverse(ip.src)
                back += [reverse] if reverse is not None else []
        return first_hop, ipv4_options.emit_options(back)

    @property
    def limiter(self) -> IcmpRateLimiter:
        """The rate limiter, built on first use (the clock comes with the stack context)."""
        if self._limiter is None or self._limiter.config is not self.rate_limit:
            self._limiter = IcmpRateLimiter(self.rate_limit, self.clock)
        return self._limiter

    def _on_rcv_echo_reply(self, msg: IcmpMessage, ip: Ipv4Packet, meta: IpMeta) -> None:
        if not self.echoes.answered(msg.ident, msg.seq):
            self.stats.drop(self.name, IcmpDrop.UNMATCHED_REPLY)

    def _on_rcv_error(self, msg: IcmpMessage, ip: Ipv4Packet, meta: IpMeta) -> None:
        try:
            quoted = msg.quoted
        except Malformed:
            self.stats.drop(self.name, IcmpDrop.BAD_QUOTE)
            return
        if quoted.src != self.layer("IP").address:
            self.stats.drop(self.name, IcmpDrop.BAD_QUOTE)  # not about anything we sent
            return
        self.stats.incr(self.name, "errors_received")
        # RFC 1122 §3.2.2: MUST pass errors to the transport protocol of the quoted datagram.
        self.layer("IP").deliver_icmp_error(ERROR_KINDS[msg.type], msg.code, quoted)

    def icmp_error_received(self, kind: str, code: int, quoted_ip: Any) -> None:
        """An error about one of our echo requests: fail that ping at once."""
        if len(quoted_ip.payload) < 8:
            return
        type_, _, _, ident, seq = struct.unpack_from("!BBHHH", quoted_ip.payload)
        if type_ == 8:  # about one of our echo requests
            self.echoes.failed(ident, seq, quoted_ip.dst, kind, code)

    # -- sending errors -------------------------------------------------------------------

    def may_send_error(self, offending: Ipv4Packet, meta: IpMeta | None = None) -> bool:
        """RFC 1122 §3.2.2: the cases where an ICMP error MUST NOT be sent about
        ``offending``, received with ``meta`` (None: as if unicast)."""
        ip_layer = self.layer("IP")
        if offending.proto == ipv4.PROTO_ICMP:
            payload = offending.payload
            if not payload or payload[0] in icmp_wire.ERROR_TYPES or payload[0] not in (0, 8):
                return False  # never about an ICMP error (or an unknown type)
        dst = ipaddress.IPv4Address(offending.dst)
        if ip_layer.is_broadcast(offending.dst) or dst.is_multicast:
            return False
        if meta is not None and meta.link_broadcast:
            return False
        if offending.frag_offset != 0:
            return False
        src = ipaddress.IPv4Address(offending.src)
        return not (src.is_unspecified or ip_layer.bad_source(offending.src))

    def send_error(
        self, type_: int, code: int, offending: Ipv4Packet, meta: IpMeta | None = None
    ) -> bool:
        """Send an error about ``offending`` (received with ``meta``) unless RFC 1122
        §3.2.2 forbids it or the rate limit (:attr:`rate_limit`) holds it back; True if sent."""
        if not self.may_send_error(offending, meta):
            self.stats.incr(self.name, "errors_suppressed")
            return False
        if not self.limiter.allow(type_, code, offending.src):
            self.stats.incr(self.name, "errors_rate_limited")
            return False
        datagram = ipv4.emit(offending)
        room = MAX_ERROR_LEN - 20 - 8 - (20 + len(offending.options))
        quoted = icmp_wire.quote(datagram, max(8, room))
        msg = IcmpMessage(type_, code, 0, quoted)
        self.stats.incr(self.name, "errors_sent")
        # RFC 1122 §3.2.2: an error SHOULD be sent with TOS 0.
        self._send(icmp_wire.emit(msg), dst=offending.src, tos=0)
        return True

    # -- echo client ----------------------------------------------------------------------

    def ping(self, dst: str, timeout: float = 1.0, data: bytes = b"") -> Deferred[float]:
        """Send one echo request; the Deferred fires with the RTT in seconds, or fails with
        :class:`TimeoutError` after ``timeout`` seconds (or OSError on an ICMP error)."""
        key, deferred = self.echoes.new(dst, timeout)
        self.stats.incr(self.name, "echo_requests_sent")
        request = icmp_wire.echo_request(key[0], key[1], data)
        self._send(icmp_wire.emit(request), dst=dst)
        return deferred

    def _send(self, message: bytes, **ip: Any) -> None:
        """Send an ICMP message through IP's ``send_payload``; to a user's layer below
        ICMP, with the 2013 PyStack's ``send_packet(message, IP={...})``."""
        send = getattr(self.lowerLayers["default"], "send_payload", None)
        if send is not None:
            send(message, proto=ipv4.PROTO_ICMP, **ip)
            return
        if not ip.get("options"):
            ip.pop("options", None)
        self.send_packet(message, IP={**ip, "proto": ipv4.PROTO_ICMP})
