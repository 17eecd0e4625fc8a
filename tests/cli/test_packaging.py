"""A non-editable install ships the machine declarations and loads them.

The project is copied to a temporary directory, installed from there with pip into a
target directory (a real wheel build, not the editable install of the development venv),
and a separate interpreter that cannot see the source tree imports ``pystack.fsm`` from the
installed copy and loads every machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pystack import fsm

REPO = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import argparse, json, sys
    sys.path.insert(0, sys.argv[1])
    import pystack, pystack.fsm as fsm
    from pystack.clicmd import diagrams
    assert pystack.__file__.startswith(sys.argv[1]), pystack.__file__
    loaded = {}
    for name in fsm.machine_names():
        compiled = fsm.CompiledMachine(fsm.load_spec(name))
        loaded[name] = sorted(map(list, compiled.spec.edges()))
    check = diagrams.run(argparse.Namespace(
        out=__import__("pathlib").Path(sys.argv[2]), check=True, classes=None, machines=None))
    print(json.dumps({"file": pystack.fsm.__file__, "machines": loaded, "check": check}))
    """
)


def _copy_project(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    for package in ("pystack", "twisted"):
        if (REPO / package).is_dir():
            shutil.copytree(REPO / package, dest / package, ignore=ignore)


def _pip_install(source: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """``pip install --target``: with the venv's setuptools when it can build wheels, else
    in pip's isolated build environment (which fetches setuptools and wheel)."""
    base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target"]
    result = None
    for extra in (["--no-build-isolation"], []):
        shutil.rmtree(target, ignore_errors=True)
        cmd = [*base, str(target), *extra, str(source)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode == 0:
            break
    assert result is not None
    return result


@pytest.mark.timeout(120)
def test_non_editable_install_loads_every_machine(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "site"
    source.mkdir()
    _copy_project(source)
    install = _pip_install(source, target)
    assert install.returncode == 0, install.stderr
    assert sorted(p.name for p in (target / "pystack" / "machines").glob("*.toml")) == sorted(
        f"{name}.toml" for name in fsm.machine_names()
    )
    probe = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(target), str(REPO / "diagrams")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    assert result["file"].startswith(str(target))
    assert set(result["machines"]) == set(fsm.machine_names())
    for name, edges in result["machines"].items():
        assert {tuple(e) for e in edges} == fsm.load_spec(name).edges()
    assert result["check"] == 0  # the installed package renders the committed diagrams
