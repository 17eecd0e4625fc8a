"""The stack's routing table and address list, in the spirit of ``ip route`` / ``ip addr``.

::

    stack.routes.add("198.19.0.0/16", via="198.18.0.254")
    stack.routes.lookup("198.19.4.1")   # RouteEntry(198.19.0.0/16 via 198.18.0.254 ...)
    for route in stack.routes: print(route)
    for addr in stack.addresses: print(addr)

Besides the routes a user adds, the table shows routes that follow the stack's own state,
as Linux shows its "kernel" and "ra" routes: a connected route for each address's prefix
(``proto kernel``), IPv6's link-local ``fe80::/64`` and the on-link prefixes of Router
Advertisements, the IPv4 default route of ``gateway=`` (``proto boot``), and an IPv6 default
route through the default router that router discovery chooses (``proto ra``: RFC 4861
§6.3.6 picks among the routers the advertisements gave, preferring one known reachable).
These change as the addresses, gateway and advertisements change; ``delete`` removes only
a route that was added.

`RoutingTable.lookup` is the longest-prefix match (RFC 1812 §5.2.4.3, the host's share of
it), then the lowest metric; the IP layers ask it for the next hop of every destination
that is not broadcast or multicast.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# Linux's metrics, so that a printed table reads like ``ip route``'s: IPv4 routes 0,
# IPv6 connected and static routes 256, routes from Router Advertisements 1024.
METRIC_V6 = 256
METRIC_RA = 1024
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")


class RouteEntry(NamedTuple):
    """One route: destinations in ``network`` go to ``via`` (None: on-link) on ``dev``."""

    network: Network
    via: str | None = None
    dev: str | None = None
    metric: int = 0
    proto: str = "static"

    @property
    def family(self) -> int:
        return socket.AF_INET6 if self.network.version == 6 else socket.AF_INET

    def __str__(self) -> str:
        dst = "default" if self.network.prefixlen == 0 else str(self.network)
        parts = [dst]
        if self.via:
            parts += ["via", self.via]
        if self.dev:
            parts += ["dev", self.dev]
        parts += ["proto", self.proto, "metric", str(self.metric)]
        return " ".join(parts)


class AddressEntry(NamedTuple):
    """One address of the stack: ``interface`` is the address with its prefix."""

    interface: Interface
    dev: str | None = None
    state: str = "assigned"
    """"assigned", "tentative" (duplicate address detection running) or "deprecated"."""

    @property
    def family(self) -> int:
        return socket.AF_INET6 if self.interface.version == 6 else socket.AF_INET

    @property
    def address(self) -> str:
        return str(self.interface.ip)

    def __str__(self) -> str:
        kind = "inet6" if self.interface.version == 6 else "inet"
        text = f"{kind} {self.interface} dev {self.dev or '-'}"
        return text if self.state == "assigned" else f"{text} {self.state}"


class RoutingTable:
    """The routes of one stack, both families (see the module's documentation).

    ``derived`` returns the routes that follow the stack's state (connected, gateway,
    Router Advertisement); ``dev`` names the stack's link in the routes added without one.
    """

    def __init__(self, derived: Callable[[], list[RouteEntry]], dev: str | None = None,
                 state: Callable[[], Any] | None = None) -> None:  # fmt: skip
        self._derived_of = derived
        self._state = state
        """What the derived routes depend on: they and the lookups are cached while it is
        unchanged (None: computed again every time)."""
        self._static: list[RouteEntry] = []
        self.dev = dev
        self.version = 0
        """Bumped by every change a user makes; the IP layers' caches key on it."""
        self.interfaces: dict[str, Any] = {}
        """The stack's links by name (the stack itself for its first one): what has ``ip``
        and ``ipv6`` layers."""
        self._key: Any = None
        self._derived_cache: list[RouteEntry] = []
        self._lookups: dict[str, RouteEntry | None] = {}

    def _derived(self) -> list[RouteEntry]:
        """The routes of the stack's state, and the lookup cache reset when it changed."""
        if self._state is None:
            self._lookups.clear()
            return self._derived_of()
        key = (self.version, self._state())
        if key != self._key:
            self._key = key
            self._derived_cache = self._derived_of()
            self._lookups.clear()
        return self._derived_cache

    def add(self, prefix: str, via: str | None = None, dev: str | None = None,
            metric: int | None = None) -> RouteEntry:  # fmt: skip
        """Add a route to ``prefix`` (``"198.19.0.0/16"``, ``"2001:db8:1::/48"``,
        ``"default"`` / ``"default6"``) through the gateway ``via``, or on-link without one.
        ``dev`` names one of the stack's links (default: its first); ``metric`` defaults
        to 0 (IPv4) or 256 (IPv6). Raises ValueError for a malformed prefix, a gateway of
        the other family, another device, or a route that is already there (same prefix
        and metric, as ``ip route add``)."""
        network = _network(prefix, via)
        if dev is not None and dev != self.dev and dev not in self.interfaces:
            raise ValueError(f"no link named {dev!r} in this stack")
        if via is not None and ipaddress.ip_address(via).version != network.version:
            raise ValueError(f"gateway {via!r} is not of the family of {prefix!r}")
        if metric is None:
            metric = METRIC_V6 if network.version == 6 else 0
        if metric < 0:
            raise ValueError("metric must be at least 0")
        entry = RouteEntry(network, _normal(via), dev or self.dev, metric, "static")
        if any(r.network == network and r.metric == metric for r in self._static):
            raise ValueError(f"a route to {network} with metric {metric} exists")
        self._static.append(entry)
        self.version += 1
        return entry

    def delete(self, prefix: str, via: str | None = None, metric: int | None = None) -> None:
        """Delete the added route to ``prefix`` (and ``via`` / ``metric`` if given);
        raises LookupError when there is none (routes of the stack's own state stay)."""
        network = _network(prefix, via)
        for entry in self._static:
            if entry.network == network and via in (None, entry.via) and metric in (
                None, entry.metric
            ):  # fmt: skip
                self._static.remove(entry)
                self.version += 1
                return
        raise LookupError(f"no route to {network} was added")

    def __iter__(self) -> Iterator[RouteEntry]:
        """Every route, IPv4 first, longest prefix first (as ``ip route`` lists them)."""
        routes = [*self._static, *self._derived()]
        return iter(sorted(routes, key=_order))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def lookup(self, dst: str) -> RouteEntry | None:
        """The route for ``dst``: longest prefix, then lowest metric, an added route before
        one of the stack's own on a tie; None when no route covers ``dst``."""
        derived = self._derived()
        try:
            return self._lookups[dst]
        except KeyError:
            pass
        ip = ipaddress.ip_address(dst)
        best: RouteEntry | None = None
        for entry in [*self._static, *derived]:
            if entry.network.version != ip.version or ip not in entry.network:
                continue
            if best is None or (entry.network.prefixlen, -entry.metric) > (
                best.network.prefixlen, -best.metric
            ):  # fmt: skip
                best = entry
        if len(self._lookups) >= 4096:
            self._lookups.clear()
        self._lookups[dst] = best
        return best

    def layer_for(self, dst: str, kind: str, ctx: Any) -> Any:
        """The ``kind`` ("ip" or "ipv6") layer of the link the route to ``dst`` names, when
        that is another link than the one of ``ctx``; else None (one link: always)."""
        if len(self.interfaces) < 2:
            return None
        entry = self.lookup(dst)
        iface = self.interfaces.get(entry.dev or "") if entry is not None else None
        layer = getattr(iface, kind, None)
        return None if layer is None or layer.ctx is ctx else layer

    def is_local(self, address: str) -> bool:
        """Whether ``address`` is one of any link's (several links only)."""
        if len(self.interfaces) < 2:
            return False
        return any(
            i.ip.address == address or i.ipv6.is_ours(address) for i in self.interfaces.values()
        )

    def next_hop(self, dst: str) -> str | None:
        """Where a datagram to ``dst`` goes on the link: ``dst`` itself on an on-link
        route, else the route's gateway; None: no route. The gateway is taken to be a
        neighbour on the link (RFC 1122 §3.3.1.1's first-hop gateway), even outside the
        prefixes of our addresses, as Linux's ``onlink`` routes."""
        entry = self.lookup(dst)
        if entry is None:
            return None
        return dst if entry.via is None else entry.via


