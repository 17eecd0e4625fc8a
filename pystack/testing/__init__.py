"""What users need to test their own protocol code: hypothesis strategies, harnesses, the lab."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where thorough settings apply."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def examples(ci: int, dev: int = 50) -> int:
    """Number of hypothesis examples: ``ci`` under CI, ``dev`` otherwise."""
    return ci if in_ci() else dev
