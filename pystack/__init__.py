"""PyStack: a TCP/IP stack in user space, built from declared state machines.

The documented entry points of the 2013 PyStack keep working::

    from pystack.pystack import PyStack
    from pystack.layers.tcp_application import TCPApplication
    import pystack.pystack_socket as socket
"""

__version__ = "2.0.0.dev0"
