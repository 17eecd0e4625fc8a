"""A pytest plugin: the ``requirement`` marker, and a record of how marked tests ended.

Load it with ``-p pystack.testing.compliance.plugin`` (the project's pyproject does).
``--requirements-results FILE`` writes ``{"digest": ..., "tests": {nodeid: {"outcome",
"requirements"}}}`` at the end of the run, for ``pystack compliance --results FILE``. A
marked test that names an id the catalogue does not know fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pystack.testing.compliance.catalogue import load_catalogue
from pystack.testing.compliance.freshness import source_digest

MARKER = "requirement"
_OUTCOMES = pytest.StashKey[dict[str, dict[str, Any]]]()
_KNOWN = pytest.StashKey[frozenset[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("compliance").addoption(
        "--requirements-results",
        metavar="FILE",
        help="write the outcomes of tests marked requirement(...) to FILE (JSON)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*ids): the test shows these requirements (e.g. 'RFC9293:MUST-2'); "
        "see docs/compliance.md",
    )
    config.stash[_OUTCOMES] = {}
    config.stash[_KNOWN] = frozenset(row.id for row in load_catalogue())


def requirement_ids(item: pytest.Item) -> list[str]:
    """The ids every ``requirement`` marker on the item names, in order, once each."""
    ids: list[str] = []
    for marker in item.iter_markers(MARKER):
        ids += [str(arg) for arg in marker.args if str(arg) not in ids]
    return ids


def unknown_ids(ids: list[str], known: frozenset[str]) -> list[str]:
    """The ids that are not in the catalogue."""
    return [req for req in ids if req not in known]


def pytest_runtest_setup(item: pytest.Item) -> None:
    unknown = unknown_ids(requirement_ids(item), item.config.stash[_KNOWN])
    if unknown:
        pytest.fail(f"unknown requirement id(s) {unknown}: add them to the catalogue "
                    "(pystack/testing/compliance/requirements.toml)", pytrace=False)  # fmt: skip


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    ids = requirement_ids(item)
    if ids:
        outcomes = item.config.stash[_OUTCOMES]
        entry = outcomes.setdefault(item.nodeid, {"outcome": "passed", "requirements": ids})
        # Any phase that does not pass decides: a failed teardown spoils a passed call.
        if report.failed:
            entry["outcome"] = "failed"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = session.config.getoption("requirements_results")
    if not target:
        return
    record = {
        "digest": source_digest(Path(str(session.config.rootpath))),
        "tests": session.config.stash[_OUTCOMES],
    }
    Path(target).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