def _network(prefix: str, via: str | None) -> Network:
    if prefix in ("default", "default6"):
        v6 = prefix == "default6" or (via is not None and ":" in via)
        return ipaddress.ip_network("::/0" if v6 else "0.0.0.0/0")
    return ipaddress.ip_network(prefix, strict=True)


def _normal(address: str | None) -> str | None:
    return None if address is None else str(ipaddress.ip_address(address))


def _order(entry: RouteEntry) -> tuple[Any, ...]:
    net = entry.network
    return (net.version, -net.prefixlen, int(net.network_address), entry.metric)


def derived_routes(stack: Any) -> list[RouteEntry]:
    """The routes that follow ``stack``'s addresses, gateway and advertisements."""
    ctx = stack.ethernet._context()
    dev = link_name(stack)
    out: list[RouteEntry] = []
    if ctx.loopback is not None:  # RFC 1122 §3.2.1.3 (g), RFC 4291 §2.5.3
        out.append(RouteEntry(ipaddress.IPv4Network("127.0.0.0/8"), None, "lo", 0, "kernel"))
        out.append(RouteEntry(ipaddress.IPv6Network("::1/128"), None, "lo", METRIC_V6, "kernel"))
    if ctx.ip:
        net = ipaddress.IPv4Interface(f"{ctx.ip}/{ctx.prefix}").network
        out.append(RouteEntry(net, None, dev, 0, "kernel"))
    if ctx.gateway:
        out.append(RouteEntry(ipaddress.IPv4Network("0.0.0.0/0"), ctx.gateway, dev, 0, "boot"))
    ip6 = stack.ipv6
    # RFC 4861 §5.2: fe80::/64 and the prefixes of our addresses and of the Prefix List
    # are on-link; anything else goes to a default router.
    nets = {ipaddress.IPv6Network("fe80::/64"), *(a.network for a in ip6.addresses)}
    out += [RouteEntry(n, None, dev, METRIC_V6, "kernel") for n in nets]
    out += [RouteEntry(n, None, dev, METRIC_V6, "ra") for n in ip6.routers.prefixes]
    router = ip6.routers.default_router()
    if router is not None:
        out.append(RouteEntry(ipaddress.IPv6Network("::/0"), router, dev, METRIC_RA, "ra"))
    for iface in stack.interfaces:
        out += _link_routes(iface)
    return out


