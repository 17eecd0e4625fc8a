"""The TCP layer: demultiplexes segments to sessions (4-tuple first, then listener).

A segment that matches neither is answered with a reset, never an RST with an RST
(RFC 9293 §3.10.7.1). Checksums are verified here (RFC 9293 MUST-2/3); malformed or
badly summed segments are dropped and counted, never raised.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import socket
from collections.abc import Callable
from typing import Any

from pystack.layers.ip_meta import IpMeta, meta_of
from pystack.layers.layer import Layer, unwrap
from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.cubic import congestion_factory
from pystack.tcp.isn import IsnGenerator
from pystack.tcp.receive import TS_OPTION_LEN, syn_reopens_time_wait
from pystack.tcp.session import TCPSession, reset_for
from pystack.tcp.states import TCP, S
from pystack.tcp.time_wait import TimeWaitRecord, TimeWaitTable, record_of, revive
from pystack.wire import Malformed
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

__all__ = ["ChallengeAckLimit", "TCPLayer", "TCPProtocol"]

PROTO_TCP = 6
# RFC 6335 §6: the dynamic (ephemeral) port range.
EPHEMERAL = (49152, 65535)
# ICMP destination-unreachable codes that are hard errors for TCP (RFC 1122 §4.2.3.9):
# protocol, port unreachable (and fragmentation needed is handled by PMTU, not here).
HARD_UNREACH_CODES = frozenset({2, 3})

Key = tuple[str, int, str, int]
BOTH = frozenset({4, 6})
IPV6_HEADER = 40  # RFC 8200 §3
TS_OFFSETS_KEPT = 4096  # address pairs whose TSval offset is remembered (see ts_offset)


class ChallengeAckLimit:
    """RFC 5961 §7: at most a budget of challenge ACKs per second of ``clock`` (whole
    seconds, as Linux counts them), shared by all the connections of a TCP layer.

    With ``rng``, each second's budget is drawn uniformly from [L/2, 3L/2) around the
    limit L, as Linux's tcp_send_challenge_ack since CVE-2016-5696: with a fixed budget,
    an off-path attacker who exhausts it can count the ACKs left to learn whether its
    guessed 4-tuple and sequence numbers hit a connection. Without ``rng``, exactly L.
    ``sent`` and ``limited`` count the ACKs allowed and refused.
    """

    def __init__(self, limit: int, clock: Any, rng: random.Random | None = None) -> None:
        self.limit, self.clock, self.rng = limit, clock, rng
        self.second: int | None = None
        self.left = 0
        self.sent = self.limited = 0

    def allow(self) -> bool:
        """Take one challenge ACK from this second's budget; False when it is spent."""
        second = int(self.clock.seconds())
        if second != self.second:
            self.second, self.left = second, self._budget()
        if self.left > 0:
            self.left -= 1
            self.sent += 1
            return True
        self.limited += 1
        return False

    def _budget(self) -> int:
        half = (self.limit + 1) // 2
        if self.rng is None or half == 0:
            return self.limit
        return self.rng.randint(half, self.limit + half - 1)


ClosedPortReply = Callable[[tcpwire.TcpSegment], "tcpwire.TcpSegment | None"]
"""The type of `TCPLayer.closed_port_reply`."""


