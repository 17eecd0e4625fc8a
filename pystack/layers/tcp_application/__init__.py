"""The 2013 PyStack's import path of ``TCPApplication``; it lives in :mod:`pystack.apps`."""

from pystack.apps.tcp_application import TCPApplication

__all__ = ["TCPApplication"]
