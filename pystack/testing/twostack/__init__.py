"""Former home of the simulated network, kept so existing imports keep working.

The simulated network is product code now (the demo and the benchmarks run on it), in
:mod:`pystack.sim`; this module re-exports the same objects.
"""

from __future__ import annotations

from pystack.sim import SimNet, WireTap

__all__ = ["SimNet", "WireTap"]
