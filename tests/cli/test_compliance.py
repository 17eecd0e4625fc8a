"""`pystack compliance`: the requirement catalogue, the marker, the generated table and
the two ways `--check` fails (a stale docs/compliance.md, a failing marked test)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pystack.cli import main
from pystack.testing.compliance.catalogue import (
    CatalogueError,
    Requirement,
    default_path,
    load_catalogue,
)
from pystack.testing.compliance.freshness import source_digest
from pystack.testing.compliance.plugin import unknown_ids
from pystack.testing.compliance.table import problems, render, verdicts

REPO = Path(__file__).resolve().parents[2]


def marker_ids() -> dict[str, list[str]]:
    """Every id named by a requirement(...) decorator in tests/, by test function."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func).endswith(
                    "mark.requirement"
                ):
                    ids = [ast.literal_eval(arg) for arg in deco.args]
                    found.setdefault(f"{path.relative_to(REPO)}::{node.name}", []).extend(ids)
    return found


def test_the_catalogue_parses_with_unique_ids_and_covers_appendix_b() -> None:
    rows = load_catalogue()
    ids = [row.id for row in rows]
    assert len(ids) == len(set(ids))
    tcp = {i.split(":")[1] for i in ids if i.startswith("RFC9293:")}
    # RFC 9293 Appendix B: MUST-1..69, SHLD-1..31, MAY-1..18 and REC-1.
    expected = {f"MUST-{n}" for n in range(1, 70)} | {f"SHLD-{n}" for n in range(1, 32)}
    expected |= {f"MAY-{n}" for n in range(1, 19)} | {"REC-1"}
    assert tcp == expected
    for row in rows:
        assert row.text and row.topic
        if row.status in ("not implemented", "not applicable"):
            assert row.reason


def test_the_catalogue_refuses_duplicates_missing_reasons_and_unknown_levels(
    tmp_path: Path,
) -> None:
    row = 'id = "RFC9293:MUST-2"\nlevel = "MUST"\ntopic = "t"\ntext = "x"\n'
    odd_level = row.replace('"MUST"', '"OUGHT"')
    cases = {
        "twice": f"[[requirement]]\n{row}status = 'tested'\n" * 2,
        "needs a reason": f"[[requirement]]\n{row}status = 'not applicable'\n",
        "level": f"[[requirement]]\n{odd_level}status = 'tested'\n",
        "status": f"[[requirement]]\n{row}status = 'done'\n",
    }
    for words, text in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(CatalogueError, match=words):
            load_catalogue(bad)


def test_every_marker_names_a_catalogue_id_and_tested_rows_are_marked() -> None:
    known = {row.id for row in load_catalogue()}
    marks = marker_ids()
    assert len(marks) >= 100
    named = {req for ids in marks.values() for req in ids}
    assert named - known == set()
    tested = {row.id for row in load_catalogue() if row.status == "tested"}
    assert tested <= named, "a row says tested but no test names it"
    assert unknown_ids(["RFC9293:MUST-2", "RFC9293:MUST-999"], frozenset(known)) == [
        "RFC9293:MUST-999"
    ]


def fake() -> tuple[list[Requirement], dict[str, object]]:
    catalogue = [
        Requirement("RFC9293:MUST-2", "MUST", "Checksum", "sender computes it", "tested"),
        Requirement(
            "RFC9293:MUST-30", "MUST", "Urgent", "urgent pointer", "not implemented", "ignored"
        ),
        Requirement(
            "RFC1122:3.3.1-forwarding",
            "MUST NOT",
            "IP",
            "no forwarding",
            "not applicable",
            "a host",
        ),
        Requirement("RFC1122:3.2.1.1-version", "MUST", "IP", "drop version 5", "untested"),
    ]
    results = {
        "tests": {
            "tests/a.py::test_b": {"outcome": "passed", "requirements": ["RFC9293:MUST-2"]},
            "tests/a.py::test_a": {"outcome": "passed", "requirements": ["RFC9293:MUST-2"]},
            "tests/a.py::test_p[x]": {"outcome": "passed", "requirements": ["RFC9293:MUST-2"]},
            "tests/a.py::test_p[y]": {"outcome": "passed", "requirements": ["RFC9293:MUST-2"]},
        }
    }
    return catalogue, results


