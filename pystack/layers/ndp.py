"""The IPv6 Neighbor Cache (RFC 4861 §7.3) with one machine per entry (machines/ndp.toml).

:class:`NeighborCache` holds no wire format: it talks to the IPv6 layer through the narrow
:class:`NeighborHost` interface (send a solicitation, transmit a packet to a link-layer
address, report an unreachable address, a clock), and the IPv6 layer calls
:meth:`NeighborCache.send` for each packet to an on-link next hop and the ``rcv_*``
methods for each parsed Neighbor Discovery message.

Packets for an unresolved address wait in the entry's queue, at most ``max_pending`` of
them, the oldest dropped first (RFC 4861 §7.2.2). After ``max_multicast_solicit``
unanswered solicitations the queued packets are dropped, each counted, and the host is
told, so it can answer with ICMPv6 Destination Unreachable, code 3 (address unreachable).
The cache holds at most ``max_entries`` entries; a new one evicts a STALE entry first.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from pystack.fsm import StateMachine, bind_groups, bind_states, load_spec
from pystack.stats import Stats

__all__ = [
    "NdpDrop",
    "NdpGroups",
    "NdpState",
    "NeighborCache",
    "NeighborEntry",
    "NeighborHost",
    "solicited_node_multicast",
]

# RFC 4861 §10, protocol constants and host variable defaults.
MAX_MULTICAST_SOLICIT: Final = 3
MAX_UNICAST_SOLICIT: Final = 3
RETRANS_TIMER: Final = 1.0
DELAY_FIRST_PROBE_TIME: Final = 5.0
BASE_REACHABLE_TIME: Final = 30.0
MIN_RANDOM_FACTOR: Final = 0.5
MAX_RANDOM_FACTOR: Final = 1.5
# RFC 4861 §6.3.2: ReachableTime SHOULD be re-drawn at least every few hours.
REACHABLE_TIME_REDRAW: Final = 2 * 3600.0

_SOLICITED_NODE = ipaddress.IPv6Network("ff02::1:ff00:0/104")


class NdpDrop(enum.Enum):
    """Why the Neighbor Cache dropped a message or a packet waiting for resolution."""

    BAD_ADDRESS = "bad_address"
    BAD_LLADDR = "bad_lladdr"
    NO_ENTRY = "no_entry"
    ADDRESS_UNREACHABLE = "address_unreachable"
    PENDING_OVERFLOW = "pending_overflow"
    SUPER_SEGMENT_UNRESOLVED = "super_segment_unresolved"  # TSO before the address is known
    CACHE_FULL = "cache_full"


class NdpState:
    """The states of ``machines/ndp.toml`` (checked against it at import)."""

    NONE: Final = "NONE"
    INCOMPLETE: Final = "INCOMPLETE"
    REACHABLE: Final = "REACHABLE"
    STALE: Final = "STALE"
    DELAY: Final = "DELAY"
    PROBE: Final = "PROBE"
    FAILED: Final = "FAILED"


@dataclass(frozen=True)
class NdpGroups:
    """The ``[groups]`` of ``machines/ndp.toml``."""

    resolved: frozenset[str]
    evict_first: frozenset[str]


_SPEC = load_spec("ndp")
bind_states(_SPEC, NdpState)
NDP_GROUPS: Final = bind_groups(_SPEC, NdpGroups)


class NeighborHost(Protocol):
    """What the Neighbor Cache needs from the IPv6 layer that owns it."""

    @property
    def clock(self) -> Any:
        """An ``IReactorTime`` (``callLater``, ``seconds``)."""
        ...

    def send_solicitation(self, target: str, dst: str, lladdr: str | None) -> None:
        """Send a Neighbor Solicitation for ``target`` to the IPv6 address ``dst``: its
        solicited-node multicast address (``lladdr`` None) or ``target`` itself, unicast
        to the link-layer address ``lladdr``."""
        ...

    def transmit(self, lladdr: str, packet: Any) -> None:
        """Send ``packet`` (as given to :meth:`NeighborCache.send`) to ``lladdr``; a TCP
        super-segment comes with ``gso_size=`` too (only a host that sends them)."""
        ...

    def address_unreachable(self, packet: Any) -> None:
        """Resolution failed for ``packet``'s next hop: the host SHOULD send ICMPv6
        Destination Unreachable, code 3, to its source (RFC 4861 §7.2.2)."""
        ...

    def router_lost(self, address: str) -> None:
        """``address`` stopped being a router: remove it from the Default Router List
        (RFC 4861 §7.2.5)."""
        ...


def solicited_node_multicast(address: str) -> str:
    """The solicited-node multicast address of ``address`` (RFC 4291 §2.7.1)."""
    low24 = int(ipaddress.IPv6Address(address)) & 0xFFFFFF
    return str(ipaddress.IPv6Address(int(_SOLICITED_NODE.network_address) | low24))


class NeighborEntry(StateMachine, machine="ndp"):
    """One neighbour: its state, link-layer address, IsRouter flag, queue and one timer."""

    def __init__(self, cache: NeighborCache, address: str) -> None:
        self.cache = cache
        self.address = address
        self.lladdr: str | None = None
        self.is_router = False
        self.pending: deque[Any] = deque()
        self.solicits = 0
        self.timer: Any = None

    def _set_timer(self, delay: float, trigger: str) -> None:
        self._cancel_timer()
        self.timer = self.cache.clock.callLater(delay, self.fire, trigger)

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    # -- conditions --------------------------------------------------------------------------

    def has_lladdr(self, lladdr: str | None = None, **kw: Any) -> bool:
        return lladdr is not None

    def solicited(self, solicited: bool = False, **kw: Any) -> bool:
        return solicited

    def override(self, override: bool = False, **kw: Any) -> bool:
        return override

    def lladdr_differs(self, lladdr: str | None = None, **kw: Any) -> bool:
        return lladdr is not None and lladdr != self.lladdr

    def multicast_solicits_left(self, **kw: Any) -> bool:
        return self.solicits < self.cache.max_multicast_solicit

    def unicast_solicits_left(self, **kw: Any) -> bool:
        return self.solicits < self.cache.max_unicast_solicit

    # -- hooks named in machines/ndp.toml ----------------------------------------------------

    def reset_solicits(self, **kw: Any) -> None:
        self.solicits = 0

    def send_multicast_ns(self, **kw: Any) -> None:
        """RFC 4861 §7.2.2: resolution solicits the target's solicited-node group."""
        self.solicits += 1
        self.cache.stats.incr(self.cache.name, "solicits_multicast")
        self.cache.host.send_solicitation(
            self.address, solicited_node_multicast(self.address), None
        )

    def send_unicast_ns(self, **kw: Any) -> None:
        """RFC 4861 §7.3.3: probes go to the cached link-layer address."""
        self.solicits += 1
        self.cache.stats.incr(self.cache.name, "solicits_unicast")
        self.cache.host.send_solicitation(self.address, self.address, self.lladdr)

    def start_retrans_timer(self, **kw: Any) -> None:
        self._set_timer(self.cache.retrans_timer, "retrans_timeout")

    def start_delay_timer(self, **kw: Any) -> None:
        self._set_timer(self.cache.delay_first_probe_time, "delay_timeout")

    def start_reachable_timer(self, **kw: Any) -> None:
        self._set_timer(self.cache.reachable_time, "reachable_timeout")

    def stop_timer(self, **kw: Any) -> None:
        self._cancel_timer()

    def store_lladdr(self, lladdr: str | None = None, **kw: Any) -> None:
        if lladdr is not None:
            self.lladdr = lladdr

    def update_is_router(self, is_router: bool | None = None, **kw: Any) -> None:
        """Appendix D: only a message that says something changes IsRouter."""
        if is_router is None:
            return
        was_router, self.is_router = self.is_router, is_router
        if was_router and not is_router:
            # RFC 4861 §7.2.5: MUST remove it from the Default Router List.
            self.cache.stats.incr(self.cache.name, "routers_lost")
            self.cache.host.router_lost(self.address)

    def flush_pending(self, **kw: Any) -> None:
        """Send every queued packet, once, in arrival order."""
        while self.pending:
            packet = self.pending.popleft()
            self.cache.stats.incr(self.cache.name, "pending_sent")
            self.cache.host.transmit(self.lladdr or "", packet)

    def drop_pending(self, **kw: Any) -> None:
        """Drop the queued packets, count each, and tell the host about each."""
        self.cache.stats.incr(self.cache.name, "resolutions_failed")
        while self.pending:
            packet = self.pending.popleft()
            self.cache.stats.drop(self.cache.name, NdpDrop.ADDRESS_UNREACHABLE)
            self.cache.host.address_unreachable(packet)

    def forget(self, **kw: Any) -> None:
        self._cancel_timer()
        self.cache.remove(self)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        super().on_state_change(old, trigger, new)
        if self.cache.observer is not None:
            self.cache.observer(self, old, trigger, new)

    def __repr__(self) -> str:
        return f"NeighborEntry({self.address} {self.state} {self.lladdr})"


