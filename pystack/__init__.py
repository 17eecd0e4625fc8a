"""PyStack: a TCP/IP stack in user space, built from declared state machines.

The names a program needs first are here::

    from pystack import PyStack, TCPApplication, UDPApplication

    stack = PyStack()              # the default stack: the default route's interface
    stack = PyStack(tap="tap0", ip="198.18.0.2/24")    # any argument: a new stack

The documented entry points of the 2013 PyStack keep working::

    from pystack.pystack import PyStack
    from pystack.layers.tcp_application import TCPApplication
    import pystack.pystack_socket as socket

Each name is imported on first use, so ``import pystack`` alone stays cheap.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing itself is not imported: ``import pystack`` stays light

__version__ = "2.0.0.dev0"

# name -> the module that defines it
_EXPORTS = {
    "PyStack": "pystack.stack",
    "TCPApplication": "pystack.apps.tcp_application",
    "UDPApplication": "pystack.apps.udp_application",
    "TCPSession": "pystack.tcp.session",
    "TcpConfig": "pystack.tcp.config",
    "IcmpRateLimit": "pystack.layers.icmp",
    "PrivilegeError": "pystack.errors",
}

__all__ = [
    "IcmpRateLimit",
    "PrivilegeError",
    "PyStack",
    "TCPApplication",
    "TCPSession",
    "TcpConfig",
    "UDPApplication",
]

if TYPE_CHECKING:
    from typing import Any

    from pystack.apps.udp_application import UDPApplication
    from pystack.errors import PrivilegeError
    from pystack.layers.icmp import IcmpRateLimit
    from pystack.layers.tcp_application import TCPApplication
    from pystack.stack import PyStack
    from pystack.tcp.config import TcpConfig
    from pystack.tcp.session import TCPSession


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pystack' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