def test_the_table_of_a_small_catalogue() -> None:
    catalogue, results = fake()
    page = render(catalogue, results)
    assert "| RFC 9293 | MUST | 1 | 0 | 1 | 0 | 2 |" in page
    assert "| RFC 1122 | MUST | 0 | 1 | 0 | 0 | 1 |" in page
    assert "| RFC 1122 | MUST NOT | 0 | 0 | 0 | 1 | 1 |" in page
    assert "| all | all | 1 | 1 | 1 | 1 | 4 |" in page
    assert (
        "| MUST-2 | MUST | Checksum: sender computes it | shown by "
        "`tests/a.py::test_a`<br>`tests/a.py::test_b`<br>`tests/a.py::test_p` (2 cases) |" in page
    )
    assert "| MUST-30 | MUST | Urgent: urgent pointer | not implemented: ignored |" in page
    assert "| 3.3.1-forwarding | MUST NOT | IP: no forwarding | not applicable: a host |" in page
    assert "| 3.2.1.1-version | MUST | IP: drop version 5 | no test yet |" in page
    assert page.index("## RFC 9293") < page.index("## RFC 1122")
    # The untested row is reported, and is the one problem of this catalogue.
    assert [line.split(":")[:3] for line in problems(catalogue, results)] == [
        ["RFC1122", "3.2.1.1-version", " no test yet"]
    ]
    assert render(catalogue, results) == page


def test_a_row_with_no_test_and_no_status_is_a_problem_until_it_gets_one() -> None:
    catalogue, results = fake()
    untested = catalogue[3]
    assert [v.label for v in verdicts(catalogue, results)][3] == "no test yet"
    (only,) = problems(catalogue, results)
    assert only.startswith("RFC1122:3.2.1.1-version: no test yet")
    # A reason it has no test, or a passing test that names it, settles the row.
    for status, reason in (("not implemented", "the version is not checked"),
                           ("not applicable", "not for a host")):  # fmt: skip
        catalogue[3] = Requirement(untested.id, "MUST", "IP", "drop", status, reason)
        assert problems(catalogue, results) == []
    catalogue[3] = Requirement(untested.id, "MUST", "IP", "drop", "tested")
    results["tests"]["tests/a.py::test_v"] = {  # type: ignore[index]
        "outcome": "passed",
        "requirements": [untested.id],
    }
    assert problems(catalogue, results) == []
    # A failing test does not settle it either.
    catalogue[3] = untested
    results["tests"]["tests/a.py::test_v"]["outcome"] = "failed"  # type: ignore[index]
    found = problems(catalogue, results)
    assert any(line.startswith(f"{untested.id}: no test yet") for line in found)


def test_no_catalogue_row_is_left_without_a_test_or_a_status() -> None:
    assert [row.id for row in load_catalogue() if row.status == "untested"] == []


def test_a_failed_test_does_not_show_its_row_and_is_a_problem() -> None:
    catalogue, results = fake()
    results["tests"]["tests/a.py::test_a"]["outcome"] = "failed"  # type: ignore[index]
    (first, *_) = verdicts(catalogue, results)
    assert first.label == "no test yet"
    found = problems(catalogue, results)
    assert any("tests/a.py::test_a: failed" in line for line in found)
    assert any("RFC9293:MUST-2: the catalogue says tested" in line for line in found)
    # The other way round: a passing test on a row said not implemented.
    _, results = fake()
    results["tests"]["tests/a.py::test_c"] = {  # type: ignore[index]
        "outcome": "passed",
        "requirements": ["RFC9293:MUST-30", "RFC9293:MUST-99"],
    }
    found = problems(catalogue, results)
    assert any("MUST-30: tests pass but the catalogue says" in line for line in found)
    assert any("unknown requirement RFC9293:MUST-99" in line for line in found)


