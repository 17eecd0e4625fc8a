"""The command-line options of a program that runs a stack on a real device.

A program of your own takes the options the ``pystack`` commands take (``--tap`` or
``--interface``, ``--ip``, ``--gateway``, ``--mac``, ``--mtu``, ``--pcap``) with
:func:`add_options`, and opens the stack they describe with :func:`make_stack` (or
:func:`attached_stack`, which stops it when the block ends)::

    parser = argparse.ArgumentParser()
    add_options(parser)
    stack = make_stack(parser.parse_args())

``make_stack`` raises ``CommandError`` when the device cannot be opened (no root, no such
device, options that do not fit together), with the message to show.
"""

from __future__ import annotations

from pystack.clicmd._attach import CommandError, add_options, attached_stack, make_stack

__all__ = ["CommandError", "add_options", "attached_stack", "make_stack"]
