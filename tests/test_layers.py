"""The package layers hold (import-linter contracts in pyproject.toml), and a forbidden import
breaks them.

Layers, each importing only those below it (ARCHITECTURE of the README, "Package layers"):
cli (``steeltwin.engine.apps``) > service | training > twin > config > models | io > physics
(``steeltwin.engine._*``). Hydra only in the cli; no cycles between the modules of a package;
no private module imported from outside its package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
        "--no-cache"]


def _lint(tree: Path, root: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LINT, str(root / "pyproject.toml")], cwd=tree, text=True,
                          capture_output=True, timeout=300,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def _copy(tmp_path: Path) -> Path:
    """The three packages under tmp_path/steeltwin/ (the installed layout)."""
    for name in ("engine", "models", "training"):
        shutil.copytree(ROOT / name, tmp_path / "steeltwin" / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_contracts_hold():
    done = _lint(ROOT)  # the source tree, as the install maps it
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("engine/_solve.py", "from steeltwin.engine.twin import Twin", "physics"),
    ("engine/config/_build.py", "import hydra", "Hydra"),
    ("engine/twin/_slab.py", "from steeltwin.engine.service import create_app", "Layers"),
    ("training/_train.py", "from steeltwin.engine.apps._entry import EntryPoint", "Private"),
    ("engine/twin/_predict.py", "from ._twin import Twin", "cycles"),
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, contract):
    tree = _copy(tmp_path)
    path = tree / "steeltwin" / module
    text = path.read_text()
    # After the module's own imports: a top-level import, as a careless edit would add it.
    anchor = text.index("\n\n\n", text.index("\nfrom "))
    path.write_text(text[:anchor] + "\n" + line + "  # noqa" + text[anchor:])
    done = _lint(tree)
    assert done.returncode != 0, done.stdout
    broken = [ln for ln in done.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), done.stdout


def test_every_physics_module_is_in_the_physics_contract():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    physics = next(c for c in contracts["contracts"] if c["id"] == "physics")
    modules = {f"steeltwin.engine.{p.stem}" for p in (ROOT / "engine").glob("_*.py")
               if p.stem != "__init__"}
    assert modules == set(physics["source_modules"])
    assert not re.search(r"^\s*(import|from) hydra", (ROOT / "engine/__init__.py").read_text(),
                         re.M)
