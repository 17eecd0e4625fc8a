"""Former home of the namespace lab, kept so existing imports keep working.

The lab is product code now (``pystack lab`` and ``pystack cleanup`` use it), in
:mod:`pystack.lab`; this module re-exports the same objects, with the pytest fixtures
``veth_lab``, ``tap_lab`` and ``shared_lab``.
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
    shared_lab,
    sweep_stale,
    tap_lab,
    veth_lab,
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
    "shared_lab",
    "sweep_stale",
    "tap_lab",
    "veth_lab",
]
