"""From the catalogue and the marked tests' outcomes to ``docs/compliance.md``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pystack.testing.compliance.catalogue import LEVELS, Requirement

HEADER = """\
# RFC compliance

This page is generated from the tests: `pystack compliance` (or `make compliance`), run
in a checkout of the project, runs every test marked `@pytest.mark.requirement(...)` with
`python -m pytest -m requirement` and lists each requirement of the
summary tables below with what shows it. A requirement counts as **shown** only when at
least one test that names it passed; `pystack compliance --check` (run by `make test`)
fails when this page is out of date or a marked test fails. Do not edit it by hand.

Catalogue: `pystack/testing/compliance/requirements.toml`. Statuses: **shown** (by the
tests named), **no test yet** (no test names the requirement yet, so this page claims
nothing about it; `--check` fails while any row reads so), **not implemented** and
**not applicable** (with the reason).

RFC 1122 rows are every row of its summary tables for the layers the stack has: link
layer (section 2.5), Internet layer with ICMP (section 3.5) and UDP (section 4.1.5). Its
TCP table (section 4.2.5) is not repeated: RFC 9293 Appendix B replaces it.
"""

SUMMARY_COLUMNS = ("shown", "no test yet", "not implemented", "not applicable")
RFC_TITLES = {
    "RFC9293": "RFC 9293: TCP (Appendix B)",
    "RFC1122": "RFC 1122: hosts, link / IP / ICMP / UDP layers",
}


@dataclass
class Verdict:
    """What the tests say about one requirement."""

    requirement: Requirement
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The summary column the row counts in."""
        if self.passed and not self.failed:
            return "shown"
        if self.requirement.status in ("not implemented", "not applicable"):
            return self.requirement.status
        return "no test yet"


def verdicts(catalogue: Sequence[Requirement], results: Mapping[str, Any]) -> list[Verdict]:
    """One verdict per catalogue row, from ``results['tests']`` (nodeid -> outcome)."""
    by_id = {row.id: Verdict(row) for row in catalogue}
    for nodeid, test in sorted(results.get("tests", {}).items()):
        for req in test["requirements"]:
            if req in by_id:
                target = by_id[req].passed if test["outcome"] == "passed" else by_id[req].failed
                target.append(nodeid)
    return list(by_id.values())


def problems(catalogue: Sequence[Requirement], results: Mapping[str, Any]) -> list[str]:
    """Why the table cannot stand as it is: failed marked tests, unknown ids, rows whose
    status the tests contradict, rows with no test yet. Empty when all is well."""
    known = {row.id for row in catalogue}
    found: list[str] = []
    for nodeid, test in sorted(results.get("tests", {}).items()):
        if test["outcome"] != "passed":
            found.append(
                f"{nodeid}: {test['outcome']} (it names {', '.join(test['requirements'])})"
            )
        found.extend(
            f"{nodeid}: unknown requirement {req}"
            for req in test["requirements"]
            if req not in known
        )
    for verdict in verdicts(catalogue, results):
        row = verdict.requirement
        if row.status == "tested" and verdict.label != "shown":
            found.append(f"{row.id}: the catalogue says tested, but no passing test names it")
        if row.status != "tested" and verdict.passed:
            found.append(f"{row.id}: tests pass but the catalogue says {row.status!r}")
        if row.status == "untested" and not verdict.passed:
            # Every row needs an answer: a passing test, or a reason it has none.
            found.append(
                f"{row.id}: no test yet: name it in a passing test, or record it as "
                "'not implemented' or 'not applicable' with a reason"
            )
    return found


def render(catalogue: Sequence[Requirement], results: Mapping[str, Any]) -> str:
    """The whole page, deterministic for the same catalogue and outcomes."""
    rows = verdicts(catalogue, results)
    out = [HEADER, "## Summary", "", _summary(rows)]
    for rfc in _rfcs(rows):
        out += [f"## {RFC_TITLES.get(rfc, rfc[:3] + ' ' + rfc[3:])}", ""]
        out += ["| Requirement | Level | What | Status |", "|---|---|---|---|"]
        out += [_row(v) for v in rows if v.requirement.rfc == rfc]
        out.append("")
    return "\n".join(out)


def _rfcs(rows: Sequence[Verdict]) -> list[str]:
    names = {v.requirement.rfc for v in rows}
    first = [name for name in RFC_TITLES if name in names]
    return first + sorted(names - set(first), key=lambda n: int(n[3:]))


def _summary(rows: Sequence[Verdict]) -> str:
    counts = Counter((v.requirement.rfc, v.requirement.level, v.label) for v in rows)
    lines = ["| RFC | Level | " + " | ".join(SUMMARY_COLUMNS) + " | total |"]
    lines.append("|---" * (len(SUMMARY_COLUMNS) + 3) + "|")
    for rfc in _rfcs(rows):
        for level in LEVELS:
            cells = [counts[(rfc, level, col)] for col in SUMMARY_COLUMNS]
            if sum(cells):
                numbers = " | ".join(str(n) for n in cells)
                lines.append(f"| {rfc[:3]} {rfc[3:]} | {level} | {numbers} | {sum(cells)} |")
    totals = [sum(1 for v in rows if v.label == col) for col in SUMMARY_COLUMNS]
    lines.append("| all | all | " + " | ".join(str(n) for n in totals) + f" | {len(rows)} |")
    return "\n".join(lines) + "\n"


def _row(verdict: Verdict) -> str:
    row = verdict.requirement
    name = row.id.split(":", 1)[1]
    what = f"{row.topic}: {row.text}".replace("|", "\\|")
    if verdict.label == "shown":
        status = "shown by " + "<br>".join(_test_names(verdict.passed))
    elif verdict.label == "no test yet":
        status = "no test yet" + (f": {row.reason}" if row.reason else "")
    else:
        status = f"{verdict.label}: {row.reason}"
    status = status.replace("|", "\\|")
    return f"| {name} | {row.level} | {what} | {status} |"


def _test_names(nodeids: Sequence[str]) -> list[str]:
    """One entry per test function: the cases of a parametrized test count as one."""
    cases = Counter(nodeid.split("[", 1)[0] for nodeid in nodeids)
    return [f"`{name}`" + (f" ({n} cases)" if n > 1 else "") for name, n in cases.items()]
