"""The cap on malloc arenas each gunicorn worker sets as it starts (coner_api/serving/memory.py)."""
from __future__ import annotations

import ast
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = "from coner_api.serving import memory; print(memory.limit_malloc_arenas())"


def _run(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_cap_unless_the_environment_sets_one():
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    assert _run(env) == "True"
    assert _run({**env, "MALLOC_ARENA_MAX": "4"}) == "False"  # the deployer's own setting wins


def test_every_worker_sets_it_as_it_starts():
    """gunicorn.conf.py's post_fork hook (run in each new worker before its threads) calls it."""
    tree = ast.parse((Path(__file__).parents[1] / "gunicorn.conf.py").read_text())
    hook = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "post_fork")
    calls = [ast.unparse(node.func) for node in ast.walk(hook) if isinstance(node, ast.Call)]
    assert calls == ["memory.limit_malloc_arenas"]