class TCPLayer(Layer):
    """The "TCP" layer: owns the connection table, the listeners and the ISN generator."""

    name = "TCP"
    fast = True
    kernel_filter: Any = None
    """Shared-address mode: the stack's `KernelFilter` (set by `PyStack`), else None."""

    def __init__(
        self,
        config: TcpConfig | None = None,
        *,
        session_class: type[TCPSession] = TCPSession,
        isn: Any = None,
    ) -> None:
        super().__init__()
        self.config = config or TcpConfig()
        if session_class is TCPSession and self.config.fastopen:
            from pystack.tcp.fastopen import FastOpenSession

            session_class = FastOpenSession  # TcpConfig.fastopen: RFC 7413 on
        self.session_class = session_class
        self._shared: dict[str, Any] = {}
        self.connections: dict[Key, TCPSession] = {}
        self.listeners: dict[tuple[str, int], TCPSession] = {}
        # The IP versions a wildcard listener takes when not both (see `listen`).
        self._families: dict[tuple[str, int], frozenset[int]] = {}
        self._isn = isn
        self._time_wait: TimeWaitTable | None = None
        self._challenge_acks: ChallengeAckLimit | None = None
        self._ts_secret: bytes | None = None
        self._ts_offsets: dict[tuple[str, str], int] = {}
        self._cookie_secret: bytes | None = None
        self.closed_port_reply: ClosedPortReply | None = None
        """Hook: the answer to a segment for no connection and no listener (a closed
        port), or None to send nothing; it never sees an RST. None (the default): the
        RST of RFC 9293 §3.10.7.1. :mod:`pystack.personality` sets it to answer as an OS."""

    # ------------------------------------------------------------------ session's host

    def isn(self, local_ip: str, local_port: int, remote_ip: str, remote_port: int) -> int:
        """ISN for a new connection (RFC 6528), from the injected or default generator."""
        if self._isn is None:
            self._isn = IsnGenerator(self.clock, rng=self.rng)
        return int(self._isn(local_ip, local_port, remote_ip, remote_port))

    def ts_offset(self, local_ip: str, remote_ip: str) -> int:
        """The TSval offset of a connection between two addresses (RFC 7323 §7.1): a keyed
        hash of the pair, as Linux's secure_tcp_ts_off. Random, so TSval does not tell
        our uptime; the same for every connection between two hosts, so TSval grows across
        them and a SYN reopening a TIME_WAIT connection passes PAWS (RFC 6191 §2)."""
        cached = self._ts_offsets.get((local_ip, remote_ip))
        if cached is not None:  # the same for every connection between two hosts
            return cached
        if self._ts_secret is None:
            self._ts_secret = self.rng.getrandbits(128).to_bytes(16, "big")
        pair = f"{local_ip} {remote_ip}".encode()
        digest = hashlib.blake2s(pair, key=self._ts_secret, digest_size=4).digest()
        if len(self._ts_offsets) >= TS_OFFSETS_KEPT:
            self._ts_offsets.clear()
        offset = self._ts_offsets[(local_ip, remote_ip)] = int.from_bytes(digest, "big")
        return offset

    def syncookie_secret(self) -> bytes:
        """The key of this stack's SYN cookies (RFC 4987 §3.6), drawn once from its rng."""
        if self._cookie_secret is None:
            self._cookie_secret = self.rng.getrandbits(128).to_bytes(16, "big")
        return self._cookie_secret

    def shared_state(self, name: str, factory: Callable[[Any], Any]) -> Any:
        """State a session class keeps per stack, for all its connections (keys, caches):
        the object ``factory(self)`` made the first time ``name`` was asked for."""
        state = self._shared.get(name)
        if state is None:
            state = self._shared[name] = factory(self)
        return state

    def count_event(self, name: str) -> None:
        """Count one ``name`` event under "tcp" in ``stack.stats`` (e.g. syncookies_sent)."""
        self.stats.incr("tcp", name)

    def count_drop(self, reason: TcpDrop) -> None:
        """Count one dropped segment under ``reason``."""
        self.stats.drop("tcp", reason)

    def challenge_ack_allowed(self) -> bool:
        """Whether a session may send an RFC 5961 challenge ACK now (§7): the layer's
        `ChallengeAckLimit` of ``TcpConfig.challenge_ack_limit`` per second, its own rng
        seeded from the stack's; counted as tcp.challenge_acks / challenge_acks_limited."""
        limit = self._challenge_acks
        if limit is None:
            if self.config.challenge_ack_limit is None:
                return True
            rng = random.Random(self.rng.getrandbits(64))
            limit = self._challenge_acks = ChallengeAckLimit(
                self.config.challenge_ack_limit, self.clock, rng
            )
        if limit.allow():
            self.stats.incr("tcp", "challenge_acks")
            return True
        self.stats.incr("tcp", "challenge_acks_limited")
        return False

    def transmit(self, session: Any, seg: tcpwire.TcpSegment) -> None:
        """Send one segment of ``session`` (anything with ``local_ip`` and ``remote_ip``)
        down to IP."""
        remote_ip, local_ip = session.remote_ip, session.local_ip
        data = tcpwire.emit(seg, local_ip, remote_ip)
        self._context().stats.incr("tcp", "segments_out")
        self._to_ip(data, remote_ip, local_ip)

    def transmit_super(self, session: Any, seg: tcpwire.TcpSegment, gso_size: int) -> None:
        """Send the super-segment ``seg`` of ``session`` down to IP, its checksum partial,
        for the link's device to cut into segments of ``gso_size`` text bytes (see
        `tso_max`)."""
        remote_ip, local_ip = session.remote_ip, session.local_ip
        data = tcpwire.emit_partial(seg, local_ip, remote_ip)
        self._context().stats.incr("tcp", "super_segments_out")
        self._to_ip(data, remote_ip, local_ip, gso_size=gso_size)

    @property
    def tso_max(self) -> int:
        """The largest datagram a super-segment may fill (`transmit` with ``gso_size``):
        IP's `IPProtocol.tso_max` when the built-in IP is the layer below, else 0."""
        lower = self.lowerLayers.get("default")
        if lower is None or lower is not self._context().layers.get("IP"):
            return 0
        return int(getattr(lower, "tso_max", 0))

    @property
    def tso_max6(self) -> int:
        """As `tso_max`, for IPv6 super-segments: `IPv6Protocol.tso_max` (0 without an
        IPv6 layer)."""
        ipv6 = self._context().layers.get("IPv6")
        return int(getattr(ipv6, "tso_max", 0)) if ipv6 is not None else 0

    def transmit_bytes(self, session: Any, data: bytes, **ip: Any) -> None:
        """Send an already encoded TCP segment of ``session`` down to IP; ``ip`` may set
        the header's ``src``, ``dst``, ``ttl``, ``tos`` and ``ident`` (a scapy hook's), and
        the ``shaper`` that cuts this datagram (see `IPProtocol.send_payload`)."""
        dst = ip.pop("dst", None) or session.remote_ip
        src = ip.pop("src", None) or session.local_ip
        self._context().stats.incr("tcp", "segments_out")
        self._to_ip(data, dst, src, **ip)

    def _to_ip(self, data: bytes, dst: str, src: str, **ip: Any) -> None:
        """IP's ``send_payload``; to a user's layer below TCP, the 2013 PyStack's
        ``send_packet(data, IP={...})``."""
        if ":" in dst:  # IPv6 (RFC 8200): the stack's IPv6 layer, beside IPv4
            self.layer("IPv6").send_payload(data, dst=dst, proto=PROTO_TCP, src=src, **ip)
            return
        lower = self.lowerLayers["default"]
        send = getattr(lower, "send_payload", None)
        if send is not None:
            send(data, dst=dst, proto=PROTO_TCP, src=src, **ip)
        else:
            lower.send_packet(data, IP={"dst": dst, "proto": PROTO_TCP, "src": src, **ip})

    def adopt(self, session: TCPSession) -> None:
        """Enter a new connection in the demux table by its 4-tuple."""
        self.connections[_key(session)] = session

    def forget(self, session: TCPSession) -> None:
        """Remove a session (connection or listener) from the tables; idempotent."""
        if session.remote_ip is not None and session.remote_port is not None:
            key = _key(session)
            if self.connections.get(key) is session:
                del self.connections[key]
        lkey = (session.local_ip, session.local_port)
        if self.listeners.get(lkey) is session:
            del self.listeners[lkey]
            self._families.pop(lkey, None)
        if self.kernel_filter is not None and not self._port_in_use(session.local_port):
            self.kernel_filter.unblock_tcp_port(session.local_port)

    def listener_for(self, local_ip: str, local_port: int) -> TCPSession | None:
        """The listener a new SYN to ``local_ip:local_port`` goes to (exact address first,
        then a wildcard: "0.0.0.0" or "::", each any of our addresses of either family), or
        None; a session in TIME_WAIT asks it before reopening (RFC 6191)."""
        listeners = self.listeners
        found = listeners.get((local_ip, local_port))
        if found is not None:
            return found
        family = 6 if ":" in local_ip else 4
        for wildcard in ("0.0.0.0", "::"):
            found = listeners.get((wildcard, local_port))
            if found is not None and family in self._families.get((wildcard, local_port), BOTH):
                return found
        return None

    def _port_in_use(self, port: int) -> bool:
        return (
            any(key[1] == port for key in self.listeners)
            or any(key[1] == port for key in self.connections)
            or port in self.time_wait.ports()
        )

    # ---------------------------------------------------------------------- TIME_WAIT

    @property
    def holds_time_wait(self) -> bool:
        """Whether this layer keeps compact TIME_WAIT records (``TcpConfig.compact_time_wait``):
        a session entering TIME_WAIT then leaves its 2*MSL wait to the layer."""
        return self.config.compact_time_wait

    @property
    def time_wait(self) -> TimeWaitTable:
        """The compact TIME_WAIT records (see :mod:`pystack.tcp.time_wait`)."""
        if self._time_wait is None:
            self._time_wait = TimeWaitTable(self.clock, on_expire=self._time_wait_expired)
        return self._time_wait

    def time_wait_records(self) -> list[TimeWaitRecord]:
        """The connections in TIME_WAIT kept as records (as ``ss state time-wait`` lists)."""
        return list(self.time_wait.records()) if self._time_wait is not None else []

    def _retire(self, session: TCPSession) -> None:
        """Linux's tcp_time_wait(): a record takes over the 2*MSL wait, the session closes."""
        deadline = session.time_wait_timer.deadline
        if deadline is None:  # a hook stopped the wait: nothing to keep
            deadline = self.clock.seconds()
        table = self.time_wait
        table.add(record_of(session, deadline, table.kind_of(type(session))))
        session.fire("time_wait_handoff")

    def _revive(self, record: TimeWaitRecord) -> TCPSession:
        """A session in TIME_WAIT rebuilt from ``record`` to process one segment."""
        cls = self.time_wait.classes[record.kind]
        self.stats.incr("tcp", "time_wait_revived")
        session = revive(cls, self, record, self.config)
        self.adopt(session)
        return session

    def _reopen(self, record: TimeWaitRecord, seg: tcpwire.TcpSegment) -> bool:
        """A SYN that reopens a TIME_WAIT record goes straight to the listener, as Linux's
        TCP_TW_SYN: the same decision as `TCPSession.reopen_from_time_wait`
        (`syn_reopens_time_wait`: RFC 6191 §2, RFC 7323 §5.3), without reviving a session
        only to close it. Not taken for a class whose ``compact_time_wait_syn_path`` is
        False (it overrides that path)."""
        cls = self.time_wait.classes[record.kind]
        if not seg.flags & tcpwire.SYN or not cls.compact_time_wait_syn_path:
            return False
        ts_recent = record.ts_recent if record.ts_ok else None
        now = self.clock.seconds()
        if not syn_reopens_time_wait(seg, record.rcv_nxt, ts_recent, record.ts_recent_age, now):
            return False
        listener = self.listener_for(record.local_ip, record.local_port)
        if listener is None:
            return False
        self.stats.incr("tcp", "time_wait_reopened")
        listener.take_syn_after_time_wait(
            seg, record.local_ip, record.remote_ip, SeqNum(record.snd_nxt)
        )
        return True

    def _time_wait_expired(self, key: Key) -> None:
        if self.kernel_filter is not None and not self._port_in_use(key[1]):
            self.kernel_filter.unblock_tcp_port(key[1])

    # --------------------------------------------------------------------- user calls

    def listen(
        self, port: int, *, user: Any = None, backlog: int = 5, ip: str = "0.0.0.0",
        session_class: type[TCPSession] | None = None, congestion: Any = None,
        families: frozenset[int] = BOTH,
    ) -> TCPSession:  # fmt: skip
        """Open a listener on ``ip:port`` ("0.0.0.0" or "::": any of our addresses).
        ``congestion`` overrides `TcpConfig.congestion` for the connections it accepts; a
        wildcard listener takes connections to addresses of the IP versions in ``families``
        (both by default; a socket of one family narrows it, as IPV6_V6ONLY does)."""
        if not 0 < port < 65536:
            raise ValueError(f"bad port {port}")
        if (ip, port) in self.listeners:
            raise OSError(98, f"port {port} is already listening")
        cls = session_class or self.session_class
        cc = None if congestion is None else congestion_factory(congestion)
        session = cls(self, local_ip=ip, local_port=port, config=self.config, user=user,
                      cc_factory=cc)  # fmt: skip
        if self.kernel_filter is not None:  # before any SYN can reach the kernel
            self.kernel_filter.block_tcp_port(port)
        session.open_passive(backlog)
        self.listeners[(ip, port)] = session
        if families != BOTH:
            self._families[(ip, port)] = frozenset(families)
        return session

    def connect(
        self, remote_ip: str, remote_port: int, *, user: Any = None, local_port: int = 0,
        session_class: type[TCPSession] | None = None, congestion: Any = None,
    ) -> TCPSession:  # fmt: skip
        """Open a connection to ``remote_ip:remote_port`` (sends the SYN now); ``congestion``
        overrides `TcpConfig.congestion` for it."""
        if not self.is_unicast(remote_ip):
            # RFC 9293 §3.9.1 MUST-46: an OPEN to such an address is refused.
            family = "IPv6" if ":" in str(remote_ip) else "IPv4"
            raise ValueError(f"cannot connect to {remote_ip!r}: not a unicast {family} address")
        if ":" in remote_ip:  # as segments will show it (RFC 5952 text)
            remote_ip = str(ipaddress.IPv6Address(remote_ip))
        local_ip = self._local_ip_for(remote_ip)
        port = local_port or self.ephemeral_port(local_ip, remote_ip, remote_port)
        key = (local_ip, port, remote_ip, remote_port)
        if key in self.connections or key in self.time_wait:
            raise OSError(98, f"connection {key} already exists")
        cls = session_class or self.session_class
        cc = None if congestion is None else congestion_factory(congestion)
        session = cls(
            self, local_ip=local_ip, local_port=port, remote_ip=remote_ip,
            remote_port=remote_port, config=self.config, user=user, cc_factory=cc,
        )  # fmt: skip
        self.connections[key] = session
        if self.kernel_filter is not None:  # else the kernel resets the SYN,ACK
            self.kernel_filter.block_tcp_port(port)
        session.open_active()
        return session

    def _local_ip_for(self, remote_ip: str) -> str:
        """Our address for a connection to ``remote_ip``: the IPv4 one, or the IPv6 layer's
        choice of source (RFC 6724 §5)."""
        if ":" in remote_ip:
            return str(self.layer("IPv6").source_for(remote_ip))
        ip = self._context().layers.get("IP")
        if ip is not None and hasattr(ip, "source_for"):  # by route: loopback, other links
            return ip.source_for(remote_ip) or "0.0.0.0"
        return self._context().ip or "0.0.0.0"

    def is_unicast(self, ip: str) -> bool:
        """Whether ``ip`` may be a TCP peer or destination: not 0.0.0.0, not multicast
        (224.0.0.0/4, RFC 1112), not the limited broadcast, and not the directed broadcast
        of our subnet (which the IP layer below knows, when it is PyStack's)."""
        if ":" in ip:  # IPv6: not unspecified, not multicast (RFC 4291 §2.5.2, §2.7)
            try:
                raw = socket.inet_pton(socket.AF_INET6, ip)
            except (OSError, TypeError):
                return False
            return raw[0] != 0xFF and any(raw)
        try:
            n = int.from_bytes(socket.inet_aton(ip), "big")
        except (OSError, TypeError):
            return False
        if n == 0 or n >> 28 == 0xE or n == 0xFFFFFFFF:
            return False
        is_broadcast = getattr(self.lowerLayers.get("default"), "is_broadcast", None)
        return is_broadcast is None or not is_broadcast(ip)

    def ephemeral_port(self, local_ip: str, remote_ip: str, remote_port: int) -> int:
        """A free port of the dynamic range, drawn at random (RFC 6056)."""
        rng: random.Random = self.rng
        lo, hi = EPHEMERAL
        for _ in range(64):
            port = rng.randint(lo, hi)
            key = (local_ip, port, remote_ip, remote_port)
            if (
                key not in self.connections
                and key not in self.time_wait
                and ("0.0.0.0", port) not in self.listeners
                and ("::", port) not in self.listeners
            ):
                return port
        raise OSError(99, "no free ephemeral port")

    def register_application(self, app: Any) -> None:
        """Attach a `TCPApplication` to this layer (``stack.register_tcp_application``)."""
        app.tcp = self
        if hasattr(app, "register_lower_layer"):
            app.register_lower_layer("default", self)

    def stop(self) -> None:
        """Stop listening and close every connection (FIN; the peers may still answer)."""
        for session in self.sessions():
            session.close()

    def clear_time_wait(self) -> None:
        """Forget the TIME_WAIT records at once (the stack is stopping)."""
        if self._time_wait is not None:
            self._time_wait.clear()

    def notify(self, session: TCPSession, old: str, trigger: str, new: str) -> None:
        """Pass a session's transition to the stack's observer (the demo prints them)."""
        ctx = self.ctx
        if ctx is not None and ctx.observer is not None:
            ctx.observer(session, old, trigger, new)

    def sessions(self) -> list[TCPSession]:
        """Every live session: listeners then connections."""
        return [*self.listeners.values(), *self.connections.values()]

    # -------------------------------------------------------------------- receive path

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """The 2013 PyStack's entry, for a user's layer between IP and TCP: a segment with
        its IP header in ``kwargs["IP"]`` (and the IP layer's ``kwargs["meta"]``)."""
        meta = kwargs.get("meta")
        if meta is None:
            meta = meta_of(unwrap(kwargs["IP"]), kwargs.get("Ether"))
        self.datagram_received(packet if type(packet) is bytes else bytes(packet), meta)

    def datagram_received(self, data: bytes, meta: IpMeta) -> None:
        """One TCP segment from IP, with what IP knows of it (addresses, TTL, TOS)."""
        # RFC 9293 §3.1 (MUST-3); a checksum the device vouched for is checked already.
        if not meta.checksum_valid and not tcpwire.checksum_ok(data, meta.src, meta.dst):
            self.count_drop(TcpDrop.BAD_CHECKSUM)
            return
        try:
            seg = tcpwire.parse(data)
        except Malformed:
            self.count_drop(TcpDrop.MALFORMED)
            return
        self.segment_received(seg, meta)

    def segment_received(self, seg: tcpwire.TcpSegment, meta: IpMeta) -> None:
        """Demultiplex a parsed segment: 4-tuple, then listener, else reset. The session
        gets the segment with ``meta``: a listener learns its peer from it."""
        ctx = self._context()
        ctx.stats.incr("tcp", "segments_in")
        src, dst = meta.src, meta.dst
        if dst != ctx.ip and not self.is_unicast(dst):
            self.count_drop(TcpDrop.NOT_UNICAST)  # RFC 9293 MUST-57: silently, no RST
            return
        key = (dst, seg.dst_port, src, seg.src_port)
        session = self.connections.get(key)
        if session is None:
            table = self._time_wait
            record = table.take(key) if table is not None else None
            if record is not None:
                if self._reopen(record, seg):
                    return
                session = self._revive(record)
            else:
                session = self.listener_for(dst, seg.dst_port)
                if session is None:
                    self._reply_closed(seg, src, dst)
                    return
        session.segment_arrives(seg, meta)
        if session.state == TCP.TIME_WAIT and self.config.compact_time_wait:
            self._retire(session)

    def _reply_closed(self, seg: tcpwire.TcpSegment, src: str, dst: str) -> None:
        """RFC 9293 §3.10.7.1: no connection; reset unless the segment is an RST."""
        self.count_drop(TcpDrop.NO_LISTENER)
        if seg.flags & tcpwire.RST:
            return
        hook = self.closed_port_reply
        rst = reset_for(seg) if hook is None else hook(seg)
        if rst is None:
            return
        data = tcpwire.emit(rst, dst, src)
        self.stats.incr("tcp", "resets_out")
        self._to_ip(data, src, dst)

    def icmp_error_received(self, kind: str, code: int, quoted_ip: Any) -> None:
        """An ICMP error quoting one of our segments (RFC 1122 §4.2.3.9)."""
        quoted = unwrap(quoted_ip)
        head = bytes(getattr(quoted, "payload", b""))[:8]
        if len(head) < 4:
            return
        sport, dport = int.from_bytes(head[0:2], "big"), int.from_bytes(head[2:4], "big")
        session = self.connections.get((quoted.src, sport, quoted.dst, dport))
        if session is None:
            return
        if kind == "packet_too_big":
            self._packet_too_big(session, head)
            return
        hard = kind in ("unreachable", "dest_unreach", "destination_unreachable") and (
            code in HARD_UNREACH_CODES
        )
        self.stats.incr("tcp", "icmp_hard_errors" if hard else "icmp_soft_errors")
        session.icmp_error(hard)

    def _packet_too_big(self, session: TCPSession, head: bytes) -> None:
        """The IPv6 layer lowered the path MTU to the peer (RFC 8201): lower the effective
        send MSS to fit it (RFC 9293 §3.7.1) and resend at once what was too big."""
        # RFC 8201 §5.2 (RFC 5927 §4.1): the quoted sequence number must be one in
        # flight, else the message is stale or forged.
        seq = SeqNum(int.from_bytes(head[4:8], "big")) if len(head) >= 8 else None
        if seq is None or not session.snd_una <= seq < session.snd_max:
            self.stats.drop("tcp", TcpDrop.PTB_NOT_IN_FLIGHT)
            return
        mtu = int(self.layer("IPv6").path_mtu(session.remote_ip))
        mss = mtu - IPV6_HEADER - tcpwire.HEADER_LEN - (TS_OPTION_LEN if session.ts_ok else 0)
        if mss >= session.snd_mss or session.state not in S.synchronized:
            return
        self.stats.incr("tcp", "pmtu_mss_lowered")
        session.snd_mss = max(1, mss)
        session.cc.set_smss(session.snd_mss)
        # RFC 8201 §5.4: the datagram was dropped for its size, not for congestion: go
        # back to SND.UNA and resend in the new size without a congestion response; no
        # RTT sample from what is resent (Karn, RFC 6298 §3).
        session.rtt_seq = None
        session.snd_nxt = session.snd_una
        session.output()


def _key(session: TCPSession) -> Key:
    assert session.remote_ip is not None and session.remote_port is not None
    return (session.local_ip, session.local_port, session.remote_ip, session.remote_port)


TCPProtocol = TCPLayer
"""The seed's name for the TCP layer."""
