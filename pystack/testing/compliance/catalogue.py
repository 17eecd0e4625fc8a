"""The requirement catalogue: every row of the summary tables the table reports on."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
# "tested": the row is shown only by a passing test that names it. The others say why
# no test can show it; "untested" is not yet named by any test (`--check` fails on it).
STATUSES = ("tested", "untested", "not implemented", "not applicable")


class CatalogueError(ValueError):
    """The catalogue file is malformed: a row lacks a field, repeats an id, and so on."""


@dataclass(frozen=True)
class Requirement:
    """One requirement row: ``RFC9293:MUST-2`` or ``RFC1122:3.2.1.1-version``."""

    id: str
    level: str
    topic: str
    text: str
    status: str
    reason: str = ""

    @property
    def rfc(self) -> str:
        """The RFC the row comes from, e.g. ``RFC9293``."""
        return self.id.split(":", 1)[0]


def default_path() -> Path:
    """The catalogue shipped with the package, or the file PYSTACK_REQUIREMENTS names (the
    command's own tests use a small one; the pytest it starts inherits the variable)."""
    override = os.environ.get("PYSTACK_REQUIREMENTS")
    if override:
        return Path(override)
    return Path(str(resources.files(__package__).joinpath("requirements.toml")))


def load_catalogue(path: Path | None = None) -> list[Requirement]:
    """Parse and check the catalogue: unique ids, known levels and statuses, reasons given."""
    data = tomllib.loads((path or default_path()).read_text(encoding="utf-8"))
    rows: list[Requirement] = []
    seen: set[str] = set()
    for raw in data.get("requirement", []):
        try:
            row = Requirement(**raw)
        except TypeError as exc:
            raise CatalogueError(f"bad row {raw!r}: {exc}") from None
        _check_row(row, seen)
        seen.add(row.id)
        rows.append(row)
    return rows


def _check_row(row: Requirement, seen: set[str]) -> None:
    if row.id in seen:
        raise CatalogueError(f"{row.id}: the id appears twice")
    if ":" not in row.id or not row.id.startswith("RFC"):
        raise CatalogueError(f"{row.id}: an id reads RFCnnnn:NAME")
    if row.level not in LEVELS:
        raise CatalogueError(f"{row.id}: level {row.level!r} is not one of {LEVELS}")
    if row.status not in STATUSES:
        raise CatalogueError(f"{row.id}: status {row.status!r} is not one of {STATUSES}")
    if row.status in ("not implemented", "not applicable") and not row.reason:
        raise CatalogueError(f"{row.id}: a row {row.status} needs a reason")
