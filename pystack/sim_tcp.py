"""The TCP layers alone on a simulated pipe: two `TCPLayer`s joined by IP address, no IP
or Ethernet below them, under a deterministic clock.

::

    pair = TcpPair(loss=0.1, seed=3)
    pair.register(server_app, 1)
    pair.register(client_app, 0)
    pair.run_until(lambda: server_app.data, limit=10)

The TCP-only memory benchmark runs on it, and so do the TCP tests that need two ends.
"""

from __future__ import annotations

import random
from typing import Any

from twisted.internet.task import Clock

from pystack.layers.ip_meta import meta_of
from pystack.layers.layer import Layer, StackContext
from pystack.tcp.config import TcpConfig
from pystack.tcp.layer import TCPLayer
from pystack.tcp.session import TCPSession
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire

__all__ = ["PipeIP", "PipeWire", "TcpPair"]


class PipeIP(Layer):
    """A stand-in for the IP layer below a `TCPLayer`: hands segments to a `PipeWire`."""

    name = "IP"
    fast = True

    def __init__(self, wire: PipeWire, ip: str) -> None:
        super().__init__()
        self.wire = wire
        self.address = ip

    def send_payload(self, payload: bytes, *, dst: str, src: str | None = None, **ip: Any) -> None:
        """The IP layer's call for transports: carry ``payload`` to ``dst``."""
        self.wire.carry(src or self.address, dst, payload)

    def send_packet(self, packet: Any, **kwargs: Any) -> None:
        fields = kwargs["IP"]
        self.send_payload(bytes(packet), dst=fields["dst"], src=fields.get("src"))


class PipeWire:
    """Carries TCP segments between `TCPLayer`s by IP address, with seeded impairments
    (loss, duplication, reordering) and a fixed one-way delay on the given clock."""

    def __init__(
        self, clock: Any, *, loss: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
        delay: float = 0.001, seed: int = 0,
    ) -> None:  # fmt: skip
        self.clock = clock
        self.loss, self.duplicate, self.reorder, self.delay = loss, duplicate, reorder, delay
        self.rng = random.Random(seed)
        self.layers: dict[str, Any] = {}
        self.carried = 0
        self.filter: Any = None

    def carry(self, src: str, dst: str, data: bytes) -> None:
        """Deliver one segment after the delay, unless the impairments decide otherwise."""
        self.carried += 1
        if self.filter is not None and not self.filter(src, dst, data):
            return
        if self.loss and self.rng.random() < self.loss:
            return
        copies = 2 if self.duplicate and self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            delay = self.delay
            if self.reorder and self.rng.random() < self.reorder:
                delay += self.delay * (1 + 3 * self.rng.random())
            self.clock.callLater(delay, self._deliver, src, dst, data)

    def _deliver(self, src: str, dst: str, data: bytes) -> None:
        layer = self.layers.get(dst)
        if layer is not None:
            datagram = ipv4.Ipv4Packet(src, dst, tcpwire.PROTO, data)
            layer.datagram_received(data, meta_of(datagram))


class TcpPair:
    """Two `TCPLayer`s ("198.18.0.1" and "198.18.0.2") over a `PipeWire` under a `Clock`.

    Applications register with ``pair.register(app, side)``; ``pair.run(seconds)``
    advances protocol time in small steps.
    """

    ADDRESSES = ("198.18.0.1", "198.18.0.2")

    def __init__(
        self, *, config: TcpConfig | None = None, session_class: type[TCPSession] = TCPSession,
        seed: int = 0, clock: Any = None, **impairments: Any,
    ) -> None:  # fmt: skip
        self.clock = clock if clock is not None else Clock()
        self.wire = PipeWire(self.clock, seed=seed, **impairments)
        self.layers: list[TCPLayer] = []
        self.transitions: list[tuple[Any, str, str, str]] = []
        for i, addr in enumerate(self.ADDRESSES):
            ctx = StackContext(clock=self.clock, rng=random.Random(seed * 7 + i), ip=addr)
            ip = PipeIP(self.wire, addr)
            ip.adopt_context(ctx)
            layer = TCPLayer(config, session_class=session_class)
            ip.register_layer(layer)
            self.wire.layers[addr] = layer
            self.layers.append(layer)

    def register(self, app: Any, side: int) -> None:
        """Attach a `TCPApplication` to side 0 or 1."""
        app.tcp = self.layers[side]

    def run(self, seconds: float, step: float = 0.001) -> None:
        """Advance time by ``seconds`` in ``step`` increments (timers and deliveries fire)."""
        steps = max(round(seconds / step), 1)
        for _ in range(steps):
            self.clock.advance(step)

    def run_until(self, predicate: Any, limit: float = 600.0, step: float = 0.001) -> float:
        """Advance time until ``predicate()`` holds; returns the time taken, raises after
        ``limit`` seconds of protocol time."""
        start = self.clock.seconds()
        while not predicate():
            if self.clock.seconds() - start > limit:
                raise AssertionError(f"condition not met within {limit} s of protocol time")
            calls: list[Any] = list(self.clock.getDelayedCalls())
            pending = [c.getTime() for c in calls]
            if not pending:
                raise AssertionError("condition not met and nothing left to happen")
            self.clock.advance(max(min(pending) - self.clock.seconds(), 0.0) or step / 10)
        return self.clock.seconds() - start
