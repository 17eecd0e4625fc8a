"""The documentation site (mkdocs.yml): it builds in strict mode, holds the README, docs/,
the machine diagrams and an API reference from the docstrings, and a broken link or
reference fails the build."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow  # every test builds the documentation site (about 5 s)
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def build(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)


def hooks() -> ModuleType:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        return importlib.import_module("mkdocs_hooks")
    finally:
        sys.path.remove(str(REPO / "scripts"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = build(REPO / "mkdocs.yml", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def page(site: Path, path: str) -> str:
    return (site / path).read_text(encoding="utf-8")


def test_home_page_is_the_readme(site: Path) -> None:
    home = page(site, "index.html")
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("## "):
            assert line[3:].replace("&", "&amp;") in home, line
    # README's links into docs/ land on the site's pages.
    assert 'href="api/"' in home and 'href="real-networks/"' in home
    assert 'src="diagrams/tcp.svg"' in home


def test_every_docs_page_and_diagram_is_on_the_site(site: Path) -> None:
    for md in sorted((REPO / "docs").glob("*.md")):
        assert (site / md.stem / "index.html").is_file(), md.name
    for svg in sorted((REPO / "diagrams").glob("*.svg")):
        assert (site / "diagrams" / svg.name).read_bytes() == svg.read_bytes()
        assert 'class="mermaid"' in page(site, f"diagrams/{svg.stem}/index.html")
    assert "State machines" in page(site, "diagrams/index.html")


def test_api_reference_is_generated_from_the_docstrings(site: Path) -> None:
    modules = hooks().public_modules()
    wanted = [
        "pystack.stack",
        "pystack.tcp.session",
        "pystack.apps.tcp_application",
        "pystack.apps.udp_application",
        "pystack.pystack_socket",
        "pystack.testing.harness",
        "pystack.sim",
        "pystack.wire.tcp",
        "pystack.links.tap",
    ]
    assert set(wanted) <= set(modules)
    assert not [m for m in modules if "._" in m or m.startswith("pystack.clicmd")]
    for module in modules:
        assert (site / "reference" / module / "index.html").is_file(), module
    stack = page(site, "reference/pystack.stack/index.html")
    assert "A whole stack on one link." in stack  # PyStack's docstring
    assert 'id="pystack.stack.PyStack"' in stack
    # The docstrings' Sphinx roles are links to the entries they name, never raw text.
    assert 'href="../pystack.links/#pystack.links.Link"><code>pystack.links.Link</code>' in stack
    for module in modules:
        assert ":class:" not in page(site, f"reference/{module}/index.html"), module


def test_a_broken_link_or_reference_fails_the_strict_build(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for md in (REPO / "docs").glob("*.md"):
        (docs / md.name).write_text(md.read_text())
    api = docs / "api.md"
    api.write_text(
        api.read_text()
        + "\nSee [the missing page](no-such-page.md) and [a class][pystack.stack.NoSuchClass].\n"
    )
    config = (REPO / "mkdocs.yml").read_text()
    config = config.replace("docs_dir: docs", f"docs_dir: {docs}")
    config = config.replace("- scripts/mkdocs_hooks.py", f"- {REPO / 'scripts/mkdocs_hooks.py'}")
    (tmp_path / "mkdocs.yml").write_text(config)
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr
    assert "pystack.stack.NoSuchClass" in done.stderr
