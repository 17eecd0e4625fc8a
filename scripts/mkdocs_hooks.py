"""MkDocs hooks for the documentation site (mkdocs.yml names this file).

- The home page is README.md, its ``docs/`` links made relative to the docs directory.
- The machine diagrams (``diagrams/``) are pages and pictures of the site as they are.
- Any other repository file README.md links to (an example, say) is copied into the site,
  so the link resolves; a link to a file that does not exist stays broken and fails the
  strict build.
- The API reference: one page per public module of ``pystack`` (``::: module``, rendered by
  mkdocstrings from the docstrings), appended to the navigation by package. The docstrings'
  Sphinx roles (``:class:`pystack.links.Link` ``) become links to the object's entry when
  the reference has one, and plain code otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]
# The command line and the benchmarks are documented by `pystack --help`.
NOT_API = ("pystack.cli", "pystack.clicmd", "pystack.benchmarks")
_LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)(#[^)\s]*)?\)")
# A Sphinx role as it comes out of mkdocstrings: :class:<code>~pkg.mod.Name</code>
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):<code>(~?)([\w.]+)(\(\))?</code>")


def public_modules() -> list[str]:
    """Every module of the package a user may import: no ``_private`` part, no CLI."""
    names = []
    for path in sorted((REPO / "pystack").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if any(p.startswith("_") for p in parts) or name.startswith(NOT_API):
            continue
        names.append(name)
    return names


def home_page() -> str:
    """README.md as the site's home page: links into docs/ become relative to it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return _LINK.sub(lambda m: "](" + m[1].removeprefix("docs/") + (m[2] or "") + ")", text)


def readme_targets() -> list[str]:
    """Repository files (outside docs/) that README.md links to."""
    targets = []
    for match in _LINK.finditer((REPO / "README.md").read_text(encoding="utf-8")):
        target = match[1]
        if not target.startswith("docs/") and (REPO / target).is_file():
            targets.append(target)
    return targets


def _reference_uri(module: str) -> str:
    return f"reference/{module}.md"


def on_config(config: MkDocsConfig, **_: Any) -> MkDocsConfig:
    groups: dict[str, list[dict[str, str]]] = {}
    for module in public_modules():
        package = ".".join(module.split(".")[:2]) if module.count(".") > 1 else "pystack"
        groups.setdefault(package, []).append({module: _reference_uri(module)})
    reference = [{package: pages} for package, pages in groups.items()]
    config.nav = [*(config.nav or []), {"API reference": reference}]
    return config


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    files.append(File.generated(config, "index.md", content=home_page()))
    for path in sorted((REPO / "diagrams").iterdir()):
        if path.suffix in (".md", ".svg"):
            files.append(File.generated(config, f"diagrams/{path.name}", abs_src_path=str(path)))
    for target in readme_targets():
        if files.get_file_from_path(target) is None:
            files.append(File.generated(config, target, abs_src_path=str(REPO / target)))
    for module in public_modules():
        files.append(File.generated(config, _reference_uri(module), content=f"::: {module}\n"))
    return files


def on_page_content(html: str, page: Any, **_: Any) -> str:
    """Sphinx roles -> autorefs (resolved by mkdocs-autorefs; optional: no link, no error,
    when the name is not in the reference, such as ``transitions.Machine``)."""
    module = page.file.src_uri.removeprefix("reference/").removesuffix(".md")

    def autoref(match: re.Match[str]) -> str:
        short, name, call = match[1], match[2], match[3] or ""
        target = name
        # ``Stats.incr`` or ``Malformed`` is relative to the module the page documents;
        # ``transitions.Machine`` (a lower-case first part) is a full name.
        relative = "." not in name or name[0].isupper()
        if relative and page.file.src_uri.startswith("reference/"):
            target = f"{module}.{name}"
        shown = name.rsplit(".", 1)[-1] if short else name
        return f'<autoref identifier="{target}" optional><code>{shown}{call}</code></autoref>'

    return _ROLE.sub(autoref, html)
