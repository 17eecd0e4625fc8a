"""ARP (RFC 826) with a per-entry machine (machines/arp.toml) and pending queues.

Packets for an unresolved address wait in the entry's queue (RFC 1122 §2.3.2.2 asks for at
least the latest; we keep ``max_pending``, dropping the oldest). Requests go out only when
an entry is created or its retry timer fires, and never twice within ``min_interval``
(1 s) for one address (RFC 1122 §2.3.2.1, ARP flooding). After ``retries`` unanswered
requests the queued packets are dropped, each counted, and their sender is told (the IP
layer turns that into a local ICMP host unreachable for the protocol above it).
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from typing import Any, Final

from pystack.fsm import StateMachine, bind_states, load_spec
from pystack.layers.layer import Layer, as_bytes
from pystack.wire import Malformed
from pystack.wire import arp as arp_wire
from pystack.wire.ethernet import BROADCAST, ETHERTYPE_ARP

ZERO_MAC = "00:00:00:00:00:00"


class ArpDrop(enum.Enum):
    """Why the ARP layer dropped an ARP packet or a packet waiting for resolution."""

    MALFORMED = "malformed"
    NOT_FOR_US = "not_for_us"
    BAD_SENDER = "bad_sender"
    ADDRESS_CONFLICT = "address_conflict"
    UNRESOLVED = "unresolved"
    PENDING_OVERFLOW = "pending_overflow"
    SUPER_SEGMENT_UNRESOLVED = "super_segment_unresolved"  # TSO before the MAC is known


class ArpState:
    """The states of ``machines/arp.toml`` (checked against it at import)."""

    NONE: Final = "NONE"
    INCOMPLETE: Final = "INCOMPLETE"
    REACHABLE: Final = "REACHABLE"
    STALE: Final = "STALE"
    PROBE: Final = "PROBE"
    FAILED: Final = "FAILED"


bind_states(load_spec("arp"), ArpState)


class ArpEntry(StateMachine, machine="arp"):
    """One neighbour: its state, MAC, pending packets and single timer."""

    def __init__(self, layer: ARPProtocol, ip: str) -> None:
        self.layer = layer
        self.ip = ip
        self.mac: str | None = None
        self.pending: deque[tuple[int, bytes]] = deque()
        self.tries = 0
        self.timer: Any = None

    def _set_timer(self, delay: float, trigger: str) -> None:
        self._cancel_timer()
        self.timer = self.layer.clock.callLater(delay, self.fire, trigger)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    # -- conditions --------------------------------------------------------------------------

    def retries_left(self, **kw: Any) -> bool:
        return self.tries < self.layer.retries

    def mac_changed(self, mac: str = "", **kw: Any) -> bool:
        return mac != self.mac

    # -- hooks named in machines/arp.toml ----------------------------------------------------

    def send_request(self, **kw: Any) -> None:
        """Broadcast a who-has for this address."""
        self.tries += 1
        self.layer.send_request(self.ip, BROADCAST)

    def send_probe(self, **kw: Any) -> None:
        """Unicast a who-has to the MAC we hold (RFC 1122 §2.3.2.1 unicast poll)."""
        self.tries += 1
        self.layer.send_request(self.ip, self.mac or BROADCAST)

    def start_retry_timer(self, **kw: Any) -> None:
        self._set_timer(self.layer.retry_interval, "retry_timeout")

    def start_reachable_timer(self, **kw: Any) -> None:
        self._set_timer(self.layer.reachable_time, "reachable_timeout")

    def start_stale_timer(self, **kw: Any) -> None:
        """The cache lifetime of an unconfirmed entry (RFC 1122 §2.3.2.1: flush old entries)."""
        self._set_timer(self.layer.stale_time, "expire")

    def store_mac(self, mac: str = "", **kw: Any) -> None:
        self.mac = mac
        self.tries = 0

    def flush_pending(self, **kw: Any) -> None:
        """Send every queued packet, once, in arrival order."""
        while self.pending:
            ethertype, payload = self.pending.popleft()
            self.layer.stats.incr(self.layer.name, "pending_sent")
            self.layer.transmit(self.mac or BROADCAST, ethertype, payload)

    def drop_pending(self, **kw: Any) -> None:
        """Drop the queued packets, count each, and tell whoever sent them."""
        while self.pending:
            ethertype, payload = self.pending.popleft()
            self.layer.stats.drop(self.layer.name, ArpDrop.UNRESOLVED)
            self.layer.unreachable(ethertype, payload)

    def forget(self, **kw: Any) -> None:
        self._cancel_timer()
        self.layer.remove(self)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        super().on_state_change(old, trigger, new)
        if self.layer.ctx is not None:
            self.layer.ctx.notify(self, old, trigger, new)

    def __repr__(self) -> str:
        return f"ArpEntry({self.ip} {self.state} {self.mac})"


class ARPProtocol(Layer):
    """The ARP layer: answers for our address, resolves next hops for the Ethernet layer."""

    name = "ARP"
    fast = True
    entry_class = ArpEntry

    def __init__(
        self,
        *,
        retries: int = 3,
        retry_interval: float = 1.0,
        reachable_time: float = 30.0,
        stale_time: float = 1200.0,
        max_entries: int = 256,
        max_pending: int = 64,
        min_interval: float = 1.0,
    ) -> None:
        super().__init__()
        if retries < 1 or max_entries < 1 or max_pending < 1:
            raise ValueError("retries, max_entries and max_pending must be at least 1")
        self.retries = retries
        self.retry_interval = max(retry_interval, min_interval)
        self.reachable_time = reachable_time
        self.stale_time = stale_time
        self.max_entries = max_entries
        self.max_pending = max_pending
        self.min_interval = min_interval
        self.cache: OrderedDict[str, ArpEntry] = OrderedDict()
        self._last_request: dict[str, float] = {}

    @property
    def my_ip(self) -> str | None:
        return self._context().ip

    @property
    def my_mac(self) -> str:
        return self._context().mac or ""

    def get_mac(self, ip: str) -> str | None:
        """The MAC the cache holds for ``ip`` (the seed's name), or None."""
        entry = self.cache.get(ip)
        return entry.mac if entry is not None else None

    # -- sending for the Ethernet layer ---------------------------------------------------

    def resolve(self, ip: str, payload: bytes, ethertype: int, gso_size: int = 0) -> None:
        """Send ``payload`` to ``ip``'s MAC now, or queue it until ARP answers; a TCP
        super-segment (``gso_size``) only goes now (see `EthernetProtocol.transmit`)."""
        entry = self.cache.get(ip)
        if gso_size and (entry is None or entry.state == ArpState.INCOMPLETE):
            # A queued datagram is sent later as one plain frame, which a super-segment
            # cannot be; TCP resends its bytes in MSS-sized segments.
            self.stats.drop(self.name, ArpDrop.SUPER_SEGMENT_UNRESOLVED)
            if entry is None:
                self._create(ip).fire("resolve")
            return
        if entry is None:
            entry = self._create(ip)
            self._enqueue(entry, ethertype, payload)
            entry.fire("resolve")
            return
        if entry.state == ArpState.INCOMPLETE:
            self._enqueue(entry, ethertype, payload)
            return
        self.transmit(entry.mac or BROADCAST, ethertype, payload, gso_size)
        if entry.state == ArpState.STALE:
            entry.fire("use")

    def _enqueue(self, entry: ArpEntry, ethertype: int, payload: bytes) -> None:
        if len(entry.pending) >= self.max_pending:
            entry.pending.popleft()
            self.stats.drop(self.name, ArpDrop.PENDING_OVERFLOW)
        entry.pending.append((ethertype, payload))
        self.stats.incr(self.name, "pending_queued")

    def _create(self, ip: str) -> ArpEntry:
        while len(self.cache) >= self.max_entries:
            victim = next((e for e in self.cache.values() if e.state != ArpState.INCOMPLETE), None)
            victim = victim or next(iter(self.cache.values()))
            self.stats.incr(self.name, "entries_evicted")
            if not victim.fire("expire"):
                self.remove(victim)
        entry = self.entry_class(self, ip)
        self.cache[ip] = entry
        return entry

    def remove(self, entry: ArpEntry) -> None:
        if self.cache.get(entry.ip) is entry:
            del self.cache[entry.ip]

    def send_request(self, ip: str, dst_mac: str) -> None:
        """A who-has for ``ip``, unless one went out less than ``min_interval`` ago."""
        now = self.clock.seconds()
        last = self._last_request.get(ip)
        if last is not None and now - last < self.min_interval:
            self.stats.incr(self.name, "requests_rate_limited")
            return
        if len(self._last_request) > 4 * self.max_entries:
            self._last_request = {
                k: t for k, t in self._last_request.items() if now - t < self.min_interval
            }
        self._last_request[ip] = now
        request = arp_wire.ArpPacket(arp_wire.OP_REQUEST, self.my_mac, self.my_ip or "0.0.0.0",
                                     ZERO_MAC, ip)  # fmt: skip
        self.stats.incr(self.name, "requests_sent")
        self.transmit(dst_mac, ETHERTYPE_ARP, arp_wire.emit(request))

    def transmit(self, dst: str, ethertype: int, payload: bytes, gso_size: int = 0) -> None:
        if gso_size:
            self.lowerLayers["default"].transmit(dst, ethertype, payload, gso_size)
        else:
            self.lowerLayers["default"].transmit(dst, ethertype, payload)

    def unreachable(self, ethertype: int, payload: bytes) -> None:
        lower = self.lowerLayers["default"]
        if hasattr(lower, "link_unreachable"):
            lower.link_unreachable(ethertype, payload)

    # -- receiving ------------------------------------------------------------------------

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """An ARP packet: merge what it tells (RFC 826), answer requests for our address."""
        try:
            pkt = arp_wire.parse(as_bytes(packet))
        except Malformed:
            self.stats.drop(self.name, ArpDrop.MALFORMED)
            return
        if (
            int(pkt.sender_mac[:2], 16) & 1
            or pkt.sender_mac == ZERO_MAC
            or int(pkt.sender_ip.split(".", 1)[0]) >= 224
        ):
            # A group MAC never sends; a multicast or broadcast address is nobody's.
            self.stats.drop(self.name, ArpDrop.BAD_SENDER)
            return
        if pkt.sender_ip == self.my_ip:
            # RFC 5227 §2.4: someone else claims our address; never learn it.
            self.stats.drop(self.name, ArpDrop.ADDRESS_CONFLICT)
            return
        for_us = pkt.target_ip == self.my_ip and self.my_ip is not None
        merged = self._merge(pkt, for_us)
        if for_us and pkt.op == arp_wire.OP_REQUEST:
            self._reply(pkt)
        elif not merged and not for_us:
            self.stats.drop(self.name, ArpDrop.NOT_FOR_US)
        self.stats.incr(self.name, "packets_received")

    def _merge(self, pkt: arp_wire.ArpPacket, for_us: bool) -> bool:
        if pkt.sender_ip == "0.0.0.0":
            return False  # an RFC 5227 probe: nothing to learn
        entry = self.cache.get(pkt.sender_ip)
        if entry is None:
            if not for_us:
                return False
            entry = self._create(pkt.sender_ip)
            entry.fire("learn", mac=pkt.sender_mac)
            return True
        trigger = "rcv_reply" if pkt.op == arp_wire.OP_REPLY and for_us else "learn"
        entry.fire(trigger, mac=pkt.sender_mac)
        return True

    def _reply(self, request: arp_wire.ArpPacket) -> None:
        reply = arp_wire.ArpPacket(arp_wire.OP_REPLY, self.my_mac, self.my_ip or "0.0.0.0",
                                   request.sender_mac, request.sender_ip)  # fmt: skip
        self.stats.incr(self.name, "replies_sent")
        self.transmit(request.sender_mac, ETHERTYPE_ARP, arp_wire.emit(reply))

    def announce(self) -> None:
        """Send a gratuitous ARP for our address (RFC 5227 §3), e.g. after a MAC change."""
        ip = self.my_ip or "0.0.0.0"
        grat = arp_wire.ArpPacket(arp_wire.OP_REQUEST, self.my_mac, ip, ZERO_MAC, ip)
        self.transmit(BROADCAST, ETHERTYPE_ARP, arp_wire.emit(grat))
