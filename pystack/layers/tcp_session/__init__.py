"""The 2013 PyStack's import path of ``TCPSession``; it lives in :mod:`pystack.tcp.session`."""

from pystack.tcp.session import TCPSession

__all__ = ["TCPSession"]
