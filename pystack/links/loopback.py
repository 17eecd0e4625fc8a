"""The loopback interface: a link whose every frame comes back to its own receiver.

A stack sends what is for itself (its own addresses, 127.0.0.0/8 and ::1) here rather
than on its real link, so connecting to one's own address never puts a frame on the wire
(RFC 1122 §3.2.1.3 (g): addresses in 127/8 must never appear outside a host; RFC 4291
§2.5.3: ::1 is never sent on an interface). Frames come back on the next turn of the
clock, never inside ``send``, so a layer that sends while it handles a frame is not
re-entered.
"""

from __future__ import annotations

from typing import Any

from pystack.links.base import Receiver

LOOPBACK_MTU = 65536  # Linux's lo: no datagram of ours is ever fragmented on it


class LoopbackLink:
    """A :class:`~pystack.links.base.Link` that delivers each frame back to itself.

    ``frames`` counts the frames it carried (what a test reads to see the loopback used).
    """

    mac: str | None = "00:00:00:00:00:00"
    name = "lo"

    def __init__(self, clock: Any, mtu: int = LOOPBACK_MTU) -> None:
        self.clock = clock
        self.mtu = mtu
        self.frames = 0
        self.closed = False
        self._receive: Receiver | None = None

    def set_receiver(self, receive: Receiver) -> None:
        """See :class:`~pystack.links.base.Link`."""
        self._receive = receive

    def send(self, frame: bytes) -> None:
        """Hand ``frame`` back to the receiver on the next turn of the clock."""
        if self.closed:
            return
        self.frames += 1
        self.clock.callLater(0, self._deliver, frame)

    def _deliver(self, frame: bytes) -> None:
        if not self.closed and self._receive is not None:
            self._receive(frame)

    def start(self) -> None:
        """Nothing to register: frames come back through the clock."""

    def close(self) -> None:
        """Deliver nothing more; idempotent."""
        self.closed = True


def loop_back(layer: Any, ethertype: int, datagram: bytes) -> None:
    """Send ``datagram`` from IP layer ``layer`` to the stack itself: through the stack's
    loopback link, whole (its MTU is 64 KiB), else straight back to the layer's receive
    path on the next turn of the clock."""
    loopback = layer._context().loopback
    if loopback is None:
        layer.clock.callLater(0, layer.packet_received, datagram)
        return
    layer.stats.incr(layer.name, "datagrams_looped_back")
    loopback.send(bytes(12) + ethertype.to_bytes(2, "big") + datagram)


__all__ = ["LOOPBACK_MTU", "LoopbackLink", "loop_back"]
