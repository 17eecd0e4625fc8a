"""A wire whose frames wait in flight until the test says what happens to each.

`MemoryWire` draws impairments from a seeded generator; property tests want to choose them:
deliver this frame, drop that one, duplicate it, deliver them out of order. Every frame an
attached link sends is appended to `ControlledWire.in_flight`; nothing moves until the test
calls `deliver`, `drop` or `duplicate`. Delivery is synchronous, and frames sent while a
frame is being delivered join the end of the queue, so there is no re-entrancy.

    wire = ControlledWire()
    a, b = PyStack(link=wire.attach(), ...), PyStack(link=wire.attach(), ...)
    ...
    wire.duplicate(0); wire.deliver(1); wire.drop(0); wire.deliver_all()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pystack.links.base import ETHERNET_HEADER, WirePort

__all__ = ["ControlledLink", "ControlledWire", "InFlight"]


@dataclass(frozen=True, slots=True)
class InFlight:
    """One frame on the wire: who sent it and its bytes."""

    sender: ControlledLink
    frame: bytes


@dataclass
class ControlledCounters:
    """What the test did to the frames."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    too_big: int = 0


@dataclass
class ControlledWire:
    """A shared segment (a hub) whose frames the test delivers one by one."""

    mtu: int = 1500
    links: list[ControlledLink] = field(default_factory=list)
    in_flight: list[InFlight] = field(default_factory=list)
    counters: ControlledCounters = field(default_factory=ControlledCounters)
    observers: list[Callable[[ControlledLink, bytes], None]] = field(default_factory=list)
    """Called with (sender, frame) for every frame sent, before it joins the queue."""

    def attach(self, mtu: int | None = None) -> ControlledLink:
        """A new port on this wire."""
        link = ControlledLink(self, mtu if mtu is not None else self.mtu)
        self.links.append(link)
        return link

    def transmit(self, sender: ControlledLink, frame: bytes) -> None:
        """Queue ``frame`` from ``sender`` (after the observers saw it) unless too big."""
        self.counters.sent += 1
        for observe in self.observers:
            observe(sender, frame)
        if len(frame) > self.mtu + ETHERNET_HEADER:
            self.counters.too_big += 1
            return
        self.in_flight.append(InFlight(sender, frame))

    def _take(self, index: int) -> InFlight:
        if not self.in_flight:
            raise IndexError("no frame in flight")
        return self.in_flight.pop(index % len(self.in_flight))

    def deliver(self, index: int = 0) -> InFlight:
        """Hand frame ``index`` (modulo the queue length) to every other port."""
        item = self._take(index)
        self.counters.delivered += 1
        for link in self.links:
            if link is not item.sender and not link.closed:
                link.deliver(item.frame)
        return item

    def drop(self, index: int = 0) -> InFlight:
        """Lose frame ``index`` (modulo the queue length)."""
        item = self._take(index)
        self.counters.dropped += 1
        return item

    def duplicate(self, index: int = 0) -> None:
        """Put a copy of frame ``index`` at the end of the queue."""
        if not self.in_flight:
            raise IndexError("no frame in flight")
        self.counters.duplicated += 1
        self.in_flight.append(self.in_flight[index % len(self.in_flight)])

    def deliver_all(self, limit: int = 100_000) -> int:
        """Deliver frames in order until none is left (or ``limit``); returns how many."""
        n = 0
        while self.in_flight and n < limit:
            self.deliver(0)
            n += 1
        return n


class ControlledLink(WirePort):
    """One port on a `ControlledWire`; has no MAC of its own (the stack picks one)."""
