"""Per-layer counters and drops by reason, printable like ``netstat -s``.

Layers count events with :meth:`Stats.incr` and every dropped packet with
:meth:`Stats.drop` under a member of their own ``enum.Enum`` of reasons, so a
test (or a person) can ask exactly why a packet went nowhere.

Layer names are case-insensitive and printed as ``netstat -s`` prints its sections, with
only the first letter upper case (``Ip:``, ``Icmp:``, ``Tcp:``, ``Udp:``, ``Arp:``), so
``stats.get("IP", ...)``, ``stats.get("ip", ...)`` and ``stats.get("Ip", ...)`` read the
same counter.
"""

from __future__ import annotations

import enum
from collections import defaultdict

_NAMES: dict[str, str] = {}


def layer_name(layer: str) -> str:
    """The name a layer's counters are kept and printed under: ``"IP"`` -> ``"Ip"``."""
    name = _NAMES.get(layer)
    if name is None:
        name = _NAMES[layer] = layer[:1].upper() + layer[1:].lower()
    return name


class Stats:
    """Counters keyed by (layer, name); drops keyed by (layer, reason)."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._drops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def incr(self, layer: str, counter: str, n: int = 1) -> None:
        """Add ``n`` to ``layer``'s ``counter``."""
        self._counters[_NAMES.get(layer) or layer_name(layer)][counter] += n

    def drop(self, layer: str, reason: enum.Enum, n: int = 1) -> None:
        """Count ``n`` packets dropped by ``layer`` for ``reason``."""
        self._drops[_NAMES.get(layer) or layer_name(layer)][reason.name.lower()] += n

    def get(self, layer: str, counter: str) -> int:
        """The value of one counter (0 when never incremented)."""
        return self._counters.get(layer_name(layer), {}).get(counter, 0)

    def drops(self, layer: str | None = None) -> dict[str, int]:
        """Drops by reason for one layer, or ``{"layer.reason": n}`` for all layers."""
        if layer is not None:
            return dict(self._drops.get(layer_name(layer), {}))
        return {f"{lay}.{r}": n for lay, by in self._drops.items() for r, n in by.items()}

    def dropped(self, layer: str, reason: enum.Enum | str) -> int:
        """How many packets ``layer`` dropped for ``reason``."""
        key = reason.name.lower() if isinstance(reason, enum.Enum) else reason
        return self._drops.get(layer_name(layer), {}).get(key, 0)

    def total_drops(self) -> int:
        """Packets dropped by every layer, for every reason."""
        return sum(n for by in self._drops.values() for n in by.values())

    def counters(self, layer: str) -> dict[str, int]:
        """Every counter of one layer."""
        return dict(self._counters.get(layer_name(layer), {}))

    def __str__(self) -> str:
        lines: list[str] = []
        for layer in sorted(set(self._counters) | set(self._drops)):
            lines.append(f"{layer}:")
            for name, n in sorted(self._counters.get(layer, {}).items()):
                lines.append(f"    {n} {name.replace('_', ' ')}")
            for reason, n in sorted(self._drops.get(layer, {}).items()):
                lines.append(f"    {n} dropped: {reason.replace('_', ' ')}")
        return "\n".join(lines)
