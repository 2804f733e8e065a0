"""What each gunicorn worker sets of its memory (coner_api/serving/memory.py): the cap on malloc arenas as it
starts, and the loaded app's objects frozen out of the collector's full collections before it serves."""
from __future__ import annotations

import ast
import os
import platform
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.support.servers import app_settings

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


# A cycle that is garbage when the freeze comes, an object alive then, and one made after it.
FREEZE = textwrap.dedent("""
    import gc, json, weakref
    from coner_api.serving import memory

    class Node:
        pass

    gc.disable()  # nothing but the freeze collects here
    garbage = Node(); garbage.itself = garbage
    collected = []
    weakref.finalize(garbage, collected.append, True)
    del garbage
    alive = Node()
    frozen = memory.freeze_loaded_app()
    later = Node()
    tracked = gc.get_objects()  # the permanent generation is not in it
    print(json.dumps({"frozen": frozen, "count": gc.get_freeze_count(),
                      "garbage_collected": collected == [True],
                      "alive_frozen": not any(o is alive for o in tracked),
                      "later_frozen": not any(o is later for o in tracked)}))
""")


def test_the_freeze_collects_garbage_first_then_freezes_what_is_alive():
    done = subprocess.run([sys.executable, "-c", FREEZE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["garbage_collected"]  # a cycle dead at the freeze is freed, not kept forever
    assert result["alive_frozen"] and not result["later_frozen"]
    assert result["frozen"] == result["count"] > 0


@pytest.mark.slow
def test_a_worker_freezes_its_loaded_app(api_server, migrated_database, auth_server):
    """A real worker has frozen the objects of its loaded app (tens of thousands: modules, routes, schemas) by
    the time it serves, and says so in the statistics it logs on exit."""
    server = api_server(app_settings(migrated_database, auth_server), workers=1, threads=2)
    assert httpx.get(f"{server.url}/auth/health", timeout=10).status_code == 200
    assert server.stop() == 0
    marker = " cache stats "
    messages = [json.loads(line)["message"] if line.startswith("{") else line  # LOG_FORMAT json or text
                for line in server.log().splitlines() if marker in line]
    [stats] = [json.loads(message.split(marker, 1)[1]) for message in messages]
    assert stats["gc"]["frozen"] > 20_000
