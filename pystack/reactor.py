"""Running the Twisted reactor for stacks, and calling into it from other threads.

Two modes, as the seed had them (``stack.run(doreactor=...)``):

- **reactor mode** (:func:`run_blocking`): the calling thread runs the reactor until
  ``stop()``, Ctrl+C (SIGINT) or SIGTERM; Twisted's shutdown triggers stop the stacks.
  A Twisted reactor cannot be restarted, so this is once per process.
- **thread mode** (:func:`ensure_thread`): the reactor runs in one daemon thread,
  ``pystack-reactor``, shared by every stack of the process and kept across stacks (so a
  test suite can create and stop many stacks); it is stopped at interpreter exit.

Everything that touches a stack's layers runs in the reactor thread. Blocking application
calls made from another thread go through :func:`blocking_call`, which hands the call to
the reactor thread and waits for its result (or for the Deferred it returns).
"""

from __future__ import annotations

import atexit
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

T = TypeVar("T")

THREAD_NAME = "pystack-reactor"
_START_TIMEOUT = 10.0
_JOIN_TIMEOUT = 5.0
_POLL = 0.2  # how often a waiting caller checks that the reactor thread is still alive

_lock = threading.Lock()
_threads: dict[int, threading.Thread] = {}  # id(reactor) -> the thread running it


class WouldBlock(RuntimeError):
    """A blocking call was made where waiting is impossible (in the reactor thread itself,
    or with no running reactor) and its result is not ready."""


def default_reactor() -> Any:
    """The process-wide Twisted reactor."""
    from twisted.internet import reactor

    return reactor


def reactor_thread(reactor: Any = None) -> threading.Thread | None:
    """The thread running ``reactor`` as far as pystack knows (None when not running)."""
    reactor = reactor or default_reactor()
    thread = _threads.get(id(reactor))
    if thread is not None and thread.is_alive() and reactor.running:
        return thread
    return None


def in_reactor_thread(reactor: Any = None) -> bool:
    """True when called from the thread that runs ``reactor``."""
    return reactor_thread(reactor) is threading.current_thread()


def ensure_thread(reactor: Any = None) -> threading.Thread:
    """Run ``reactor`` in the background thread (starting it once); return that thread."""
    reactor = reactor or default_reactor()
    with _lock:
        running = reactor_thread(reactor)
        if running is not None:
            return running
        if reactor.running:
            raise RuntimeError("the reactor already runs in a thread pystack did not start")
        started = threading.Event()
        reactor.callWhenRunning(started.set)
        thread = threading.Thread(
            target=reactor.run,
            kwargs={"installSignalHandlers": False},
            name=THREAD_NAME,
            daemon=True,
        )
        _threads[id(reactor)] = thread
        thread.start()
    if not started.wait(_START_TIMEOUT):
        raise RuntimeError("the reactor thread did not start")
    _reap_children_from(reactor)
    return thread


def _reap_children_from(reactor: Any) -> None:
    """Let a reactor in a background thread notice its child processes ending.

    Twisted learns that a spawned process exited from SIGCHLD, whose handler it installs
    only when it runs in the main thread; otherwise it tries once, when the child's pipes
    close, and a child not yet reapable then is never reported (an SSH `exec` channel
    over the stack hung that way). The main thread forwards SIGCHLD to the reactor
    thread instead, unless the program already handles the signal.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, None):
        return
    from twisted.internet import process

    def forward(signum: int, frame: Any) -> None:
        reactor.callFromThread(process.reapAllProcesses)

    signal.signal(signal.SIGCHLD, forward)


def stop_thread(reactor: Any = None, timeout: float = _JOIN_TIMEOUT) -> None:
    """Stop the background reactor thread (at interpreter exit); bounded by ``timeout``."""
    reactor = reactor or default_reactor()
    thread = reactor_thread(reactor)
    if thread is None or thread is threading.current_thread():
        return
    reactor.callFromThread(reactor.stop)
    thread.join(timeout)


def run_blocking(reactor: Any = None, on_shutdown: Callable[[], object] | None = None) -> None:
    """Run ``reactor`` in this thread until it stops (``stop()``, SIGINT, SIGTERM).

    ``on_shutdown`` runs in the reactor thread before it shuts down, whatever stopped it.
    """
    reactor = reactor or default_reactor()
    if reactor_thread(reactor) is not None or reactor.running:
        raise RuntimeError("the reactor is already running (stack.run was called twice?)")
    if on_shutdown is not None:
        reactor.addSystemEventTrigger("before", "shutdown", on_shutdown)
    main = threading.current_thread() is threading.main_thread()
    _threads[id(reactor)] = threading.current_thread()
    try:
        reactor.run(installSignalHandlers=main)
    finally:
        _threads.pop(id(reactor), None)


def call_soon(f: Callable[..., object], *args: Any, reactor: Any = None) -> None:
    """Run ``f(*args)`` in the reactor thread: now if we are in it, else as soon as it can."""
    reactor = reactor or default_reactor()
    if reactor_thread(reactor) is None or in_reactor_thread(reactor):
        f(*args)
    else:
        reactor.callFromThread(f, *args)


def blocking_call(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``f(*args, **kwargs)`` in the reactor thread and return its result.

    If ``f`` returns a Deferred, wait for it and return its result (or raise its error).
    From the reactor thread itself, or with no reactor running in another thread, ``f``
    runs right here, and a Deferred that has not fired raises :class:`WouldBlock`.
    The reactor is the default one; pass ``_reactor=`` for another.
    """
    reactor = kwargs.pop("_reactor", None) or default_reactor()
    thread = reactor_thread(reactor)
    if thread is None or thread is threading.current_thread():
        return _resolve_now(f(*args, **kwargs), f)
    done = threading.Event()
    box: list[Any] = []

    def finish(result: Any) -> None:
        box.append(result)
        done.set()

    def run() -> None:
        defer.maybeDeferred(f, *args, **kwargs).addBoth(finish)

    reactor.callFromThread(run)
    while not done.wait(_POLL):
        if not thread.is_alive():
            raise RuntimeError("the reactor thread stopped before the call completed")
    return _unwrap(box[0])


def _resolve_now(result: Any, f: Callable[..., Any]) -> Any:
    if not isinstance(result, defer.Deferred):
        return result
    box: list[Any] = []
    result.addBoth(box.append)
    if not box:
        name = getattr(f, "__qualname__", repr(f))
        raise WouldBlock(
            f"{name} would block: call it from another thread than the reactor's "
            "(stack.run(doreactor=False)), or use its Deferred/callback API"
        )
    return _unwrap(box[0])


def _unwrap(result: Any) -> Any:
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _stop_at_exit() -> None:
    for thread in list(_threads.values()):
        if thread.name == THREAD_NAME:
            stop_thread()


atexit.register(_stop_at_exit)
