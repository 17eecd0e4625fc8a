"""Router discovery (RFC 4861 §6.3) and address autoconfiguration (RFC 4862) for a host.

:class:`RouterDiscovery` sends Router Solicitations when the interface starts, and
processes the Router Advertisements the ICMPv6 layer validated: the Default Router List,
the Prefix List (on-link prefixes), the link MTU, the hop limit and the Neighbor Cache's
timers. :class:`AddressConfig` runs Duplicate Address Detection on every new unicast
address before the IPv6 layer uses it, and forms addresses from the prefixes an RA marks
autonomous (SLAAC), with their valid and preferred lifetimes.

Both talk to :class:`~pystack.layers.ipv6.IPv6Protocol` (``ip6``): its clock, its rng, its
Neighbor Cache, and the calls that assign or remove an address and send the messages.
Every timer goes through that clock, so tests run on a simulated one.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pystack.fsm import StateMachine, bind_states, load_spec
from pystack.wire import ndp as nd

if TYPE_CHECKING:
    from pystack.layers.ipv6 import IPv6Protocol

__all__ = [
    "AddressConfig",
    "AddressState",
    "Ipv6Address",
    "RouterDiscovery",
    "SlaacAddress",
    "interface_identifier",
]

log = logging.getLogger("pystack.ipv6")

# RFC 4861 §10, host constants.
MAX_RTR_SOLICITATION_DELAY: Final = 1.0
RTR_SOLICITATION_INTERVAL: Final = 4.0
MAX_RTR_SOLICITATIONS: Final = 3
# RFC 4862 §5.1: DupAddrDetectTransmits defaults to 1.
DUP_ADDR_DETECT_TRANSMITS: Final = 1
INFINITY: Final = 0xFFFFFFFF  # RFC 4861 §4.6.2: all ones is an infinite lifetime
TWO_HOURS: Final = 2 * 3600  # RFC 4862 §5.5.3 (e)
MIN_LINK_MTU: Final = 1280  # RFC 8200 §5
LINK_LOCAL: Final = ipaddress.IPv6Network("fe80::/10")


def interface_identifier(mac: str) -> bytes:
    """The modified EUI-64 interface identifier of an Ethernet MAC (RFC 4291 Appendix A)."""
    octets = bytes.fromhex(mac.replace(":", ""))
    return bytes((octets[0] ^ 0x02,)) + octets[1:3] + b"\xff\xfe" + octets[3:6]


class _Timers:
    """Named one-shot timers on a clock: arming a name again replaces its timer."""

    def __init__(self, clock: Callable[[], Any]) -> None:
        self._clock = clock
        self._calls: dict[Any, Any] = {}

    def arm(self, key: Any, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        self.cancel(key)
        self._calls[key] = self._clock().callLater(delay, self._fire, key, fn, *args)

    def _fire(self, key: Any, fn: Callable[..., Any], *args: Any) -> None:
        self._calls.pop(key, None)
        fn(*args)

    def cancel(self, key: Any) -> None:
        call = self._calls.pop(key, None)
        if call is not None and call.active():
            call.cancel()

    def cancel_all(self) -> None:
        for key in list(self._calls):
            self.cancel(key)


# --- router discovery (RFC 4861 §6.3) ------------------------------------------------------


class RouterDiscovery:
    """The host side of router discovery: solicitations, the Default Router List and the
    Prefix List (RFC 4861 §5.1, §6.3.4, §6.3.7)."""

    def __init__(self, ip6: IPv6Protocol, *, solicitations: int = MAX_RTR_SOLICITATIONS,
                 accept_ra: bool = True) -> None:  # fmt: skip
        if solicitations < 0:
            raise ValueError("router_solicitations must be at least 0")
        self.ip6 = ip6
        self.max_solicitations = solicitations
        self.accept_ra = accept_ra
        self.default_routers: dict[str, float | None] = {}
        """Router address -> the clock time its lifetime ends (RFC 4861 §6.3.4)."""
        self.prefixes: dict[ipaddress.IPv6Network, float | None] = {}
        """On-link prefix -> the clock time its valid lifetime ends (None: infinite)."""
        self.solicitations_sent = 0
        self._advertised = False
        self._timers = _Timers(lambda: ip6.clock)

    # -- Router Solicitations (§6.3.7) --------------------------------------------------

    def start(self) -> None:
        """The interface came up: solicit after a random delay (§6.3.7: 0 to
        MAX_RTR_SOLICITATION_DELAY, so hosts starting together do not collide)."""
        if self.max_solicitations and self.accept_ra:
            delay = self.ip6.rng.uniform(0, MAX_RTR_SOLICITATION_DELAY)
            self._timers.arm("rs", delay, self._solicit)

    def _solicit(self) -> None:
        if self._advertised or self.solicitations_sent >= self.max_solicitations:
            return  # §6.3.7: stop once a valid RA arrived, or after MAX_RTR_SOLICITATIONS
        self.solicitations_sent += 1
        self.ip6.stats.incr(self.ip6.name, "router_solicitations_sent")
        # §6.3.7: from a link-local address once one is assigned, else from ::.
        self.ip6.send_router_solicitation(self.ip6.link_local or "::")
        if self.solicitations_sent < self.max_solicitations:
            self._timers.arm("rs", RTR_SOLICITATION_INTERVAL, self._solicit)

    # -- Router Advertisements (§6.3.4) -------------------------------------------------

    def rcv_ra(self, ra: nd.RouterAdvertisement, src: str) -> None:
        """A Router Advertisement that passed the checks of §6.1.2."""
        self._advertised = True
        self._timers.cancel("rs")
        self.ip6.stats.incr(self.ip6.name, "router_advertisements_received")
        self._update_router(src, ra.router_lifetime)
        self._update_parameters(ra)
        slla = next((o.mac for o in ra.options if type(o) is nd.SourceLinkAddress), None)
        self.ip6.neighbors.rcv_ra(src, slla)
        for option in ra.options:
            if type(option) is nd.Mtu:
                self._update_mtu(option.mtu)
            elif type(option) is nd.PrefixInformation:
                self._update_prefix(option)
                self.ip6.autoconf.rcv_prefix(option)

    def _update_router(self, src: str, lifetime: int) -> None:
        """§6.3.4: a lifetime of 0 removes the router; any other sets its expiry."""
        if lifetime == 0:
            self.remove_router(src)
            return
        if src not in self.default_routers:
            self.ip6.stats.incr(self.ip6.name, "default_routers_added")
        self.default_routers[src] = self.ip6.clock.seconds() + lifetime
        self._timers.arm(("router", src), lifetime, self.remove_router, src)

    def remove_router(self, address: str) -> None:
        """Forget a default router: its lifetime ended, or it said it is no router
        (§7.2.5)."""
        if self.default_routers.pop(address, "absent") != "absent":
            self._timers.cancel(("router", address))
            self.ip6.stats.incr(self.ip6.name, "default_routers_removed")

    def _update_parameters(self, ra: nd.RouterAdvertisement) -> None:
        """§6.3.4: non-zero Cur Hop Limit, Reachable Time and Retrans Timer replace ours."""
        if ra.cur_hop_limit:
            self.ip6.hop_limit = ra.cur_hop_limit
        cache = self.ip6.neighbors
        if ra.reachable_time and ra.reachable_time / 1000 != cache.base_reachable_time:
            cache.base_reachable_time = ra.reachable_time / 1000  # re-draws ReachableTime
        if ra.retrans_timer:
            cache.retrans_timer = ra.retrans_timer / 1000

    def _update_mtu(self, mtu: int) -> None:
        """§6.3.4: take the MTU if it is at least the IPv6 minimum and fits the link."""
        if MIN_LINK_MTU <= mtu <= self.ip6.max_link_mtu:
            self.ip6.link_mtu = mtu
        else:
            self.ip6.stats.incr(self.ip6.name, "ra_mtu_ignored")

    def _update_prefix(self, pio: nd.PrefixInformation) -> None:
        """§6.3.4: the Prefix List from options with the on-link (L) flag."""
        network = _network(pio)
        if not pio.on_link or network is None or network.network_address in LINK_LOCAL:
            return  # link-local is always on-link (§5.2); the option is silently ignored
        if pio.valid_lifetime == 0:
            self._expire_prefix(network)
            return
        if network not in self.prefixes:
            self.ip6.stats.incr(self.ip6.name, "prefixes_added")
        if pio.valid_lifetime == INFINITY:
            self.prefixes[network] = None
            self._timers.cancel(("prefix", network))
            return
        self.prefixes[network] = self.ip6.clock.seconds() + pio.valid_lifetime
        self._timers.arm(("prefix", network), pio.valid_lifetime, self._expire_prefix, network)

    def _expire_prefix(self, network: ipaddress.IPv6Network) -> None:
        if self.prefixes.pop(network, "absent") != "absent":
            self._timers.cancel(("prefix", network))
            self.ip6.stats.incr(self.ip6.name, "prefixes_removed")

    # -- next hops (§5.2, §6.3.6) -------------------------------------------------------

    def on_link(self, ip: ipaddress.IPv6Address) -> bool:
        """Whether ``ip`` is in an on-link prefix of the Prefix List."""
        return any(ip in network for network in self.prefixes)

    def default_router(self) -> str | None:
        """§6.3.6: a router known reachable or probably so (not INCOMPLETE) is preferred
        over one whose reachability is unknown; else the first one."""
        routers = list(self.default_routers)
        for router in routers:
            if self.ip6.neighbors.state_of(router) not in (None, "INCOMPLETE"):
                return router
        return routers[0] if routers else None

    def stop(self) -> None:
        self._timers.cancel_all()


def _network(pio: nd.PrefixInformation) -> ipaddress.IPv6Network | None:
    try:
        return ipaddress.IPv6Network(f"{pio.prefix}/{pio.prefix_length}", strict=False)
    except ValueError:
        return None  # a prefix length above 128


# --- addresses: DAD (RFC 4862 §5.4) and SLAAC (§5.5) ---------------------------------------


@dataclass
class SlaacAddress:
    """An address formed from an RA's prefix, with its lifetimes' end times (None:
    infinite)."""

    interface: ipaddress.IPv6Interface
    valid_until: float | None
    preferred_until: float | None


class AddressState:
    """The states of ``machines/ipv6_address.toml`` (checked against it at import)."""

    NEW: Final = "NEW"
    TENTATIVE: Final = "TENTATIVE"
    PREFERRED: Final = "PREFERRED"
    DEPRECATED: Final = "DEPRECATED"
    DUPLICATE: Final = "DUPLICATE"
    INVALID: Final = "INVALID"


bind_states(load_spec("ipv6_address"), AddressState)


class Ipv6Address(StateMachine, machine="ipv6_address"):
    """One unicast address of the interface and its one timer (DAD probes)."""

    def __init__(self, config: AddressConfig, interface: ipaddress.IPv6Interface) -> None:
        self.config = config
        self.interface = interface
        self.address = str(interface.ip)
        self.probes_sent = 0
        self.preferred_over = False
        self.timer: Any = None

    @property
    def ip6(self) -> IPv6Protocol:
        return self.config.ip6

    def _arm(self, delay: float) -> None:
        self.stop_timer()
        self.timer = self.ip6.clock.callLater(delay, self.fire, "dad_timeout")

    # -- conditions ---------------------------------------------------------------------

    def dad_disabled(self, **kw: Any) -> bool:
        return self.config.dad_transmits == 0

    def probes_left(self, **kw: Any) -> bool:
        return self.probes_sent < self.config.dad_transmits

    def past_preferred(self, **kw: Any) -> bool:
        return self.preferred_over

    # -- hooks named in machines/ipv6_address.toml ----------------------------------------

    def join_solicited_node(self, **kw: Any) -> None:
        self.ip6.join_solicited_node(self.address)

    def start_probe_delay(self, **kw: Any) -> None:
        self._arm(self.ip6.rng.uniform(0, MAX_RTR_SOLICITATION_DELAY))

    def send_dad_ns(self, **kw: Any) -> None:
        self.probes_sent += 1
        self.ip6.stats.incr(self.ip6.name, "dad_solicitations_sent")
        self.ip6.send_dad_solicitation(self.address)

    def start_retrans_timer(self, **kw: Any) -> None:
        self._arm(self.ip6.neighbors.retrans_timer)

    def stop_timer(self, **kw: Any) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def note_deprecated(self, **kw: Any) -> None:
        self.preferred_over = True

    def note_preferred(self, **kw: Any) -> None:
        self.preferred_over = False

    def assign(self, **kw: Any) -> None:
        if self.probes_sent:
            self.ip6.stats.incr(self.ip6.name, "dad_passed")
        self.ip6.assign_address(self.interface)
        self.ip6.set_deprecated(self.address, False)

    def deprecate(self, **kw: Any) -> None:
        self.ip6.stats.incr(self.ip6.name, "addresses_deprecated")
        self.ip6.assign_address(self.interface)
        self.ip6.set_deprecated(self.address, True)

    def report_duplicate(self, why: str = "", **kw: Any) -> None:
        self.config.duplicates.append(self.interface)
        self.config.entries.pop(self.address, None)
        self.ip6.stats.incr(self.ip6.name, "dad_duplicates")
        log.warning("IPv6 address %s is a duplicate (%s): not used", self.address, why)

    def remove(self, **kw: Any) -> None:
        self.stop_timer()
        self.config.entries.pop(self.address, None)
        self.ip6.stats.incr(self.ip6.name, "addresses_expired")
        self.ip6.remove_address(self.address)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        super().on_state_change(old, trigger, new)
        if self.ip6.ctx is not None:
            self.ip6.ctx.notify(self, old, trigger, new)

    def __repr__(self) -> str:
        return f"Ipv6Address({self.address} {self.state})"


class AddressConfig:
    """Duplicate Address Detection for every new address, and stateless autoconfiguration
    from autonomous prefixes (RFC 4862)."""

    def __init__(self, ip6: IPv6Protocol, *, dad_transmits: int = DUP_ADDR_DETECT_TRANSMITS,
                 slaac: bool = True) -> None:  # fmt: skip
        if dad_transmits < 0:
            raise ValueError("dad_transmits must be at least 0")
        self.ip6 = ip6
        self.dad_transmits = dad_transmits
        self.slaac = slaac
        self.entries: dict[str, Ipv6Address] = {}
        """Every address of the interface but the duplicates, each with its machine."""
        self.duplicates: list[ipaddress.IPv6Interface] = []
        """Addresses DAD found in use by another node; never used (§5.4.5)."""
        self.autoconfigured: dict[ipaddress.IPv6Network, SlaacAddress] = {}
        self._timers = _Timers(lambda: ip6.clock)

    # -- Duplicate Address Detection (§5.4) ----------------------------------------------

    @property
    def tentative(self) -> dict[str, ipaddress.IPv6Interface]:
        """Addresses under DAD: not used, not receiving unicast (§5.4)."""
        return {
            a: e.interface for a, e in self.entries.items() if e.state == AddressState.TENTATIVE
        }

    def start_dad(self, iface: ipaddress.IPv6Interface) -> None:
        """Make ``iface`` tentative and probe for it; assigned when no one answers
        (at once with ``dad_transmits=0``)."""
        entry = Ipv6Address(self, iface)
        self.entries[entry.address] = entry
        entry.fire("start")

    def is_tentative(self, address: str) -> bool:
        entry = self.entries.get(address)
        return entry is not None and entry.state == AddressState.TENTATIVE

    def state_of(self, address: str) -> str | None:
        """The state of ``address`` (an :class:`AddressState` name), None if unknown."""
        entry = self.entries.get(address)
        if entry is not None:
            return entry.state
        dup = any(str(i.ip) == address for i in self.duplicates)
        return AddressState.DUPLICATE if dup else None

    def duplicate(self, address: str, why: str) -> None:
        """§5.4.3, §5.4.4: another node uses (or is trying) ``address``: it is not
        assigned, and the condition is logged (§5.4.5)."""
        entry = self.entries.get(address)
        if entry is None or not entry.fire("rcv_conflict", why=why):
            return
        for network, slaac in list(self.autoconfigured.items()):
            if slaac.interface == entry.interface:
                self._forget_slaac(network)

    # -- stateless autoconfiguration (§5.5.3) ---------------------------------------------

    def rcv_prefix(self, pio: nd.PrefixInformation) -> None:
        """A Prefix Information option of a valid RA."""
        network = _network(pio)
        if not (self.slaac and pio.autonomous) or network is None:
            return  # §5.5.3 (a): only prefixes with the A flag
        if network.network_address in LINK_LOCAL:
            return  # §5.5.3 (b): a link-local prefix is ignored
        if pio.preferred_lifetime > pio.valid_lifetime:
            self.ip6.stats.incr(self.ip6.name, "slaac_prefix_ignored")  # §5.5.3 (c)
            return
        if network in self.autoconfigured:
            self._refresh(network, pio)
        elif pio.valid_lifetime:
            self._form(network, pio)

    def _form(self, network: ipaddress.IPv6Network, pio: nd.PrefixInformation) -> None:
        """§5.5.3 (d): prefix and interface identifier, when their lengths sum to 128."""
        mac = self.ip6.mac
        if network.prefixlen != 64 or not mac:
            # §5.5.3 (d): the interface identifier of Ethernet is 64 bits (RFC 2464 §4).
            self.ip6.stats.incr(self.ip6.name, "slaac_prefix_ignored")
            log.info("prefix %s: length is not 64, no address formed", network)
            return
        raw = network.network_address.packed[:8] + interface_identifier(mac)
        iface = ipaddress.IPv6Interface(f"{ipaddress.IPv6Address(raw)}/64")
        if iface in self.duplicates or self.ip6.has_address(str(iface.ip)):
            return  # a duplicate stays unused (§5.4.5); a configured one is already there
        now = self.ip6.clock.seconds()
        self.autoconfigured[network] = SlaacAddress(
            iface, _until(now, pio.valid_lifetime), _until(now, pio.preferred_lifetime)
        )
        self.ip6.stats.incr(self.ip6.name, "slaac_addresses_formed")
        self.start_dad(iface)
        if network in self.autoconfigured:  # not found a duplicate at once
            self._arm_lifetimes(network)

    def _refresh(self, network: ipaddress.IPv6Network, pio: nd.PrefixInformation) -> None:
        """§5.5.3 (e): the preferred lifetime is reset; the valid lifetime follows the
        two-hour rule, so a forged RA cannot make an address expire soon."""
        slaac = self.autoconfigured[network]
        now = self.ip6.clock.seconds()
        received = pio.valid_lifetime
        remaining = INFINITY if slaac.valid_until is None else slaac.valid_until - now
        if received == INFINITY or received > TWO_HOURS or received > remaining:
            slaac.valid_until = _until(now, received)
        elif remaining > TWO_HOURS:
            slaac.valid_until = now + TWO_HOURS
        # else: RemainingLifetime <= 2 hours, the received valid lifetime is ignored
        slaac.preferred_until = _until(now, pio.preferred_lifetime)
        self._arm_lifetimes(network)

    def _arm_lifetimes(self, network: ipaddress.IPv6Network) -> None:
        slaac = self.autoconfigured[network]
        now = self.ip6.clock.seconds()
        self._timers.cancel(("valid", network))
        self._timers.cancel(("preferred", network))
        address = str(slaac.interface.ip)
        if slaac.valid_until is not None:
            left = max(0.0, slaac.valid_until - now)
            self._timers.arm(("valid", network), left, self._fire, address, "valid_timeout")
        left = None if slaac.preferred_until is None else slaac.preferred_until - now
        if left is not None and left <= 0:
            self._fire(address, "preferred_timeout")
            return
        self._fire(address, "preferred_renewed")
        if left is not None:
            self._timers.arm(("preferred", network), left, self._fire, address,
                             "preferred_timeout")  # fmt: skip

    def _fire(self, address: str, trigger: str) -> None:
        """§5.5.4: the lifetimes drive the address's machine (deprecated, then removed)."""
        entry = self.entries.get(address)
        if entry is not None:
            entry.fire(trigger)
        if trigger == "valid_timeout":
            for network, slaac in list(self.autoconfigured.items()):
                if str(slaac.interface.ip) == address:
                    self._forget_slaac(network)

    def _forget_slaac(self, network: ipaddress.IPv6Network) -> SlaacAddress | None:
        self._timers.cancel(("valid", network))
        self._timers.cancel(("preferred", network))
        return self.autoconfigured.pop(network, None)

    def stop(self) -> None:
        self._timers.cancel_all()
        for entry in self.entries.values():
            entry.stop_timer()


def _until(now: float, lifetime: int) -> float | None:
    return None if lifetime == INFINITY else now + lifetime
