"""The named properties of the conformance suite and how each one is declared.

A property is a function ``check(session_class, data, **drawn)`` that builds what it needs
(a `RecordedHarness`, or two stacks), acts, and raises AssertionError with an
``expected: ...`` / ``happened: ...`` message when the class under test does not do what
the RFC requires. ``drawn`` comes from the property's strategies; ``data`` draws the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from pystack.testing.harness import tcpdump
from pystack.wire import tcp as tcpwire

__all__ = ["PROPERTIES", "Property", "expect", "prop", "segment_lines"]

MOD = 1 << 32
# ISS/IRS values that put the 2**32 wrap right in the window, and any other.
NEAR_WRAP = (MOD - 1, MOD - 2, MOD - 100, MOD - 1000, MOD - 30000, 2**31 - 10, 0, 10_000)
SEQUENCE = st.one_of(st.sampled_from(NEAR_WRAP), st.integers(0, MOD - 1))


@dataclass(frozen=True)
class Property:
    """One named requirement area: ``name`` (``area.what_it_checks``), the RFC sections
    it checks (``section``), one sentence saying what (``checks``)."""

    name: str
    section: str
    checks: str
    check: Callable[..., None]
    strategies: dict[str, st.SearchStrategy[Any]] = field(default_factory=dict)
    machine: Any = None
    """For the two-stack property: a function of the class giving a hypothesis
    `RuleBasedStateMachine` (``check`` is then unused)."""


PROPERTIES: dict[str, Property] = {}


def prop(
    name: str, section: str, checks: str, **strategies: st.SearchStrategy[Any]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register ``check`` as the property ``name``; ``strategies`` draw its arguments."""

    def register(check: Callable[..., None]) -> Callable[..., None]:
        PROPERTIES[name] = Property(name, section, checks, check, strategies)
        return check

    return register


def segment_lines(segs: Sequence[tcpwire.TcpSegment]) -> str:
    """What a session sent, as tcpdump-like lines (or "nothing sent")."""
    return "; ".join(tcpdump(s) for s in segs) or "nothing sent"


def expect(ok: bool, expected: str, happened: object) -> None:
    """Fail with ``expected: ...`` / ``happened: ...`` unless ``ok``."""
    if not ok:
        raise AssertionError(f"expected: {expected}\nhappened: {happened}")
