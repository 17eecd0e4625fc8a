"""Application calls from the user's thread, run in the reactor thread.

In thread mode (``stack.run(doreactor=False)``) the reactor runs in its background thread
and owns every layer and session; a user's thread calling ``app.send_packet(...)`` must not
touch them directly. Methods decorated with :func:`in_reactor` hand themselves to the
reactor thread (through :func:`pystack.reactor.blocking_call`, so the caller gets the result
or the exception) when called from another thread than the one running the stack's reactor,
and run in place otherwise: in the reactor thread (hooks, Twisted code), under a simulated
clock, or with no reactor running. A decorated method calling another one runs it in place,
since it is already in the reactor thread: no double hand-off, no deadlock.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pystack.reactor import blocking_call, reactor_thread

__all__ = ["in_reactor", "must_hand_off"]

F = TypeVar("F", bound=Callable[..., Any])


def must_hand_off(clock: Any) -> bool:
    """True when ``clock`` is a reactor running in another thread than the caller's."""
    if clock is None or not hasattr(clock, "run"):
        return False  # a simulated clock: everything runs in the caller's thread
    thread = reactor_thread(clock)
    return thread is not None and thread is not threading.current_thread()


def in_reactor(method: F) -> F:
    """Decorate an application method: run it in the reactor thread (see the module doc).

    The instance provides ``_reactor_clock()``: the clock of the stack it is registered
    with, or None before registration (the method then runs in place and reports misuse).
    """

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        clock = self._reactor_clock()
        if must_hand_off(clock):
            return blocking_call(method, self, *args, _reactor=clock, **kwargs)
        return method(self, *args, **kwargs)

    return call  # type: ignore[return-value]
