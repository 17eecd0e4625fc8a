"""PyStack: the layers assembled on a link and a clock (docs/internals.md "Stack assembly").

::

    clock = twisted.internet.task.Clock()
    wire = MemoryWire(clock)
    a = PyStack(link=wire.attach(), ip="198.18.0.1/24", clock=clock)
    b = PyStack(link=wire.attach(), ip="198.18.0.2/24", clock=clock)
    d = a.ping_deferred("198.18.0.2")       # fires with the RTT as the clock advances

The graph is the 2013 PyStack's: Ethernet -> {ARP, IP}; IP -> {ICMP, UDP, TCP}; UDP
applications sit on UDP, TCP applications on a session above TCP.

``PyStack()`` with no argument is the process's default stack, as in the 2013 PyStack:
attached to the default route's interface, sharing the host's address, created on first
use and handed back by every later ``PyStack()`` until it is stopped (see
:func:`default_stack`). Any argument makes a new stack.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

from pystack import errors
from pystack.layers.arp import ARPProtocol
from pystack.layers.ethernet import EthernetProtocol
from pystack.layers.icmp import ICMPProtocol
from pystack.layers.icmpv6 import ICMPv6Protocol
from pystack.layers.ip import IPProtocol
from pystack.layers.ipv6 import IPv6Protocol
from pystack.layers.udp import UDPProtocol
from pystack.links.loopback import LoopbackLink
from pystack.links.pcap import PcapCapture
from pystack.routes import (
    AddressEntry,
    RoutingTable,
    derived_routes,
    link_name,
    routing_state,
    stack_addresses,
)
from pystack.stats import Stats
from pystack.tcp.states import TCP, S
from pystack.wire.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6

log = logging.getLogger(__name__)
STOP_GRACE = 2.0  # seconds stop() lets connections finish before resetting them
STOP_POLL = 0.02  # how often stop() looks at the connections meanwhile
_stack_ids = itertools.count(1)

# Keyword options of PyStack, by the layer that takes them (and that layer's own name).
ARP_OPTIONS = {
    "arp_retries": "retries",
    "arp_retry_interval": "retry_interval",
    "arp_reachable_time": "reachable_time",
    "arp_stale_time": "stale_time",
    "arp_cache_size": "max_entries",
    "arp_max_pending": "max_pending",
}
IP_OPTIONS = {
    "ttl": "ttl",
    "tos": "tos",
    "df": "df",
    "reassembly_timeout": "reassembly_timeout",
    "overlap_policy": "overlap_policy",
    "reassembly_memory": "reassembly_memory",
}
ICMP_OPTIONS = {"echo_server": "echo_server", "icmp_rate_limit": "rate_limit"}
IPV6_OPTIONS = {
    "hop_limit": "hop_limit",
    "ndp_retrans_timer": "retrans_timer",
    "ndp_reachable_time": "base_reachable_time",
    "ndp_cache_size": "max_entries",
    "ndp_max_pending": "max_pending",
    "dad_transmits": "dad_transmits",
    "router_solicitations": "router_solicitations",
    "accept_ra": "accept_ra",
    "slaac": "slaac",
    "mld": "mld",
}


KNOWN_OPTIONS = {*ARP_OPTIONS, *IP_OPTIONS, *ICMP_OPTIONS, *IPV6_OPTIONS, "dns_servers"}


def _pick(options: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names[k]: options.pop(k) for k in list(options) if k in names}


def _check_arguments(
    attaching: bool, ip: str | None, mac: str | None, gateway: str | None,
    mtu: int | None, options: dict[str, Any],
) -> None:  # fmt: skip
    """Raise ValueError / TypeError for a malformed argument, before anything is opened."""
    if ip is not None:
        if attaching:  # a device's stack needs its prefix: it decides what is on-link
            errors.check_cidr(ip)
        else:
            errors.check_cidr(ip if "/" in str(ip) else f"{ip}/32")
    if gateway is not None:
        errors.check_address(gateway)
    if mac is not None:
        errors.check_mac(mac)
    if mtu is not None:
        errors.check_mtu(mtu)
    unknown = set(options) - KNOWN_OPTIONS
    if unknown:
        raise TypeError(f"unknown PyStack options: {', '.join(sorted(unknown))}")


class _DefaultStackType(type):
    """The metaclass that makes ``PyStack()`` (no argument) the default stack."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is PyStack and not args and not kwargs:
            return default_stack()
        return super().__call__(*args, **kwargs)


