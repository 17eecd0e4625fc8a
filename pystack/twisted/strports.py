"""Endpoint strings for the stack: ``pystack:PORT:OPTIONS`` (server) and
``pystack:HOST:PORT:OPTIONS`` (client), for Twisted's ``serverFromString`` /
``clientFromString`` and every tool that takes an endpoint (``twist web --listen ...``).

Server: ``pystack:8080:tap=tap0:ip=198.18.0.2/24`` (``port=`` may be named; ``backlog=``;
``listen_ip=`` one address of the stack to listen on). Client:
``pystack:198.18.0.1:80:tap=tap0:ip=...`` (or ``host=``, ``port=``; ``timeout=`` seconds).
The attachment options are those of `PyStack`: ``tap=``, ``interface=``, ``ip=``,
``ip6=``, ``gateway=``, ``mac=`` (escape colons: ``mac=02\\:00\\:00\\:00\\:00\\:02``,
``ip6=2001\\:db8\\:\\:2/64``; an IPv6 host or ``listen_ip`` likewise), ``mtu=``,
``pcap=``. Endpoints with the same
attachment share one stack, stopped when the reactor shuts down. ``stack=NAME`` uses a
stack registered with :func:`register_stack` instead (tests, or a stack built by hand).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import (
    IStreamClientEndpointStringParserWithReactor,
    IStreamServerEndpointStringParser,
)
from twisted.plugin import IPlugin
from zope.interface import implementer

from pystack.twisted.endpoints import PystackClientEndpoint, PystackServerEndpoint

__all__ = ["PystackClientParser", "PystackServerParser", "register_stack", "stack_for"]

ATTACH_OPTIONS = ("tap", "interface", "ip", "ip6", "gateway", "mac", "mtu", "pcap")
_named: dict[str, Any] = {}
_attached: dict[tuple[Any, ...], Any] = {}


def register_stack(name: str, stack: Any) -> None:
    """Make ``stack`` reachable from endpoint strings as ``stack=NAME``."""
    _named[name] = stack


def stack_for(reactor: Any, options: dict[str, str]) -> Any:
    """The stack an endpoint string asks for; pops the attachment options it used."""
    name = options.pop("stack", None)
    attach = {k: options.pop(k) for k in ATTACH_OPTIONS if k in options}
    if name is not None:
        if attach:
            raise ValueError(f"stack={name} excludes {', '.join(sorted(attach))}")
        if name not in _named:
            raise ValueError(f"no stack registered as {name!r} (pystack.twisted.register_stack)")
        return _named[name]
    if not ("tap" in attach or "interface" in attach):
        raise ValueError("a pystack endpoint needs tap=DEVICE or interface=NAME (or stack=NAME)")
    key = (id(reactor), *sorted(attach.items()))
    stack = _attached.get(key)
    if stack is None:
        stack = _attach(reactor, attach)
        _attached[key] = stack
    return stack


def _attach(reactor: Any, attach: dict[str, str]) -> Any:
    from pystack.stack import PyStack

    kwargs: dict[str, Any] = dict(attach)
    if "mtu" in kwargs:
        kwargs["mtu"] = int(kwargs["mtu"])
    stack = PyStack(clock=reactor, **kwargs)
    add_trigger = getattr(reactor, "addSystemEventTrigger", None)
    if add_trigger is not None:
        add_trigger("before", "shutdown", stack.stop)
    return stack


def _take(args: list[str], kwargs: dict[str, str], name: str) -> str:
    if name in kwargs:
        return kwargs.pop(name)
    if args:
        return args.pop(0)
    raise ValueError(f"a pystack endpoint needs a {name}")


def _no_leftovers(args: list[str], kwargs: dict[str, str]) -> None:
    if args or kwargs:
        extra = [*args, *(f"{k}=" for k in kwargs)]
        raise ValueError(f"unknown pystack endpoint arguments: {', '.join(extra)}")


@implementer(IPlugin, IStreamServerEndpointStringParser)
class PystackServerParser:
    """``pystack:PORT:OPTIONS`` -> :class:`PystackServerEndpoint`."""

    prefix = "pystack"

    def parseStreamServer(self, reactor: Any, *args: str, **kwargs: str) -> PystackServerEndpoint:
        rest, opts = list(args), dict(kwargs)
        port = int(_take(rest, opts, "port"))
        backlog = int(opts.pop("backlog", 50))
        interface = opts.pop("listen_ip", "")
        stack = stack_for(reactor, opts)
        _no_leftovers(rest, opts)
        return PystackServerEndpoint(stack, port, backlog=backlog, interface=interface)


@implementer(IPlugin, IStreamClientEndpointStringParserWithReactor)
class PystackClientParser:
    """``pystack:HOST:PORT:OPTIONS`` -> :class:`PystackClientEndpoint`."""

    prefix = "pystack"

    def parseStreamClient(self, reactor: Any, *args: str, **kwargs: str) -> PystackClientEndpoint:
        rest, opts = list(args), dict(kwargs)
        host = _take(rest, opts, "host")
        port = int(_take(rest, opts, "port"))
        timeout = float(opts.pop("timeout", 30))
        stack = stack_for(reactor, opts)
        _no_leftovers(rest, opts)
        return PystackClientEndpoint(stack, host, port, timeout=timeout)
