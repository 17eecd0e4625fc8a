"""A deterministic simulated Ethernet segment (a hub) with seeded impairments.

Every frame sent by one attached link is offered to every other attached link;
the Ethernet layer above filters by destination MAC. Loss, duplication,
reordering and delay are drawn from one ``random.Random(seed)`` per wire and
delivered through the injected clock, so the same seed and the same traffic
give the same frames at the same simulated times.

``offloads=True`` makes it a wire between devices with segmentation offloads, as a veth
pair between two Linux network namespaces is: a TCP super-segment of up to 64 KB that a
stack sends (``send_gso``) travels whole, with its checksum partial, and the receiving
stack takes it as one segment, as a kernel takes a GSO packet from a veth. A receiver
that does not say it takes partial checksums (a capture, a test's list) gets the frame
with its checksum completed.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pystack.links.base import (
    CHECKSUM_PARTIAL,
    ETHERNET_HEADER,
    Receiver,
    WirePort,
    check_probabilities,
    hand_over,
)
from pystack.links.vnet import TSO_MAX


@dataclass
class WireCounters:
    """What the wire did to the frames it carried."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    too_big: int = 0
    super_segments: int = 0


class MemoryWire:
    """A shared segment; ``attach()`` returns a new :class:`MemoryLink` on it.

    ``loss``, ``duplicate`` and ``reorder`` are probabilities per delivery;
    ``delay`` is the one-way latency in seconds; a reordered frame is held for
    ``reorder_delay`` extra seconds so frames sent after it overtake it. ``offloads``
    carries TCP super-segments whole (see the module notes).
    """

    def __init__(
        self,
        clock: Any,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.0,
        reorder_delay: float = 0.005,
        mtu: int = 1500,
        seed: int | None = None,
        offloads: bool = False,
    ) -> None:
        check_probabilities(loss=loss, duplicate=duplicate, reorder=reorder)
        if delay < 0 or reorder_delay < 0:
            raise ValueError("delays must be >= 0")
        self.clock = clock
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay = delay
        self.reorder_delay = reorder_delay
        self.mtu = mtu
        self.offloads = offloads
        self.rng = random.Random(seed)
        self.links: list[MemoryLink] = []
        self.counters = WireCounters()
        # Frames in flight as (due time, sequence, port, frame, partial checksum): one clock
        # call for the earliest, not one per frame (twisted's Clock sorts its calls on
        # every callLater).
        self._in_flight: list[tuple[float, int, MemoryLink, bytes, bool]] = []
        self._seq = 0
        self._timer: Any = None
        self._timer_due = 0.0  # when self._timer fires (valid while it is not None)

    def attach(self, mtu: int | None = None) -> MemoryLink:
        """A new port on this wire."""
        link = MemoryLink(self, mtu if mtu is not None else self.mtu)
        self.links.append(link)
        return link

    def transmit(self, sender: MemoryLink, frame: bytes, partial: bool = False) -> None:
        """Offer ``frame`` from ``sender`` to every other open port, impaired as configured;
        ``partial``: a super-segment (its TCP checksum partial) that may exceed the MTU."""
        self.counters.sent += 1
        if not partial and len(frame) > self.mtu + ETHERNET_HEADER:
            self.counters.too_big += 1
            return
        impaired = self.loss or self.duplicate or self.reorder
        for link in self.links:
            if link is not sender and not link.closed:
                if impaired:
                    self._impair(link, frame, partial)
                else:  # a perfect wire: one copy after the delay, no draw from the rng
                    self._seq += 1
                    due = self.clock.seconds() + self.delay
                    heapq.heappush(self._in_flight, (due, self._seq, link, frame, partial))
                    if self._timer is None or due < self._timer_due:
                        self._schedule()

    def _impair(self, link: MemoryLink, frame: bytes, partial: bool) -> None:
        copies = 1
        if self.loss and self.rng.random() < self.loss:
            self.counters.lost += 1
            copies = 0
        elif self.duplicate and self.rng.random() < self.duplicate:
            self.counters.duplicated += 1
            copies = 2
        for _ in range(copies):
            delay = self.delay
            if self.reorder and self.rng.random() < self.reorder:
                self.counters.reordered += 1
                delay += self.reorder_delay
            self._seq += 1
            due = self.clock.seconds() + delay
            heapq.heappush(self._in_flight, (due, self._seq, link, frame, partial))
            self._schedule()

    def _schedule(self) -> None:
        if not self._in_flight:
            return
        due = self._in_flight[0][0]
        if self._timer is not None and self._timer.active():
            if self._timer_due <= due:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.clock.callLater(max(0.0, due - self.clock.seconds()), self._run)

    def _run(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        in_flight = self._in_flight
        counters = self.counters
        while in_flight and in_flight[0][0] <= now:
            _, _, link, frame, partial = heapq.heappop(in_flight)
            if not link.closed:
                counters.delivered += 1
                receive = link._receive
                if receive is None:
                    continue
                if not partial:
                    receive(frame)
                else:
                    hand_over(receive, frame, CHECKSUM_PARTIAL, link._trusting)
        self._schedule()


class MemoryLink(WirePort):
    """One port on a :class:`MemoryWire`; has no MAC of its own (the stack picks one).

    On a wire with offloads it takes TCP super-segments (``tso_max``, `send_gso`), as a
    ``SegmentingLink`` does."""

    wire: MemoryWire

    def __init__(self, wire: MemoryWire, mtu: int) -> None:
        super().__init__(wire, mtu)
        self.tso_max = TSO_MAX if wire.offloads else 0
        self._trusting = False

    def set_receiver(self, receive: Receiver) -> None:
        """See :class:`Link`: frames come with complete checksums."""
        self._receive = receive
        self._trusting = False

    def set_trusting_receiver(self, receive: Callable[..., None]) -> None:
        """As `DescriptorLink.set_trusting_receiver`: a super-segment comes with
        ``checksum_valid=True`` and its checksum left partial."""
        self._receive = receive
        self._trusting = True

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Put a TCP super-segment on the wire whole (its checksum partial), as a veth
        passes a GSO packet; ``gso_size`` is the MSS a device would cut it by."""
        if not self.tso_max:
            raise RuntimeError("this wire takes no super-segments (MemoryWire(offloads=False))")
        if not self.closed:
            self.wire.counters.super_segments += 1
            self.wire.transmit(self, frame, partial=True)