def _link_routes(iface: Any) -> list[RouteEntry]:
    """The connected routes of a link added by ``add_link`` (its link-local prefix is
    the first link's: link-local destinations go there)."""
    ctx = iface.ethernet._context()
    out: list[RouteEntry] = []
    if ctx.ip:
        net = ipaddress.IPv4Interface(f"{ctx.ip}/{ctx.prefix}").network
        out.append(RouteEntry(net, None, iface.name, 0, "kernel"))
    nets = {a.network for a in iface.ipv6.addresses if a.ip not in _LINK_LOCAL}
    out += [RouteEntry(n, None, iface.name, METRIC_V6, "kernel") for n in nets]
    return out


def routing_state(stack: Any) -> tuple[Any, ...]:
    """What `derived_routes` reads: equal values give equal routes."""
    ctx = stack.ethernet._context()
    ip6 = stack.ipv6
    routers = ip6.routers
    links = tuple((i.ip.address, tuple(i.ipv6.addresses)) for i in stack.interfaces)
    return (ctx.ip, ctx.prefix, ctx.gateway, ctx.loopback is not None, tuple(ip6.addresses),
            tuple(routers.prefixes), routers.default_router(), links)  # fmt: skip


def stack_addresses(stack: Any) -> list[AddressEntry]:
    """``stack``'s addresses: the loopback's first (as ``ip addr`` lists ``lo``), then the
    link's, IPv4 then IPv6 (assigned, deprecated, then tentative)."""
    ctx = stack.ethernet._context()
    dev = link_name(stack)
    out: list[AddressEntry] = []
    if ctx.loopback is not None:
        out.append(AddressEntry(ipaddress.IPv4Interface("127.0.0.1/8"), "lo"))
        out.append(AddressEntry(ipaddress.IPv6Interface("::1/128"), "lo"))
    if ctx.ip:
        out.append(AddressEntry(ipaddress.IPv4Interface(f"{ctx.ip}/{ctx.prefix}"), dev))
    ip6 = stack.ipv6
    deprecated = ip6.addresses_deprecated()
    for iface in ip6.addresses:
        state = "deprecated" if str(iface.ip) in deprecated else "assigned"
        out.append(AddressEntry(iface, dev, state))
    out += [AddressEntry(i, dev, "tentative") for i in ip6.autoconf.tentative.values()]
    for iface in stack.interfaces:
        ctx = iface.ethernet._context()
        if ctx.ip:
            out.append(AddressEntry(ipaddress.IPv4Interface(f"{ctx.ip}/{ctx.prefix}"), iface.name))
        out += [AddressEntry(a, iface.name) for a in iface.ipv6.addresses]
        tentative = iface.ipv6.autoconf.tentative.values()
        out += [AddressEntry(a, iface.name, "tentative") for a in tentative]
    return out


def link_name(stack: Any) -> str:
    """The name of the stack's link: its device's, else ``link0`` (a simulated wire)."""
    return str(stack.ethernet._context().interface or "link0")


__all__ = [
    "AddressEntry",
    "RouteEntry",
    "RoutingTable",
    "derived_routes",
    "routing_state",
    "stack_addresses",
]