class NeighborCache:
    """The Neighbor Cache of one interface: address resolution and NUD (RFC 4861 §7)."""

    name = "NDP"
    entry_class = NeighborEntry

    def __init__(
        self,
        host: NeighborHost,
        *,
        stats: Stats | None = None,
        max_entries: int = 256,
        max_pending: int = 16,
        retrans_timer: float = RETRANS_TIMER,
        max_multicast_solicit: int = MAX_MULTICAST_SOLICIT,
        max_unicast_solicit: int = MAX_UNICAST_SOLICIT,
        delay_first_probe_time: float = DELAY_FIRST_PROBE_TIME,
        base_reachable_time: float = BASE_REACHABLE_TIME,
        rng: random.Random | None = None,
        observer: Callable[[NeighborEntry, str, str, str], None] | None = None,
    ) -> None:
        if min(max_entries, max_pending, max_multicast_solicit, max_unicast_solicit) < 1:
            raise ValueError(
                "max_entries, max_pending and the solicitation counts must be at least 1"
            )
        if min(retrans_timer, delay_first_probe_time, base_reachable_time) <= 0:
            raise ValueError("the timers must be positive")
        self.host = host
        self.stats = stats if stats is not None else Stats()
        self.max_entries = max_entries
        self.max_pending = max_pending
        self.retrans_timer = retrans_timer
        self.max_multicast_solicit = max_multicast_solicit
        self.max_unicast_solicit = max_unicast_solicit
        self.delay_first_probe_time = delay_first_probe_time
        self.rng = rng if rng is not None else random.Random()
        # Called as observer(entry, old, trigger, new) after every transition (a stack's
        # StackContext.notify, for the demo and the ladder diagrams).
        self.observer = observer
        self.cache: OrderedDict[str, NeighborEntry] = OrderedDict()
        self._base_reachable_time = base_reachable_time
        self._reachable_time = 0.0
        self._drawn_at: float | None = None

    @property
    def clock(self) -> Any:
        return self.host.clock

    # -- ReachableTime (RFC 4861 §6.3.2) ----------------------------------------------------

    @property
    def base_reachable_time(self) -> float:
        """BaseReachableTime in seconds; setting it (e.g. from an RA) re-draws ReachableTime."""
        return self._base_reachable_time

    @base_reachable_time.setter
    def base_reachable_time(self, seconds: float) -> None:
        if seconds <= 0:
            raise ValueError("base_reachable_time must be positive")
        self._base_reachable_time = seconds
        self._drawn_at = None  # RFC 4861 §6.3.4: a new value means a new random draw

    @property
    def reachable_time(self) -> float:
        """ReachableTime: uniformly random in [MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR] times
        BaseReachableTime, re-drawn when the base changes or every two hours (§6.3.2)."""
        now = self.clock.seconds()
        if self._drawn_at is None or now - self._drawn_at >= REACHABLE_TIME_REDRAW:
            factor = self.rng.uniform(MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR)
            self._reachable_time = factor * self._base_reachable_time
            self._drawn_at = now
        return self._reachable_time

    # -- queries ----------------------------------------------------------------------------

    def lookup(self, address: str) -> str | None:
        """The link-layer address the cache holds for ``address``, or None."""
        entry = self.cache.get(_canonical(address) or "")
        if entry is None or entry.state not in NDP_GROUPS.resolved:
            return None
        return entry.lladdr

    def state_of(self, address: str) -> str | None:
        """The state of ``address``'s entry (an :class:`NdpState` name), None without one."""
        entry = self.cache.get(_canonical(address) or "")
        return entry.state if entry is not None else None

    def __len__(self) -> int:
        return len(self.cache)

    # -- sending ----------------------------------------------------------------------------

    def send(self, address: str, packet: Any, gso_size: int = 0) -> None:
        """Send ``packet`` to the on-link unicast ``address`` now, or queue it until it is
        resolved (RFC 4861 §7.2.2, §7.3.3). Raises ValueError for a non-unicast address.
        A TCP super-segment (``gso_size``) only goes now: unresolved, it is dropped and
        counted, and resolution starts (TCP resends its bytes)."""
        key = _canonical(address)
        if key is None:
            raise ValueError(f"{address!r} is not a unicast IPv6 address")
        entry = self.cache.get(key)
        if entry is None:
            entry = self._create(key)
            assert entry is not None  # a packet to send may evict anything
            self._enqueue(entry, packet, gso_size)
            entry.fire("send_packet")
            return
        self.cache.move_to_end(key)
        if entry.state == NdpState.INCOMPLETE:
            self._enqueue(entry, packet, gso_size)
            return
        # RFC 4861 §7.3.3: NUD runs beside sending; the cached address is used meanwhile.
        self.stats.incr(self.name, "packets_sent")
        if gso_size:
            self.host.transmit(entry.lladdr or "", packet, gso_size=gso_size)  # type: ignore[call-arg]
        else:
            self.host.transmit(entry.lladdr or "", packet)
        entry.fire("send_packet")

    def confirm(self, address: str) -> None:
        """An upper layer saw forward progress to ``address`` (RFC 4861 §7.3.1): a TCP ACK
        for new data, a reply to a UDP request. Ignored without a resolved entry."""
        entry = self.cache.get(_canonical(address) or "")
        if entry is not None:
            entry.fire("confirm")

    def _enqueue(self, entry: NeighborEntry, packet: Any, gso_size: int = 0) -> None:
        if gso_size:
            # A queued packet is sent later as one plain frame, which a super-segment
            # cannot be.
            self.stats.drop(self.name, NdpDrop.SUPER_SEGMENT_UNRESOLVED)
            return
        if len(entry.pending) >= self.max_pending:
            # RFC 4861 §7.2.2: when the queue overflows, the oldest packet goes.
            entry.pending.popleft()
            self.stats.drop(self.name, NdpDrop.PENDING_OVERFLOW)
        entry.pending.append(packet)
        self.stats.incr(self.name, "pending_queued")

    def _create(self, key: str, *, evict_incomplete: bool = True) -> NeighborEntry | None:
        """A new entry for ``key``, evicting to make room; None when the only candidates
        are INCOMPLETE and ``evict_incomplete`` is false."""
        while len(self.cache) >= self.max_entries:
            victim = self._victim()
            if victim.state == NdpState.INCOMPLETE and not evict_incomplete:
                return None
            self.stats.incr(self.name, "entries_evicted")
            if not victim.fire("expire"):
                self.remove(victim)
        entry = self.entry_class(self, key)
        self.cache[key] = entry
        self.stats.incr(self.name, "entries_created")
        return entry

    def _victim(self) -> NeighborEntry:
        """The least recently used STALE entry, else any resolved one, else the oldest."""
        entries = list(self.cache.values())
        for wanted in (NDP_GROUPS.evict_first, NDP_GROUPS.resolved):
            for entry in entries:
                if entry.state in wanted:
                    return entry
        return entries[0]

    def remove(self, entry: NeighborEntry) -> None:
        """Drop ``entry`` from the cache (its FAILED hook calls this)."""
        if self.cache.get(entry.address) is entry:
            del self.cache[entry.address]

    # -- receiving --------------------------------------------------------------------------

    def rcv_na(
        self,
        target: str,
        lladdr: str | None,
        *,
        solicited: bool,
        override: bool,
        is_router: bool,
    ) -> None:
        """A valid Neighbor Advertisement for ``target`` (RFC 4861 §7.2.5); ``lladdr`` is
        its Target Link-Layer Address option, None when absent."""
        key, mac = self._checked(target, lladdr)
        if key is None:
            return
        entry = self.cache.get(key)
        if entry is None:
            # RFC 4861 §7.2.5: no entry, the advertisement SHOULD be silently discarded.
            self.stats.drop(self.name, NdpDrop.NO_ENTRY)
            return
        self.stats.incr(self.name, "advertisements_received")
        entry.fire(
            "rcv_na",
            lladdr=mac,
            solicited=bool(solicited),
            override=bool(override),
            is_router=bool(is_router),
        )

    def rcv_ns(self, source: str, lladdr: str | None) -> None:
        """A Neighbor Solicitation from ``source`` with its Source Link-Layer Address option
        (RFC 4861 §7.2.3); an unspecified source (duplicate address detection) teaches
        nothing."""
        if source == "::":
            # RFC 4861 §7.2.3: only a specified source updates the Neighbor Cache.
            self.stats.incr(self.name, "dad_solicits_received")
            return
        self._rcv_unsolicited(source, lladdr, None)

    def rcv_rs(self, source: str, lladdr: str | None) -> None:
        """A Router Solicitation (RFC 4861 §6.2.6): says nothing of IsRouter."""
        self._rcv_unsolicited(source, lladdr, None)

    def rcv_ra(self, source: str, lladdr: str | None) -> None:
        """A Router Advertisement (RFC 4861 §6.3.4): its sender is a router (Appendix D)."""
        self._rcv_unsolicited(source, lladdr, True)

    def rcv_redirect(self, target: str, lladdr: str | None, *, target_is_router: bool) -> None:
        """A Redirect's target and its Target Link-Layer Address option (RFC 4861 §8.3);
        the target is a router when it differs from the redirected destination."""
        self._rcv_unsolicited(target, lladdr, True if target_is_router else None)

    def _rcv_unsolicited(self, address: str, lladdr: str | None, is_router: bool | None) -> None:
        key, mac = self._checked(address, lladdr)
        if key is None:
            return
        self.stats.incr(self.name, "unsolicited_received")
        entry = self.cache.get(key)
        if entry is None:
            if mac is None:
                return  # RFC 4861 Appendix C: no address, no entry created
            # Unsolicited messages never push out a pending resolution (RFC 6583:
            # cache exhaustion by forged solicitations).
            entry = self._create(key, evict_incomplete=False)
            if entry is None:
                self.stats.drop(self.name, NdpDrop.CACHE_FULL)
                return
        entry.fire("rcv_unsolicited", lladdr=mac, is_router=is_router)

    def _checked(self, address: Any, lladdr: Any) -> tuple[str | None, str | None]:
        """The canonical address and link-layer address, or (None, None) after counting
        the drop: the receive path never raises."""
        key = _canonical(address)
        if key is None:
            self.stats.drop(self.name, NdpDrop.BAD_ADDRESS)
            return None, None
        if lladdr is None:
            return key, None
        mac = _lladdr(lladdr)
        if mac is None:
            self.stats.drop(self.name, NdpDrop.BAD_LLADDR)
            return None, None
        return key, mac


def _canonical(address: Any) -> str | None:
    """``address`` in compressed form if it is a unicast IPv6 address, else None."""
    try:
        ip = ipaddress.IPv6Address(address)
    except (ValueError, TypeError):
        return None
    if ip.is_multicast or ip.is_unspecified:
        return None
    return str(ip)


def _lladdr(value: Any) -> str | None:
    """A link-layer address as lower-case colon-separated octets, or None if malformed."""
    if not isinstance(value, str):
        return None
    octets = value.split(":")
    if not 1 <= len(octets) <= 20:
        return None
    try:
        if any(len(o) != 2 for o in octets):
            return None
        return ":".join(f"{int(o, 16):02x}" for o in octets)
    except ValueError:
        return None
