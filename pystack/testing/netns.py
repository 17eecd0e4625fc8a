"""Former home of the network-namespace helpers, kept so existing imports keep working.

The helpers are production code now (the kernel filter needs them), in :mod:`pystack.netns`;
this module re-exports the same objects. New code should import ``pystack.netns``.
"""

from __future__ import annotations

from pystack.netns import CLONE_NEWNET, NETNS_DIR, enter, enter_fd, exists, ip, listing, popen, run

__all__ = [
    "CLONE_NEWNET",
    "NETNS_DIR",
    "enter",
    "enter_fd",
    "exists",
    "ip",
    "listing",
    "popen",
    "run",
]
