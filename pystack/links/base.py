"""The link contract (docs/internals.md "Links") and a base for wrappers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

Receiver = Callable[[bytes], None]


@runtime_checkable
class Link(Protocol):
    """Carries Ethernet frames; what the Ethernet layer sits on."""

    mtu: int
    mac: str | None

    def set_receiver(self, receive: Receiver) -> None: ...
    def send(self, frame: bytes) -> None: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


class LinkWrapper:
    """A link that forwards everything to an inner link; wrappers override parts."""

    def __init__(self, inner: Link) -> None:
        self.inner = inner
        self._receive: Receiver | None = None
        inner.set_receiver(self._on_frame)

    @property
    def mtu(self) -> int:
        return self.inner.mtu

    @property
    def mac(self) -> str | None:
        return self.inner.mac

    def set_receiver(self, receive: Receiver) -> None:
        self._receive = receive

    def send(self, frame: bytes) -> None:
        self.inner.send(frame)

    def start(self) -> None:
        self.inner.start()

    def close(self) -> None:
        self.inner.close()

    def _on_frame(self, frame: bytes) -> None:
        self._deliver(frame)

    def _deliver(self, frame: bytes) -> None:
        if self._receive is not None:
            self._receive(frame)

    def __getattr__(self, name: str) -> object:
        # Link-specific extras (a TAP's name, a wire's counters) stay reachable.
        return getattr(self.inner, name)