class PyStack(metaclass=_DefaultStackType):
    """A whole stack on one link.

    ``PyStack()`` with no argument is the process's default stack (:func:`default_stack`);
    any argument makes a new one. Arguments are checked before a device is opened
    (``ValueError``); a missing privilege raises :class:`pystack.errors.PrivilegeError`.
    ``link`` is any :class:`pystack.links.Link` (a ``MemoryWire`` port, a capture, ...);
    ``tap=`` / ``interface=`` open a real device through :func:`pystack.attach.open_link`;
    On a device (a TAP, an interface), offloads are on unless ``offloads=False``: the
    kernel hands the stack TCP super-segments and cuts the stack's own (see
    :mod:`pystack.attach`).
    ``ip`` is ``"a.b.c.d/prefix"``; ``mac`` defaults to the link's own, else a random
    locally administered one drawn from ``rng``; ``clock`` defaults to the global reactor.
    ``pcap=`` a path captures every frame; ``observer(machine, old, trigger, new)`` sees
    every machine transition; ``trace=True`` writes them beside the capture (``a.pcap`` ->
    ``a.trace.jsonl``, JSON lines: see :mod:`pystack.ladder.model`), ``trace="path"``
    elsewhere (stacks given one path share it, as with ``trace=TransitionLog(path)``); ``pystack
    trace a.pcap`` draws both as a ladder. Options: ``arp_retries`` (3),
    ``arp_retry_interval`` (1 s), ``arp_reachable_time`` (30 s), ``arp_stale_time``
    (1200 s), ``arp_cache_size`` (256), ``arp_max_pending`` (64), ``ttl`` (64), ``tos``
    (0), ``df`` (False), ``reassembly_timeout`` (30 s), ``overlap_policy`` ("linux"; see
    :mod:`pystack.layers.ip_reassembly`), ``reassembly_memory`` (1 MiB), ``echo_server``,
    ``icmp_rate_limit`` (an :class:`~pystack.layers.icmp.IcmpRateLimit`; Linux's defaults),
    ``dns_servers`` (the resolver's servers, default /etc/resolv.conf; see :attr:`dns`).
    ``ip6`` adds an IPv6 address (``"2001:db8::2/64"``, or a list of them) beside the
    link-local one every stack derives from its MAC; IPv6 options: ``hop_limit`` (64),
    ``ndp_retrans_timer`` (1 s), ``ndp_reachable_time`` (30 s), ``ndp_cache_size`` (256),
    ``ndp_max_pending`` (16), ``dad_transmits`` (1: every new address is tentative for
    about a second of duplicate address detection; 0 skips it), ``router_solicitations``
    (3, sent at start), ``accept_ra`` (True: default routers, prefixes and parameters
    from Router Advertisements), ``slaac`` (True: addresses from autonomous prefixes; a
    stack sharing the host's address has no DAD, SLAAC or solicitations), ``mld``
    (True: MLDv2 reports of the groups joined, and answers to queries).
    ``personality`` (``"linux"``, ``"windows"``, ``"freebsd"`` or a
    :class:`~pystack.personality.Personality`) makes the stack look like that OS to
    fingerprinting tools (see :mod:`pystack.personality`).
    """

    def __init__(
        self,
        link: Any = None,
        ip: str | None = None,
        mac: str | None = None,
        gateway: str | None = None,
        clock: Any = None,
        rng: random.Random | None = None,
        *,
        mtu: int | None = None,
        tap: str | None = None,
        interface: str | None = None,
        tcp: Any = None,
        pcap: str | None = None,
        observer: Callable[[Any, str, str, str], None] | None = None,
        trace: Any = None,
        offloads: bool | None = None,
        personality: Any = None,
        ip6: str | list[str] | None = None,
        **options: Any,
    ) -> None:
        _check_arguments(link is None, ip, mac, gateway, mtu, options)
        self._ip6 = [errors.check_cidr6(c) for c in ([ip6] if isinstance(ip6, str) else ip6 or [])]
        self.personality: Any = None
        if personality is not None:  # checked before a device opens
            from pystack.personality import resolve, tcp_config

            self.personality = resolve(personality)
            tcp = tcp_config(self.personality, tcp)
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.attachment: Any = None
        self.stack_id = str(next(_stack_ids))
        self._trace = _open_trace(trace, pcap)
        self._stopped: defer.Deferred[None] | None = None
        if link is None:
            attached = self._attach(tap, interface, ip, mac, gateway, mtu, offloads)
            link, ip, mac, gateway, mtu = attached
        elif offloads:
            raise ValueError("offloads=True needs a device (tap= or interface=), not link=")
        try:
            self._assemble(link, ip, mac, gateway, mtu, pcap, observer, tcp, options)
            if self.personality is not None:
                from pystack.personality import apply

                apply(self, self.personality)
        except BaseException:
            if self.attachment is not None:  # a device or kernel rules opened above
                _close_quietly(self.attachment)
            if self._trace is not None and self._trace[1]:
                self._trace[0].release()
            raise

    def _assemble(
        self, link: Any, ip: str | None, mac: str | None, gateway: str | None,
        mtu: int | None, pcap: str | None, observer: Any, tcp: Any, options: dict[str, Any],
    ) -> None:  # fmt: skip
        """Build the layers on ``link`` and start it."""
        clock = self.clock
        if pcap is not None:
            link = PcapCapture(link, pcap, clock)
        self.link = link
        self.stats = Stats()
        self.ethernet = EthernetProtocol(link, ip, mac, gateway, clock, self.rng,
                                         stats=self.stats, mtu=mtu)  # fmt: skip
        self.set_observer(observer)
        self._dns_servers: list[str] | None = options.pop("dns_servers", None)
        self._dns: Any = None
        self._dns_lock = threading.Lock()
        self.options = self._build_layers(options)  # what remains is for the TCP layer
        self.routes = RoutingTable(lambda: derived_routes(self), dev=link_name(self),
                                   state=lambda: routing_state(self))  # fmt: skip
        """The routing table (:mod:`pystack.routes`): ``stack.routes.add("198.19.0.0/16",
        via="198.18.0.254")``, ``lookup``, ``delete``; iterating lists every route."""
        self.ethernet._context().routes = self.routes
        self.loopback = LoopbackLink(clock)
        """The loopback interface ("lo"): what the stack sends to its own addresses, to
        127.0.0.0/8 and to ::1 goes through it, never on :attr:`link`."""
        self.loopback.set_receiver(self._loopback_received)
        self.ethernet._context().loopback = self.loopback
        self.routes.interfaces[self.routes.dev or "link0"] = self
        self.interfaces: list[Any] = []
        """The links added by :meth:`add_link` (:class:`pystack.interfaces.Interface`)."""
        for cidr in self._ip6:
            self.ipv6.add_address(cidr)
        self.tcp: Any = None
        self._attach_tcp(tcp)
        # Shared-address mode: TCP and UDP block the kernel's answers for their ports.
        self.udp.kernel_filter = self.kernel_filter
        if self.tcp is not None:
            self.tcp.kernel_filter = self.kernel_filter
        if self.options:
            raise TypeError(f"unknown PyStack options: {', '.join(sorted(self.options))}")
        self.running = False
        link.start()

    def add_link(self, link: Any, ip: str | None = None, ip6: str | list[str] | None = None,
                 mac: str | None = None, *, name: str | None = None,
                 **options: Any) -> Any:  # fmt: skip
        """Put the stack on one more link, with its own addresses (``ip="a.b.c.d/n"``,
        ``ip6=`` one or a list) and layers; ``name`` (default ``link1``, ``link2``, ...)
        is the ``dev`` of its routes. Options are the per-link ones of ``PyStack`` (ARP,
        IP, ICMP and IPv6 knobs). Returns the :class:`pystack.interfaces.Interface`."""
        from pystack.interfaces import Interface

        if ip is not None:
            errors.check_cidr(ip)
        cidrs = [errors.check_cidr6(c) for c in ([ip6] if isinstance(ip6, str) else ip6 or [])]
        name = name or f"link{len(self.interfaces) + 1}"
        if name in self.routes.interfaces:
            raise ValueError(f"this stack already has a link named {name!r}")
        iface = Interface(self, link, name, ip, cidrs, mac, dict(options))
        self.interfaces.append(iface)
        self.routes.interfaces[name] = iface
        link.start()
        return iface

    def _loopback_received(self, frame: bytes) -> None:
        """A frame back from the loopback link: to IPv4 or IPv6 by its EtherType."""
        ethertype = int.from_bytes(frame[12:14], "big")
        layer = {ETHERTYPE_IPV4: self.ip, ETHERTYPE_IPV6: self.ipv6}.get(ethertype)
        if layer is not None:
            layer.packet_received(frame[14:], loopback=True)

    def _build_layers(self, options: dict[str, Any]) -> dict[str, Any]:
        """The 2013 PyStack's graph above Ethernet: ARP; IP with ICMP and UDP. Returns the options
        no layer took."""
        self.arp = ARPProtocol(**_pick(options, ARP_OPTIONS))
        self.ip = IPProtocol(**_pick(options, IP_OPTIONS))
        self.icmp = ICMPProtocol(**_pick(options, ICMP_OPTIONS))
        self.udp = UDPProtocol()
        self.ethernet.register_layer(self.arp)
        self.ethernet.register_layer(self.ip)
        self.ip.register_layer(self.icmp)
        self.ip.register_layer(self.udp)
        # IPv6 beside IPv4 (RFC 8200): its own ICMPv6, the same UDP and TCP above both.
        # Sharing the host's MAC, the stack's EUI-64 link-local address would be the
        # kernel's own: such a stack has only the IPv6 addresses it is given.
        shared = getattr(self.attachment, "mode", None) == "shared"
        if shared:
            # The host's addresses are the kernel's: DAD would find each a duplicate, and
            # the host's RAs would give the stack the kernel's own SLAAC address.
            options.setdefault("dad_transmits", 0)
            options.setdefault("slaac", False)
            options.setdefault("router_solicitations", 0)
        self.ipv6 = IPv6Protocol(link_local=not shared, **_pick(options, IPV6_OPTIONS))
        self.icmpv6 = ICMPv6Protocol()
        self.ethernet.register_layer(self.ipv6)
        self.ipv6.register_layer(self.icmpv6)
        self.ipv6.register_upper_layer("UDP", self.udp)
        return options

    def _attach(
        self, tap: str | None, interface: str | None, ip: str | None, mac: str | None,
        gateway: str | None, mtu: int | None, offloads: bool | None,
    ) -> tuple[Any, ...]:  # fmt: skip
        from pystack.attach import open_link

        att = open_link(tap=tap, interface=interface, ip=ip, gateway=gateway, mac=mac, mtu=mtu,
                        stack_id=self.stack_id, reactor=self.clock, rng=self.rng,
                        offloads=offloads)  # fmt: skip
        self.attachment = att
        return att.link, att.ip, att.mac, att.gateway, att.mtu

    # -- TCP: the place where the TCP layer joins the stack ----------------------------------

    def _attach_tcp(self, config: Any) -> None:
        """Build the TCP layer above IP when ``pystack.tcp.layer`` exists (the TCP issue)."""
        try:
            from pystack.tcp.layer import TCPLayer
        except ImportError:
            return
        self.tcp = TCPLayer(config)
        self.ip.register_layer(self.tcp)
        self.ipv6.register_upper_layer("TCP", self.tcp)

    def register_tcp_application(self, app: Any) -> None:
        """Attach a TCPApplication (the 2013 PyStack's call); needs the TCP layer."""
        if self.tcp is None:
            raise RuntimeError("this stack has no TCP layer")
        self.tcp.register_application(app)
        app.stack = self  # connect() resolves host names through stack.dns

    def set_observer(self, observer: Callable[[Any, str, str, str], None] | None) -> None:
        """Call ``observer(machine, old, trigger, new)`` after every transition of every
        machine of this stack (ARP entries, reassemblies, and TCP sessions that report
        through ``ctx.notify``). The transition log (``trace=``) goes on recording."""
        if self._trace is not None:  # only a traced stack pays for a second call
            write = self._trace[0].observer(self)

            def both(obj: Any, old: str, trigger: str, new: str) -> None:
                write(obj, old, trigger, new)
                if observer is not None:
                    observer(obj, old, trigger, new)

            self.ethernet._context().observer = both
            return
        self.ethernet._context().observer = observer

    # -- applications ---------------------------------------------------------------------

    def register_udp_application(self, app: Any) -> None:
        """Attach a UDPApplication above UDP (the 2013 PyStack's call)."""
        app.register_lower_layer("default", self.udp)
        app.stack = self

    @property
    def dns(self) -> Any:
        """The stack's DNS resolver (:class:`pystack.dns.resolver.DNSResolver` over its UDP,
        TCP on truncation), created on first use with the ``dns_servers`` option, else the
        servers of /etc/resolv.conf. ``stack.dns.nslookup("name")`` is the 2013 PyStack's call
        (blocking); code on the reactor uses ``stack.dns.resolve(name)`` (a Deferred)."""
        with self._dns_lock:
            if self._dns is None:
                from pystack.dns.transport import resolver_for_stack

                self._dns = resolver_for_stack(self, servers=self._dns_servers)
            return self._dns

    @dns.setter
    def dns(self, resolver: Any) -> None:
        """Use another resolver (e.g. ``resolver_for_stack(stack, timeout=...)``)."""
        with self._dns_lock:
            self._dns = resolver

    @property
    def address(self) -> str | None:
        return self.ip.address

    @property
    def addresses(self) -> list[AddressEntry]:
        """Every address of the stack, as ``ip addr`` lists them: ``family``, ``interface``
        (the address with its prefix), ``dev`` and ``state`` (an IPv6 address is
        "tentative" during duplicate address detection, "deprecated" past its preferred
        lifetime); ``str()`` of one reads ``inet6 2001:db8::2/64 dev link0``."""
        return stack_addresses(self)

    @property
    def address6(self) -> str | None:
        """The stack's first global IPv6 address, else its link-local one."""
        return self.ipv6.address

    @property
    def mac(self) -> str:
        return self.ethernet.mac

    def is_udp_port_free(self, port: int) -> bool:
        return self.udp.is_port_free(port)

    # -- ICMP echo --------------------------------------------------------------------------

    def ping_deferred(self, ip: str, timeout: float = 1.0, data: bytes = b"") -> Any:
        """A Deferred that fires with the round-trip time in seconds, or fails with
        TimeoutError; works under any clock (the simulated wire's included)."""
        if ":" in ip:
            return self.icmpv6.ping(ip, timeout, data)
        return self.icmp.ping(ip, timeout, data)

    def ping(self, ip: str, timeout: float = 1.0, data: bytes = b"") -> float:
        """The round-trip time to ``ip`` in seconds; raises TimeoutError. Blocks: call it
        from another thread than the reactor's (use :meth:`ping_deferred` inside it)."""
        from pystack.reactor import blocking_call

        return float(blocking_call(self.ping_deferred, ip, timeout, data, _reactor=self.clock))

    # -- running --------------------------------------------------------------------------

    def run(self, doreactor: bool = True) -> None:
        """Start receiving. With a real reactor, ``doreactor=True`` runs it here (blocking),
        ``False`` in a background thread. A simulated clock needs neither."""
        self.running = True
        if not hasattr(self.clock, "run"):
            return
        from pystack import reactor as reactor_mod

        if doreactor:
            reactor_mod.run_blocking(self.clock, on_shutdown=self.stop)
        else:
            reactor_mod.ensure_thread(self.clock)

    def stop(self, timeout: float = STOP_GRACE) -> Any:
        """Stop the stack; idempotent.

        Every connection is closed gracefully (FIN after its queued data); those not
        finished (CLOSED or TIME_WAIT) after ``timeout`` seconds are reset (RST, RFC 9293
        §3.10.5); then every session is forgotten and the link and the attachment (the
        kernel filter's rules included) are closed. From another thread than the running
        reactor's it blocks until done (about ``timeout`` at most). In the reactor thread,
        or under a simulated clock with connections open, it returns a Deferred that fires
        when done (the reactor's shutdown waits for it); with no reactor running it resets
        what remains at once.
        """
        from pystack import reactor as reactor_mod

        real = hasattr(self.clock, "run")
        if real and reactor_mod.reactor_thread(self.clock) is None and not self.clock.running:
            timeout = 0.0  # nothing would deliver the peers' answers: finish now
        elif real and not reactor_mod.in_reactor_thread(self.clock):
            reactor_mod.blocking_call(self._stop_deferred, timeout, _reactor=self.clock)
            return None
        return self._stop_deferred(timeout)

    def _stop_deferred(self, timeout: float) -> Any:
        if self._stopped is not None:
            return None if self._stopped.called else _chained(self._stopped)
        self._stopped = defer.Deferred()
        self.running = False
        self.ipv6.routers.stop()  # solicitations, router and prefix lifetimes
        self.ipv6.autoconf.stop()  # DAD probes, address lifetimes
        self.ipv6.mld.stop()
        if self._dns is not None:
            self._dns.stop()  # queries in flight fail now, their ports close
        if self.tcp is not None:
            self.tcp.stop()  # FIN on every connection, listeners closed
        deadline = self.clock.seconds() + timeout
        self._stop_poll(deadline)
        return None if self._stopped.called else _chained(self._stopped)

    def _stop_poll(self, deadline: float) -> None:
        busy = [s for s in self._tcp_sessions() if s.state not in S.finished]
        if busy and self.clock.seconds() < deadline:
            self.clock.callLater(STOP_POLL, self._stop_poll, deadline)
            return
        try:
            for session in self._tcp_sessions():
                try:
                    _end(session)
                except Exception:  # an application's hook failing must not stop the stop
                    log.exception("stop: aborting %r failed", session)
        finally:
            if self.tcp is not None:
                self.tcp.clear_time_wait()
            self.loopback.close()
            for iface in self.interfaces:
                iface.stop()
            if self.attachment is not None:
                self.attachment.close()
            else:
                self.link.close()
            if self._trace is not None and self._trace[1]:
                self._trace[0].release()
            assert self._stopped is not None
            self._stopped.callback(None)

    def _tcp_sessions(self) -> list[Any]:
        return list(self.tcp.sessions()) if self.tcp is not None else []

    @property
    def stopped(self) -> bool:
        """True once `stop` has finished (the link is closed)."""
        return self._stopped is not None and self._stopped.called

    @property
    def kernel_filter(self) -> Any:
        """The shared-address mode's `KernelFilter`, else None."""
        return getattr(self.attachment, "kernel_filter", None)

    def __enter__(self) -> PyStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PyStack({self.address}, {self.mac})"


