"""ICMP (RFC 792, RFC 1122 §3.2.2): echo server and client, errors up and down.

Errors received are passed to the protocol of the quoted datagram through the IP layer
(``icmp_error_received(kind, code, quoted_ip)``). Errors are sent on request of the other
layers, except where RFC 1122 §3.2.2 forbids it: never about an ICMP error, a datagram to
a broadcast or multicast address or in a link-layer broadcast, a fragment other than the
first, or one whose source is not a unique host address.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import struct
from typing import Any

from twisted.internet.defer import Deferred

from pystack.layers.layer import Layer, as_bytes, unwrap
from pystack.wire import Malformed, ipv4
from pystack.wire import icmp as icmp_wire
from pystack.wire.ethernet import BROADCAST
from pystack.wire.icmp import IcmpMessage
from pystack.wire.ipv4 import Ipv4Packet

ERROR_KINDS = {3: "unreachable", 4: "source_quench", 11: "time_exceeded", 12: "parameter_problem"}
# RFC 1812 §4.3.2.3: an error carries as much of the datagram as fits in 576 bytes.
MAX_ERROR_LEN = 576


class IcmpDrop(enum.Enum):
    """Why the ICMP layer dropped a message."""

    TRUNCATED = "truncated"
    BAD_CHECKSUM = "bad_checksum"
    MALFORMED = "malformed"
    UNKNOWN_TYPE = "unknown_type"
    BROADCAST_ECHO = "broadcast_echo"
    UNMATCHED_REPLY = "unmatched_reply"
    BAD_QUOTE = "bad_quote"


class ICMPProtocol(Layer):
    """The ICMP layer; :meth:`ping` gives a Deferred round-trip time."""

    name = "ICMP"
    fast = True

    def __init__(self, *, echo_server: bool = True) -> None:
        super().__init__()
        self.echo_server = echo_server
        self._pings: dict[tuple[int, int], tuple[Deferred[float], float, Any]] = {}
        self._ping_ident: int | None = None
        self._ping_seq = 0
        self.handlers = {
            icmp_wire.TYPE_ECHO_REQUEST: self._on_rcv_echo_request,
            icmp_wire.TYPE_ECHO_REPLY: self._on_rcv_echo_reply,
            **{t: self._on_rcv_error for t in ERROR_KINDS},
        }

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """An ICMP message; unknown types are silently discarded (RFC 1122 §3.2.2)."""
        try:
            msg = icmp_wire.parse(as_bytes(packet))
        except Malformed as exc:
            reason = IcmpDrop.__members__.get(exc.reason.upper(), IcmpDrop.MALFORMED)
            self.stats.drop(self.name, reason)
            return
        handler = self.handlers.get(msg.type)
        if handler is None:
            self.stats.drop(self.name, IcmpDrop.UNKNOWN_TYPE)
            return
        self.stats.incr(self.name, "messages_received")
        handler(msg, unwrap(kwargs["IP"]), kwargs.get("Ether"))

    def _on_rcv_echo_request(self, msg: IcmpMessage, ip: Ipv4Packet, ether: Any) -> None:
        ip_layer = self.layer("IP")
        # RFC 1122 §3.2.2.6: a host MAY discard echo requests to broadcast or multicast.
        if not self.echo_server or ip.dst != ip_layer.address:
            self.stats.drop(self.name, IcmpDrop.BROADCAST_ECHO)
            return
        # RFC 1122 §3.2.2.6: the reply's source is the request's specific destination,
        # and its data is the request's data unchanged.
        self.stats.incr(self.name, "echo_replies_sent")
        reply = icmp_wire.echo_reply(msg)
        self.send_packet(icmp_wire.emit(reply), IP={"dst": ip.src, "src": ip.dst, "proto": 1})

    def _on_rcv_echo_reply(self, msg: IcmpMessage, ip: Ipv4Packet, ether: Any) -> None:
        pending = self._pings.pop((msg.ident, msg.seq), None)
        if pending is None:
            self.stats.drop(self.name, IcmpDrop.UNMATCHED_REPLY)
            return
        deferred, sent_at, timer = pending
        if timer.active():
            timer.cancel()
        deferred.callback(self.clock.seconds() - sent_at)

    def _on_rcv_error(self, msg: IcmpMessage, ip: Ipv4Packet, ether: Any) -> None:
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
        pending = self._pings.pop((ident, seq), None) if type_ == 8 else None
        if pending is not None:
            deferred, _, timer = pending
            if timer.active():
                timer.cancel()
            deferred.errback(OSError(errno.EHOSTUNREACH, f"{quoted_ip.dst}: {kind} ({code})"))

    # -- sending errors -------------------------------------------------------------------

    def may_send_error(self, offending: Ipv4Packet, ether: Any = None) -> bool:
        """RFC 1122 §3.2.2: the cases where an ICMP error MUST NOT be sent."""
        ip_layer = self.layer("IP")
        if offending.proto == ipv4.PROTO_ICMP:
            payload = offending.payload
            if not payload or payload[0] in icmp_wire.ERROR_TYPES or payload[0] not in (0, 8):
                return False  # never about an ICMP error (or an unknown type)
        dst = ipaddress.IPv4Address(offending.dst)
        if ip_layer.is_broadcast(offending.dst) or dst.is_multicast:
            return False
        if ether is not None and unwrap(ether).dst == BROADCAST:
            return False
        if offending.frag_offset != 0:
            return False
        src = ipaddress.IPv4Address(offending.src)
        return not (src.is_unspecified or ip_layer.bad_source(offending.src))

    def send_error(self, type_: int, code: int, offending: Ipv4Packet, **kwargs: Any) -> bool:
        """Send an error about ``offending`` unless RFC 1122 §3.2.2 forbids it; True if sent."""
        if not self.may_send_error(offending, kwargs.get("Ether")):
            self.stats.incr(self.name, "errors_suppressed")
            return False
        datagram = ipv4.emit(offending)
        room = MAX_ERROR_LEN - 20 - 8 - (20 + len(offending.options))
        quoted = icmp_wire.quote(datagram, max(8, room))
        msg = IcmpMessage(type_, code, 0, quoted)
        self.stats.incr(self.name, "errors_sent")
        # RFC 1122 §3.2.2: an error SHOULD be sent with TOS 0.
        self.send_packet(icmp_wire.emit(msg), IP={"dst": offending.src, "proto": 1, "tos": 0})
        return True

    # -- echo client ----------------------------------------------------------------------

    def ping(self, dst: str, timeout: float = 1.0, data: bytes = b"") -> Deferred[float]:
        """Send one echo request; the Deferred fires with the RTT in seconds, or fails with
        :class:`TimeoutError` after ``timeout`` seconds (or OSError on an ICMP error)."""
        if self._ping_ident is None:
            self._ping_ident = self.rng.randrange(1 << 16)
        self._ping_seq = (self._ping_seq + 1) & 0xFFFF
        key = (self._ping_ident, self._ping_seq)
        deferred: Deferred[float] = Deferred(lambda d: self._forget_ping(key))
        timer = self.clock.callLater(timeout, self._ping_timeout, key, dst, timeout)
        self._pings[key] = (deferred, self.clock.seconds(), timer)
        self.stats.incr(self.name, "echo_requests_sent")
        request = icmp_wire.echo_request(key[0], key[1], data)
        self.send_packet(icmp_wire.emit(request), IP={"dst": dst, "proto": 1})
        return deferred

    def _forget_ping(self, key: tuple[int, int]) -> None:
        pending = self._pings.pop(key, None)
        if pending is not None and pending[2].active():
            pending[2].cancel()

    def _ping_timeout(self, key: tuple[int, int], dst: str, timeout: float) -> None:
        pending = self._pings.pop(key, None)
        if pending is not None:
            pending[0].errback(TimeoutError(f"no echo reply from {dst} within {timeout} s"))
