"""Former home of the namespace lab, kept so existing imports keep working.

The lab is product code now (``pystack lab`` and ``pystack cleanup`` use it), in
:mod:`pystack.lab`; this module re-exports the same objects.
"""

from __future__ import annotations

from pystack.lab import (
    KERNEL_IP,
    PREFIX,
    PREFIXLEN,
    STACK_IP,
    STATE_DIR,
    Lab,
    LabInfo,
    kernel_ping,
    lab,
    lossy_stack,
    owner_pid,
    sweep_stale,
)

__all__ = [
    "KERNEL_IP",
    "PREFIX",
    "PREFIXLEN",
    "STACK_IP",
    "STATE_DIR",
    "Lab",
    "LabInfo",
    "kernel_ping",
    "lab",
    "lossy_stack",
    "owner_pid",
    "sweep_stale",
]
