"""Running the named properties on a class, and reporting: text lines, JSON, ladders.

::

    from pystack.testing.conformance import run_suite, report_lines
    results = run_suite(MySession, examples=50, seed=1)
    print("\\n".join(line for r in results for line in report_lines(r)))
"""

from __future__ import annotations

import fnmatch
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import seed as use_seed
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

from pystack.layers.tcp_session import TCPSession
from pystack.testing.conformance import arrivals as _arrivals  # noqa: F401 - registers
from pystack.testing.conformance import calls as _calls  # noqa: F401 - registers
from pystack.testing.conformance.recording import Trace, begin, current
from pystack.testing.conformance.registry import PROPERTIES, Property

__all__ = ["Result", "report_lines", "result_json", "run_property", "run_suite", "select",
           "write_ladder"]  # fmt: skip

STEPS = 30  # rules per run of the two-stack machine
# The order of the report: the user calls of RFC 9293 §3.10.1-§3.10.6, then §3.10.7 and
# the timeouts, then two whole stacks.
AREAS = ("open", "send", "receive", "close", "abort", "status", "segment_arrives", "timeout",
         "connection")  # fmt: skip


@dataclass
class Result:
    """The outcome of one property: ``status`` is "passed" or "failed"; ``examples`` how
    many examples ran (a failure's count includes the runs that shrank it)."""

    prop: Property
    status: str
    examples: int
    message: str = ""
    trace: Trace | None = None
    steps: list[str] = field(default_factory=list)
    ladder: list[Path] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The property's name."""
        return self.prop.name


def select(patterns: Sequence[str] = ()) -> list[Property]:
    """The properties whose names match one of ``patterns`` (shell-style, or a prefix such
    as ``abort.``); all of them without patterns."""
    ordered = sorted(PROPERTIES.values(), key=lambda p: AREAS.index(p.name.split(".")[0]))
    if not patterns:
        return ordered
    return [p for p in ordered if any(_matches(p.name, pat) for pat in patterns)]


def _matches(name: str, pattern: str) -> bool:
    return name.startswith(pattern) or fnmatch.fnmatch(name, pattern)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples, deadline=None, database=None, print_blob=False,
        report_multiple_bugs=False, verbosity=Verbosity.normal,
        suppress_health_check=list(HealthCheck), stateful_step_count=STEPS,
    )  # fmt: skip


def _runner(p: Property, cls: type[TCPSession], examples: int, seed: int | None,
            count: list[int]) -> Any:  # fmt: skip
    if p.machine is not None:
        base = p.machine(cls)

        def counted_init(self: Any) -> None:
            count[0] += 1
            base.__init__(self)

        machine = type(base.__name__, (base,), {"__init__": counted_init})
        if seed is not None:
            machine = use_seed(seed)(machine)
        return lambda: run_state_machine_as_test(machine, settings=_settings(examples))

    @given(args=st.fixed_dictionaries(p.strategies), data=st.data())
    def test(args: dict[str, Any], data: st.DataObject) -> None:
        count[0] += 1
        begin()
        p.check(cls, data, **args)

    test.__name__ = p.name.replace(".", "_")
    test = _settings(examples)(test)
    return use_seed(seed)(test) if seed is not None else test


def run_property(p: Property, cls: type[TCPSession], *, examples: int = 100,
                 seed: int | None = None) -> Result:  # fmt: skip
    """Run one property on ``cls``; a failure keeps its shrunk counterexample."""
    count = [0]
    reported: list[str] = []  # hypothesis's account of the failing example
    try:
        with with_reporter(lambda text: reported.extend(str(text).splitlines())):
            _runner(p, cls, examples, seed, count)()
    except Exception as exc:  # any failure of the class under test is a finding
        message = _message(exc)
        notes = [line for note in getattr(exc, "__notes__", []) for line in note.splitlines()]
        steps = _machine_steps(p, cls, reported + notes)
        return Result(p, "failed", count[0], message, current(), steps)
    return Result(p, "passed", count[0])


def _message(exc: BaseException) -> str:
    """What a failure says: an assertion's message, else what was raised and where."""
    if isinstance(exc, AssertionError) and str(exc):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"raised {type(exc).__name__}{where}: {exc}".rstrip(": ")


def _machine_steps(p: Property, cls: type[TCPSession], lines: list[str]) -> list[str]:
    """The rules a failing two-stack run took, in order (its invariant checks left out:
    they run after every step); nothing for the other properties, whose ladder says all."""
    if p.machine is None:
        return []
    machine = p.machine(cls)
    calls = [line.strip() for line in lines if line.strip().startswith("state.")]
    return [c for c in calls if not _is_invariant(getattr(machine, c[6:].split("(")[0], None))]


