"""examples/dns_lookup.py on the simulated wire: what its user sees."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dns_lookup.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dns_lookup_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_resolves_a_cname_truncated_and_nxdomain() -> None:
    lines: list[str] = []
    assert load().main(["www.lab", "alias.lab", "big.lab", "nope.lab"], say=lines.append) == 0
    assert lines[0] == "www.lab: 198.18.0.10 (ttl 60)"
    assert lines[1] == "alias.lab (alias of www.lab): 198.18.0.10 (ttl 60)"
    assert lines[2].count("198.18.3.") == 40
    assert lines[3].startswith("nope.lab: NXDomainError")


def test_example_aaaa_and_nodata() -> None:
    lines: list[str] = []
    load().main(["--type", "AAAA", "v6.lab", "www.lab"], say=lines.append)
    assert lines == [
        "v6.lab: 2001:db8::10 (ttl 60)",
        "www.lab: NoDataError: No address associated with hostname (www.lab: no AAAA record)",
    ]
