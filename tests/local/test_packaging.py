"""The local Supabase stack stays out of the product: `coner_api` neither imports nor ships it."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from setuptools.config.setupcfg import read_configuration

REPO = Path(__file__).resolve().parents[2]
STAND_IN = "local_supabase"

# Run from the checkout, where `local_supabase` is importable: an import of it would succeed and show.
IMPORT_THE_PRODUCT = f"""
import importlib, pkgutil, sys
import coner_api
from coner_api import create_app
for module in pkgutil.walk_packages(coner_api.__path__, "coner_api."):
    importlib.import_module(module.name)
loaded = sorted(name for name in sys.modules if name.split(".")[0] == {STAND_IN!r})
assert not loaded, loaded
"""


def test_importing_every_product_module_loads_nothing_of_the_stand_in():
    result = subprocess.run([sys.executable, "-c", IMPORT_THE_PRODUCT], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_product_source_imports_the_stand_in_even_inside_a_function():
    sources = [*(REPO / "coner_api").rglob("*.py"), REPO / "wsgi.py", REPO / "gunicorn.conf.py"]
    offenders = [str(path.relative_to(REPO)) for path in sources
                 if any(name.split(".")[0] == STAND_IN for name in _imported_modules(path))]
    assert offenders == []


def test_package_discovery_finds_only_coner_api():
    options = read_configuration(REPO / "setup.cfg")["options"]
    assert options["packages"], "setup.cfg finds no package at all"
    assert all(name == "coner_api" or name.startswith("coner_api.") for name in options["packages"])
    shipped = [pattern for patterns in options.get("package_data", {}).values() for pattern in patterns]
    assert not [pattern for pattern in shipped if "local" in pattern or "gotrue" in pattern]
