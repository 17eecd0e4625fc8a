"""Twisted over the stack: an ``ITCPTransport`` for a TCP session and stream endpoints.

``PystackServerEndpoint(stack, port).listen(factory)`` serves any Twisted factory
(twisted.web's ``Site``, twisted.conch's ``SSHFactory``) on the stack;
``PystackClientEndpoint(stack, host, port).connect(factory)`` connects one. Endpoint
strings (``pystack:8080:tap=tap0:ip=198.18.0.2/24``) are parsed by
:mod:`pystack.twisted.strports`, which the ``twisted/plugins/pystack_endpoints.py`` plugin
exposes to ``serverFromString``, ``clientFromString`` and ``twist --listen``.
"""

from pystack.twisted.endpoints import ListeningPort, PystackClientEndpoint, PystackServerEndpoint
from pystack.twisted.transport import SessionTransport, close_failure

__all__ = [
    "ListeningPort",
    "PystackClientEndpoint",
    "PystackServerEndpoint",
    "SessionTransport",
    "close_failure",
]
