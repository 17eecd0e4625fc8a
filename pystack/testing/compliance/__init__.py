"""The RFC compliance table: a catalogue of requirements, tests that name them, a table.

Tests show a requirement by carrying ``@pytest.mark.requirement("RFC9293:MUST-2")``.
:mod:`~pystack.testing.compliance.plugin` records how the marked tests ended,
:mod:`~pystack.testing.compliance.table` turns the catalogue
(``requirements.toml``) and those outcomes into ``docs/compliance.md``, and ``pystack
compliance`` runs the whole thing from a checkout of the project.
"""

from pystack.testing.compliance.catalogue import Requirement, load_catalogue
from pystack.testing.compliance.table import Verdict, render, verdicts

__all__ = ["Requirement", "Verdict", "load_catalogue", "render", "verdicts"]