def _is_invariant(method: Any) -> bool:
    # hypothesis marks an @invariant() method with this attribute (hypothesis.stateful).
    return getattr(method, "hypothesis_stateful_invariant", None) is not None


def run_suite(cls: type[TCPSession], *, examples: int = 100, seed: int | None = None,
              only: Sequence[str] = ()) -> Iterable[Result]:  # fmt: skip
    """Run the selected properties (`select`) on ``cls``, one result at a time."""
    for p in select(only):
        yield run_property(p, cls, examples=examples, seed=seed)


# ------------------------------------------------------------------------- reporting


def report_lines(result: Result) -> list[str]:
    """``PASS name (N examples)``, or ``FAIL name`` and the counterexample as a ladder."""
    if result.status == "passed":
        return [f"PASS {result.name} ({result.examples} examples)"]
    p = result.prop
    lines = [f"FAIL {result.name}", f"    checks: {p.checks} ({p.section})"]
    trace = result.trace
    if trace is not None and (trace.events or trace.states):
        roles = ", ".join(f"{trace.names.get(h, h)} = {r}" for h, r in trace.roles.items())
        lines.append(f"    counterexample ({roles}):")
        lines += [f"      {line}" for line in _shortened(trace.lines())]
        lines.append("    states:")
        lines += [f"      {line}" for line in trace.state_lines()]
    if result.steps:
        lines.append("    steps:")
        lines += [f"      {line.strip()}" for line in result.steps]
    expected, happened = _split(result)
    lines += [f"    expected: {expected}", f"    happened: {happened}"]
    if result.ladder:
        lines.append(f"    ladder: {', '.join(str(p) for p in result.ladder)}")
    return lines


def _shortened(lines: list[str], keep: int = 24) -> list[str]:
    """The first and last ``keep`` lines of a long ladder (the SVG has all of them)."""
    if len(lines) <= 2 * keep + 1:
        return lines
    return [*lines[:keep], f"... {len(lines) - 2 * keep} more lines ...", *lines[-keep:]]


def result_json(result: Result) -> dict[str, Any]:
    """One property's result as the JSON object docs/conformance.md describes."""
    out: dict[str, Any] = {
        "name": result.name, "section": result.prop.section, "checks": result.prop.checks,
        "status": result.status, "examples": result.examples, "counterexample": None,
    }  # fmt: skip
    if result.status == "failed":
        trace = result.trace or Trace()
        expected, happened = _split(result)
        out["counterexample"] = {
            "events": [e.as_json(trace.names) for e in trace.events],
            "states": {
                h: {"name": trace.names.get(h, h), "role": trace.roles.get(h, ""), "states": s}
                for h, s in trace.states.items()
            },
            "steps": result.steps,
            "message": result.message,
            "expected": expected,
            "happened": happened,
            "ladder": [str(p) for p in result.ladder],
        }
    return out


def _split(result: Result) -> tuple[str, str]:
    """What was expected and what happened: from the message, else the property's
    sentence and the message (the segment oracle says both in one line)."""
    message = result.message.strip() or "(no message)"
    if message.startswith("expected: ") and "\nhappened: " in message:
        expected, happened = message[len("expected: ") :].split("\nhappened: ", 1)
        return expected, happened
    return result.prop.checks, message


def write_ladder(result: Result, directory: Path, title: str) -> list[Path]:
    """Draw a failure's counterexample as ``NAME.svg`` and ``NAME.html`` in ``directory``."""
    from pystack.ladder import Decoder, Transition, render_ladder, render_ladder_html

    trace = result.trace or Trace()
    decoder = Decoder()
    frames = [decoder.tcp(e.time, e.src, e.dst, e.seg) for e in trace.events if e.seg is not None]
    transitions = [Transition(e.time, e.host, e.machine, e.old, e.new, e.trigger)
                   for e in trace.events if e.seg is None]  # fmt: skip
    lanes = {h: f"{trace.names.get(h, h)}: {r}" for h, r in trace.roles.items()}
    directory.mkdir(parents=True, exist_ok=True)
    svg, html = directory / f"{result.name}.svg", directory / f"{result.name}.html"
    svg.write_text(render_ladder(frames, transitions, macs=lanes, title=title), "utf-8")
    html.write_text(render_ladder_html(frames, transitions, macs=lanes, title=title), "utf-8")
    result.ladder = [svg, html]
    return result.ladder