_default_lock = threading.Lock()
_default: PyStack | None = None


def default_stack() -> PyStack:
    """The process's default stack: what ``PyStack()`` returns.

    Created on first use like ``PyStack(clock=reactor)`` with no device named: on the
    interface of the default route, sharing the host's address (a netfilter rule keeps
    the kernel from answering for the stack's ports). Every later call returns the same
    stack until it is stopped; once ``stop()`` has begun, the next call makes a fresh one.
    :mod:`pystack.pystack_socket` uses it when no stack was given to ``use_stack``.
    """
    global _default
    with _default_lock:
        if _default is None or _default._stopped is not None:
            _default = type.__call__(PyStack)  # past the metaclass: a new stack
        return _default


def _open_trace(trace: Any, pcap: str | None) -> tuple[Any, bool] | None:
    """The stack's transition log and whether the stack owns it (closes it on stop)."""
    if trace is None or trace is False:
        return None
    from pystack.ladder.model import TransitionLog, trace_path_for

    if isinstance(trace, TransitionLog):
        return trace, False
    if trace is True:
        if pcap is None:
            raise ValueError("trace=True writes the log beside the capture: give pcap= too")
        return TransitionLog.for_path(trace_path_for(pcap)), True
    if isinstance(trace, str | os.PathLike):  # stacks given one path share its log
        return TransitionLog.for_path(trace), True
    raise TypeError(f"trace= takes True, a path or a TransitionLog, not {trace!r}")


def _close_quietly(attachment: Any) -> None:
    """Release what a failed PyStack() opened without hiding why it failed: a second
    error here is logged, and the first one propagates alone."""
    try:
        attachment.close()
    except Exception:
        log.exception("closing %s after a failed PyStack() failed too", attachment.interface)


def _end(session: Any) -> None:
    """ABORT a session for `PyStack.stop`: RST where still synchronized (RFC 9293 §3.10.5).
    A TIME_WAIT connection ended cleanly; only its 2*MSL wait is cut short, so the
    application hears CLOSED, not ABORTED."""
    if session.state == TCP.TIME_WAIT:
        from pystack.tcp.config import CloseReason

        session.fire("app_abort", reason=CloseReason.CLOSED)
    else:
        session.abort()


def _chained(d: defer.Deferred[None]) -> defer.Deferred[None]:
    """A new Deferred firing with ``d`` (so callers' callbacks do not alter ``d``)."""
    out: defer.Deferred[None] = defer.Deferred()

    def fire(result: Any) -> Any:
        out.callback(None)
        return result

    d.addBoth(fire)
    return out