def test_the_committed_table_is_what_the_catalogue_gives_with_every_shown_row_tested() -> None:
    page = (REPO / "docs" / "compliance.md").read_text()
    for row in load_catalogue():
        name = row.id.split(":", 1)[1]
        line = next(x for x in page.splitlines() if x.startswith(f"| {name} | {row.level} |"))
        assert ("shown by `tests/" in line) == (row.status == "tested"), line
    assert default_path().is_file()


def copy_checkout(tmp_path: Path) -> Path:
    """A small checkout: the package's compliance pieces are read from the installed
    package; tests/ holds two marked tests, docs/ the table."""
    root = tmp_path / "checkout"
    (root / "tests").mkdir(parents=True)
    (root / "docs").mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "pystack").mkdir()
    return root


def write_tests(root: Path, *, fail: bool) -> None:
    (root / "tests" / "test_fake.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.requirement('RFC9293:MUST-2')\n"
        "def test_checksum():\n"
        f"    assert {not fail}\n"
    )


def compliance(root: Path, *args: str) -> int:
    return main(["compliance", "--root", str(root), *args])


@pytest.fixture
def small_catalogue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command and the plugin in the child pytest read this one-row catalogue."""
    path = tmp_path / "requirements.toml"
    path.write_text(
        '[[requirement]]\nid = "RFC9293:MUST-2"\nlevel = "MUST"\n'
        'topic = "Checksum"\ntext = "sender computes it"\nstatus = "tested"\n'
    )
    monkeypatch.setenv("PYSTACK_REQUIREMENTS", str(path))


@pytest.mark.slow  # starts pytest several times
def test_check_fails_on_a_stale_table_and_on_a_failing_marked_test(
    tmp_path: Path, small_catalogue: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_checkout(tmp_path)
    table = root / "docs" / "compliance.md"
    write_tests(root, fail=False)
    assert compliance(root) == 0
    assert "shown by `tests/test_fake.py::test_checksum`" in table.read_text()
    assert compliance(root, "--check") == 0
    # Stale: someone edited the table by hand.
    table.write_text(table.read_text().replace("shown by", "proved by"))
    assert compliance(root, "--check") == 1
    assert "docs/compliance.md is stale" in capsys.readouterr().err
    assert compliance(root) == 0
    # A marked test fails: the check fails (the table changes, and the test is named).
    write_tests(root, fail=True)
    assert compliance(root, "--check") == 1
    err = capsys.readouterr().err
    assert "tests/test_fake.py::test_checksum: failed" in err
    assert "RFC9293:MUST-2: the catalogue says tested, but no passing test names it" in err


@pytest.mark.slow  # starts pytest several times
def test_recorded_results_are_used_while_fresh_and_ignored_once_a_source_changes(
    tmp_path: Path, small_catalogue: None, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_checkout(tmp_path)
    write_tests(root, fail=False)
    recorded = root / ".pytest-requirements.json"
    run = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--requirements-results={recorded}",
        "tests",
    ]
    assert subprocess.run(run, cwd=root, capture_output=True, check=False).returncode == 0
    record = json.loads(recorded.read_text())
    assert record["digest"] == source_digest(root)
    assert record["tests"] == {
        "tests/test_fake.py::test_checksum": {
            "outcome": "passed",
            "requirements": ["RFC9293:MUST-2"],
        }
    }
    assert compliance(root, "--results", str(recorded)) == 0
    assert "using the outcomes recorded" in capsys.readouterr().out
    # The test changes after the recording (now failing): the record is not trusted.
    write_tests(root, fail=True)
    assert compliance(root, "--check", "--results", str(recorded)) == 1
    assert "older than the sources" in capsys.readouterr().out


def test_an_unknown_id_on_a_marker_fails_that_test(tmp_path: Path, small_catalogue: None) -> None:
    root = copy_checkout(tmp_path)
    (root / "tests" / "test_fake.py").write_text(
        "import pytest\n\n@pytest.mark.requirement('RFC9293:MUST-999')\ndef test_x():\n    pass\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "unknown requirement id(s) ['RFC9293:MUST-999']" in done.stdout
