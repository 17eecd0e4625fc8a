"""Multicast Listener Discovery version 2 for a host, minimal (RFC 3810).

The stack joins the solicited-node group of each of its addresses; a switch that snoops
MLD forwards a group's frames only to ports that reported it, so a host that never
reports misses the solicitations for its own addresses. :class:`MldHost` sends an
unsolicited Report when a group is joined, once more after a random delay (§6.1:
Robustness Variable 2), and a Current State Report of every group after a random delay
when a Query arrives (§6.2). The all-nodes group is never reported (§6). Groups are not
left, so no Leave is ever sent; source filtering is not used (every record is EXCLUDE
with no sources).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pystack.wire import mld

if TYPE_CHECKING:
    from pystack.layers.ipv6 import IPv6Protocol

__all__ = ["MldHost"]

ALL_NODES: Final = "ff02::1"
UNSOLICITED_REPORT_INTERVAL: Final = 1.0  # RFC 3810 §9.11
ROBUSTNESS_VARIABLE: Final = 2  # RFC 3810 §9.1


class MldHost:
    """The state-change and current-state reports of one interface."""

    def __init__(self, ip6: IPv6Protocol, *, enabled: bool = True) -> None:
        self.ip6 = ip6
        self.enabled = enabled
        self.reported: set[str] = set()
        """The groups whose joining was reported (each once)."""
        self._changed: set[str] = set()
        self._flush: Any = None
        self._query_reply: Any = None
        self._calls: list[Any] = []

    def joined(self, group: str) -> None:
        """§6.1: a State Change Report for ``group`` now (batched with the groups joined
        in the same instant) and Robustness Variable - 1 more at random times within the
        Unsolicited Report Interval."""
        if not self.enabled or group in (ALL_NODES, *self.reported) or self.ip6.ctx is None:
            return
        self.reported.add(group)
        self._changed.add(group)
        if self._flush is None:
            self._flush = self._later(0, self._send_changes)

    def _send_changes(self) -> None:
        self._flush = None
        groups, self._changed = sorted(self._changed), set()
        records = tuple(mld.AddressRecord(mld.CHANGE_TO_EXCLUDE, g) for g in groups)
        self._send(records, "mld_reports_sent")
        for _ in range(ROBUSTNESS_VARIABLE - 1):
            delay = self.ip6.rng.uniform(0, UNSOLICITED_REPORT_INTERVAL)
            self._later(delay, self._send, records, "mld_reports_repeated")

    def rcv_query(self, query: mld.Query) -> None:
        """§6.2: answer after a random delay within the Maximum Response Delay, one
        pending answer at a time; a General Query (address ::) asks for every group."""
        if not self.enabled or self._query_reply is not None:
            return
        delay = self.ip6.rng.uniform(0, max(query.max_response_delay, 0.0))
        self._query_reply = self._later(delay, self._answer, query.address)

    def _answer(self, address: str) -> None:
        self._query_reply = None
        groups = sorted(g for g in self.ip6.groups if g != ALL_NODES)
        if address != "::":
            groups = [g for g in groups if g == address]
        if groups:
            records = tuple(mld.AddressRecord(mld.MODE_IS_EXCLUDE, g) for g in groups)
            self._send(records, "mld_query_reports_sent")

    def _later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any:
        self._calls = [c for c in self._calls if c.active()]
        call = self.ip6.clock.callLater(delay, fn, *args)
        self._calls.append(call)
        return call

    def stop(self) -> None:
        for call in self._calls:
            if call.active():
                call.cancel()
        self._calls = []

    def _send(self, records: tuple[mld.AddressRecord, ...], counter: str) -> None:
        if not self.enabled or not records:
            return
        self.ip6.stats.incr(self.ip6.name, counter)
        self.ip6.send_mld_report(mld.report(records))
