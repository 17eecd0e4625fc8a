"""The seed's Layer API: named layers registered to each other, packets passed up and down.

Built-in layers set ``fast = True``: they pass **bytes** of their payload up, with the
parsed repr of each header so far in kwargs, keyed by the seed's scapy names
(``ip.packet_received(payload, Ether=frame)``). IP hands a transport the payload and one
frozen `pystack.layers.ip_meta.IpMeta` (``transport.datagram_received(payload, meta)``),
and transports send through ``ip.send_payload``; other layers above IP get
``packet_received(payload, Ether=frame, IP=ipv4_packet, meta=meta)``. A user's layer keeps
the seed's default ``fast = False``: it receives a scapy packet, with each header as a
dict of scapy fields in kwargs (``kwargs["IP"]["src"]``), and may send scapy packets
down; built-in layers convert at that edge, so the hot path never touches scapy.
"""

from __future__ import annotations

import dataclasses
import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pystack.stats import Stats


@dataclass
class StackContext:
    """What every layer of one stack shares: time, randomness, counters, its address."""

    clock: Any
    rng: random.Random = field(default_factory=random.Random)
    stats: Stats = field(default_factory=Stats)
    ip: str | None = None
    prefix: int = 32
    mac: str | None = None
    gateway: str | None = None
    mtu: int = 1500
    # The largest IP datagram the link has its device cut into MTU-sized TCP segments
    # (TCP segmentation offload, `SegmentingLink`); 0: the link takes only plain frames.
    tso_max: int = 0
    # The name of the device the stack's link is on (a TAP, an interface), if it has one.
    interface: str | None = None
    # Called as observer(machine_instance, old, trigger, new) after every transition of
    # every machine in the stack (ARP entries, reassembly, TCP sessions): the demo prints it.
    observer: Callable[[Any, str, str, str], None] | None = None
    # The built-in layers by name (the seed's "transversal_layer_access"): a layer reaches
    # another across a user's layer inserted between them.
    layers: dict[str, Any] = field(default_factory=dict)
    # The stack's routing table (`pystack.routes.RoutingTable`); None (a stack built by
    # hand from layers): IPv4 routes on-link or to the gateway, IPv6 to a default router.
    routes: Any = None
    # The stack's loopback link (`pystack.links.loopback.LoopbackLink`): what the IP layers
    # send to the stack's own addresses; None: handed back through the clock directly.
    loopback: Any = None

    def notify(self, obj: Any, old: str, trigger: str, new: str) -> None:
        """Pass one machine transition to the observer, if any."""
        if self.observer is not None:
            self.observer(obj, old, trigger, new)


class HeaderFields(dict[str, Any]):
    """A header as the seed's user layers saw it (a dict of scapy fields).

    ``.repr`` keeps the fast repr it was made from, so a built-in layer above a
    user's layer gets it back without parsing again.
    """

    repr: Any = None


def as_bytes(packet: Any) -> bytes:
    """The bytes of a packet given as bytes or as a scapy packet."""
    if isinstance(packet, bytes):
        return packet
    if isinstance(packet, bytearray | memoryview):
        return bytes(packet)
    return bytes(packet)


def unwrap(header: Any) -> Any:
    """The fast repr behind a header passed in kwargs (repr or :class:`HeaderFields`)."""
    inner = getattr(header, "repr", None)
    return header if inner is None else inner


def _scapy_class(name: str) -> Any:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    classes = {"Ether": Ether, "ARP": ARP, "IP": IP, "ICMP": ICMP, "TCP": TCP, "UDP": UDP}
    return classes.get(name, Raw)


def slow_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """kwargs for a seed-style layer: each header repr becomes a dict of scapy fields;
    other values (the IP layer's ``meta``, ``id``) pass unchanged."""
    out: dict[str, Any] = {}
    scapy_edge = importlib.import_module("pystack.wire.scapy_edge")
    for key, value in kwargs.items():
        out[key] = value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            try:
                packet = scapy_edge.to_scapy(value)
            except TypeError:  # not a header: no scapy form
                continue
            view = HeaderFields(packet.fields)
            view.repr = value
            out[key] = view
    return out


class Default:
    """The sink registered as every layer's "default" upper layer: ignores what it gets."""

    name = "default"
    fast = True

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """Does nothing; subclass to log unclaimed packets."""

    def icmp_error_received(self, kind: str, code: int, quoted_ip: Any) -> None:
        """Does nothing."""


