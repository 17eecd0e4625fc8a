"""Applications on the stack: the 2013 PyStack's application API.

- :mod:`~pystack.apps.tcp_application`: :class:`~pystack.apps.tcp_application.TCPApplication`.
- :mod:`~pystack.apps.udp_application`: :class:`~pystack.apps.udp_application.UDPApplication`.
- :mod:`~pystack.apps.calls`: application calls from the user's thread, run in the reactor.
"""
