"""Impairments around any link (real ones included): loss, duplication, reordering, delay.

The kernel here has no netem qdisc, so tests on real interfaces impair traffic
in user space with this wrapper. Impairments apply to both directions, drawn
from one seeded generator; delayed frames go through the injected clock.
"""

from __future__ import annotations

import random
from typing import Any

from pystack.links.base import Link, LinkWrapper, check_probabilities


class LossyLink(LinkWrapper):
    """Wraps ``link``; each frame is lost, duplicated or held back by chance."""

    def __init__(
        self,
        link: Link,
        clock: Any,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.0,
        reorder_delay: float = 0.005,
        seed: int | None = None,
        directions: str = "both",
    ) -> None:
        if directions not in ("both", "send", "receive"):
            raise ValueError("directions must be 'both', 'send' or 'receive'")
        check_probabilities(loss=loss, duplicate=duplicate, reorder=reorder)
        super().__init__(link)
        self.clock = clock
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.delay, self.reorder_delay = delay, reorder_delay
        self.directions = directions
        self.rng = random.Random(seed)
        self.lost = self.duplicated = self.reordered = 0

    def send(self, frame: bytes) -> None:
        """Send ``frame`` through the impairments (unless ``directions="receive"``)."""
        if self.directions == "receive":
            self.inner.send(frame)
        else:
            self._impair(frame, self.inner.send)

    def _on_frame(self, frame: bytes) -> None:
        if self.directions == "send":
            self._deliver(frame)
        else:
            self._impair(frame, self._deliver)

    def _impair(self, frame: bytes, forward: Any) -> None:
        if self.loss and self.rng.random() < self.loss:
            self.lost += 1
            return
        copies = 1
        if self.duplicate and self.rng.random() < self.duplicate:
            self.duplicated += 1
            copies = 2
        for _ in range(copies):
            delay = self.delay
            if self.reorder and self.rng.random() < self.reorder:
                self.reordered += 1
                delay += self.reorder_delay
            if delay:
                self.clock.callLater(delay, forward, frame)
            else:
                forward(frame)