class Layer:
    """Base class of every layer (the seed's ``Layer``).

    ``name`` is the key other layers register this one under ("IP", "UDP", ...).
    ``lowerLayers`` / ``upperLayers`` map names to layers; both have a "default".
    """

    name = ""
    fast = False

    def __init__(self) -> None:
        self.lowerLayers: dict[str, Any] = {}
        self.upperLayers: dict[str, Any] = {}
        self.ctx: StackContext | None = None
        self.register_upper_layer("default", Default())

    # -- registration (the seed's names) -------------------------------------------------

    def register_upper_layer(self, name: str, layer: Any) -> None:
        """Put ``layer`` in upperLayers under ``name``."""
        self.upperLayers[name] = layer
        if self.ctx is not None and isinstance(layer, Layer) and layer.ctx is None:
            layer.adopt_context(self.ctx)

    def register_lower_layer(self, name: str, layer: Any) -> None:
        """Put ``layer`` in lowerLayers under ``name``."""
        self.lowerLayers[name] = layer
        ctx = getattr(layer, "ctx", None)
        if self.ctx is None and ctx is not None:
            self.adopt_context(ctx)

    def register_layer_full(self, name: str, layer: Any) -> None:
        """Register ``layer`` above this one under ``name``, and this one as its default lower."""
        self.register_upper_layer(name, layer)
        layer.register_lower_layer("default", self)

    def register_layer(self, layer: Any) -> None:
        """As :meth:`register_layer_full`, keyed by ``layer.name``."""
        self.register_layer_full(layer.name, layer)

    def unregister_upper_layer(self, name: str) -> None:
        """Remove the upper layer registered under ``name``."""
        if name not in self.upperLayers:
            raise KeyError(f"{self.name or type(self).__name__} has no upper layer {name!r}")
        self.upperLayers.pop(name)

    def adopt_context(self, ctx: StackContext) -> None:
        """Join a stack: take its context, and give it to upper layers that have none."""
        self.ctx = ctx
        if self.fast and self.name:
            ctx.layers.setdefault(self.name, self)
        for upper in self.upperLayers.values():
            if isinstance(upper, Layer) and upper.ctx is None:
                upper.adopt_context(ctx)

    # -- shared context --------------------------------------------------------------------

    def _context(self) -> StackContext:
        if self.ctx is None:
            raise RuntimeError(
                f"layer {self.name or type(self).__name__} is not part of a stack yet: "
                "register it above a layer that has a context (e.g. an EthernetProtocol)"
            )
        return self.ctx

    def layer(self, name: str) -> Any:
        """The stack's built-in layer called ``name`` ("IP", "ICMP", ...)."""
        found = self._context().layers.get(name)
        if found is None:
            raise RuntimeError(f"this stack has no {name} layer")
        return found

    @property
    def clock(self) -> Any:
        return self._context().clock

    @property
    def rng(self) -> random.Random:
        return self._context().rng

    @property
    def stats(self) -> Stats:
        return self._context().stats

    # -- packets (the seed's names) --------------------------------------------------------

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        """Forge the packet, then transfer it to the lower layer."""
        self.transfer_packet(self.forge_packet(packet, **kwargs), **kwargs)

    def forge_packet(self, packet: Any, **kwargs: Any) -> Any:
        """Build this layer's packet around ``packet``; by default passes it through."""
        return packet

    def transfer_packet(self, packet: Any, **kwargs: Any) -> None:
        """Hand ``packet`` to the default lower layer's send_packet.

        A built-in layer hands a seed-style layer below it a scapy packet of its own kind.
        """
        lower = self.lowerLayers["default"]
        if self.fast and not getattr(lower, "fast", False) and isinstance(packet, bytes):
            packet = _scapy_class(self.name)(packet)
        lower.send_packet(packet, **kwargs)

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        """The seed's default: pass the payload to the upper layer named after it."""
        payload = packet.payload
        target = self.upperLayers.get(payload.name, self.upperLayers["default"])
        view = HeaderFields(packet.fields)
        try:
            view.repr = importlib.import_module("pystack.wire.scapy_edge").from_scapy(packet)
        except Exception:  # a layer the codecs do not know: the dict alone goes up
            view.repr = None
        kwargs[packet.name] = view
        if getattr(target, "fast", False):
            target.packet_received(bytes(payload), **kwargs)
        else:
            target.packet_received(payload, **kwargs)

    def deliver_up(self, target: Any, payload: bytes, kind: str, **kwargs: Any) -> None:
        """Give ``payload`` (a ``kind`` packet, e.g. "UDP") to ``target``, fast or seed-style."""
        if getattr(target, "fast", False):
            target.packet_received(payload, **kwargs)
        else:
            target.packet_received(_scapy_class(kind)(payload), **slow_kwargs(kwargs))

    def icmp_error_received(self, kind: str, code: int, quoted_ip: Any) -> None:
        """An ICMP error about a packet this layer sent (RFC 1122 §3.2.2): ignored by default."""
