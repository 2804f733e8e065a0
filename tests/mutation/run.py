"""`make mutation`: run mutmut on each module of coner_api/sessions/ against its own tests, and write the
scores and the surviving mutants to docs/mutation.md.

Each module gets a scratch copy of the repository (.local/mutation/<module>/) whose setup.cfg tells mutmut to
mutate that one file and to select tests from that module's files only (tests/mutation/modules.py), so a
mutant is judged by the tests that are its module's contract, and the runs stay apart. mutmut then runs, per
mutant, only the tests that called the mutated function.

    python -m tests.mutation.run [module ...]     # all modules by default
    python -m tests.mutation.run --report         # only rewrite docs/mutation.md from the last runs
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from tests.mutation.modules import EQUIVALENT, NEEDS_POSTGRES, TESTS

REPO = Path(__file__).resolve().parents[2]
SCRATCH = REPO / ".local" / "mutation"
REPORT = REPO / "docs" / "mutation.md"
COPIED = ["coner_api", "tests", "local_supabase", "sql", "wsgi.py", "gunicorn.conf.py", "pyproject.toml",
          "README.md"]
# Timeouts count as kills: a mutant that hangs its tests is noticed. "no tests" counts as survived: nothing
# checked it.
KILLED = {"killed", "timeout", "caught by type check"}
# Lines whose expressions are not mutated: the text of log lines and of the internal refusal reasons and
# argument errors (a changed message is not a changed decision; the status, code and exception type are
# still mutated wherever they are decided). Regular expressions, searched in each source line.
NOT_BEHAVIOUR = [r"^\s*log\.(debug|info|warning|error|exception)\(",
                 r"raise _Reject\(",
                 r"raise (ValueError|JwksFetchError)\(f?\"[^\"]*\"\)( from \w+)?$"]


def setup_cfg(module: str) -> str:
    selection = "\n    ".join(TESTS[module])
    return (
        "[mutmut]\n"
        "source_paths = coner_api\n"
        f"only_mutate = coner_api/sessions/{module}.py\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        "pytest_add_cli_args = -q\n"
        "also_copy =\n    local_supabase\n    sql\n    wsgi.py\n    gunicorn.conf.py\n    README.md\n"
        "do_not_mutate_patterns =\n    " + "\n    ".join(NOT_BEHAVIOUR) + "\n"
    )


def prepare(module: str) -> Path:
    workdir = SCRATCH / module
    shutil.rmtree(workdir, ignore_errors=True)  # mutmut keeps results between runs: start afresh
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutation")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, workdir / name)
    (workdir / "setup.cfg").write_text(setup_cfg(module))
    return workdir


def mutmut(workdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=workdir, env=env, text=True,
                          capture_output=True)


def run_module(module: str, env: dict[str, str]) -> dict:
    started = time.monotonic()
    workdir = prepare(module)
    # Each mutant's pytest session makes (and rotates) numbered temporary folders: keep them in the scratch
    # copy, where they cannot rotate away the folders of a pytest run elsewhere on the machine.
    (workdir / "tmp").mkdir()
    env = {**env, "PYTEST_DEBUG_TEMPROOT": str(workdir / "tmp")}
    run = mutmut(workdir, "run", "--max-children", str(os.cpu_count() or 2), env=env)
    results = mutmut(workdir, "results", "--all", "true", env=env)
    statuses: dict[str, str] = {}
    for line in results.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith("coner_api."):
            statuses[name] = status
    if run.returncode != 0 or not statuses:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
    survivors = sorted(n for n, s in statuses.items() if s not in KILLED)
    diffs = {n: mutmut(workdir, "show", n, env=env).stdout.strip() for n in survivors}
    return {"module": module, "total": len(statuses), "counts": dict(Counter(statuses.values())),
            "killed": sum(1 for s in statuses.values() if s in KILLED), "survivors": survivors,
            "statuses": statuses, "diffs": diffs, "seconds": time.monotonic() - started,
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "ok": run.returncode == 0 and bool(statuses)}


def classified(result: dict) -> dict:
    """The result with its survivors split by tests/mutation/modules.py as it reads now: equivalent or alive."""
    survivors = result.get("survivors") or sorted(result.get("equivalent", []) + result.get("alive", []))
    return {**result, "survivors": survivors, "equivalent": [n for n in survivors if n in EQUIVALENT],
            "alive": [n for n in survivors if n not in EQUIVALENT]}


def score_line(r: dict) -> str:
    changing = r["total"] - len(r["equivalent"])
    score = 100.0 * r["killed"] / changing if changing else 100.0
    return (f"| {r['module']} | {r['total']} | {r['killed']} / {changing} | **{score:.1f}%** | "
            f"{len(r['equivalent'])} | {len(r['alive'])} | {r['seconds']:.0f} s | {r['finished']} |")


def earlier_parts(text: str) -> dict[str, list[str]]:
    """Each module's lines in an earlier report (its table row, then its sections), by module name: what a
    partial run keeps for the modules it has no result for (a fresh clone has only the committed report)."""
    parts: dict[str, list[str]] = {}
    module = None
    for line in text.splitlines():
        row = re.match(r"\| (\w+) \| \d", line)
        heading = re.match(r"## (\w+): ", line)
        if row:
            parts.setdefault(row.group(1), []).append(line)
            module = None
        elif heading:
            module = heading.group(1)
            parts.setdefault(module, []).extend(["", line])
        elif module is not None:
            parts[module].append(line)
    return parts


def report(results: list[dict], earlier: dict[str, list[str]] | None = None) -> str:
    """The report of `results`, in the order of TESTS; a module without a result keeps its part of `earlier`."""
    earlier = earlier or {}
    by_module = {r["module"]: r for r in results}
    lines = ["# Mutation testing: last run", "",
             f"`make mutation` (mutmut, one module at a time, on {os.cpu_count()} cores; each module's run time and "
             "end below). Score = killed / behaviour-changing mutants (all mutants minus those set aside as "
             "equivalent in tests/mutation/modules.py, with the reason); a timeout counts as killed, a mutant no "
             "test reaches as survived. The tests each module runs against: tests/mutation/modules.py.", "",
             "| module | mutants | killed / behaviour-changing | score | equivalent | alive | time | finished |",
             "|---|---|---|---|---|---|---|---|"]
    for module in TESTS:
        if module in by_module:
            lines.append(score_line(by_module[module]))
        else:
            lines += [line for line in earlier.get(module, []) if line.startswith("| ")]
    for module in TESTS:
        r = by_module.get(module)
        if r is None:
            lines += [line for line in earlier.get(module, []) if not line.startswith("| ")]
            continue
        if not r["ok"]:
            lines += ["", f"**{r['module']}: mutmut failed; see its output in .local/mutation/{r['module']}.**"]
        if r["equivalent"]:
            lines += ["", f"## {r['module']}: equivalent mutants (set aside)", ""]
            lines += [f"- `{n}`: {EQUIVALENT[n]}" for n in r["equivalent"]]
        if r["alive"]:
            lines += ["", f"## {r['module']}: surviving mutants not yet killed", ""]
            for n in r["alive"]:
                lines += [f"- `{n}` ({r['statuses'][n]})", "", "```diff", r["diffs"][n], "```", ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip() + "\n"


def main(modules: list[str]) -> int:
    if modules == ["--report"]:  # only rewrite the report (after editing EQUIVALENT, say)
        modules = []
    unknown = set(modules) - set(TESTS)
    if unknown:
        sys.exit(f"unknown modules {sorted(unknown)}; known: {sorted(TESTS)}")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    results = []
    with ExitStack() as stack:
        if NEEDS_POSTGRES.intersection(modules) and not env.get("TEST_DATABASE_URL"):
            env["TEST_DATABASE_URL"] = stack.enter_context(shared_postgres())
        for module in modules:
            print(f"mutation testing coner_api/sessions/{module}.py ...", flush=True)
            result = run_module(module, env)
            (SCRATCH / f"{module}.json").write_text(json.dumps(result, indent=1))
            results.append(result)
            print(score_line(classified(result)), flush=True)
    # The report holds the latest run of every module: a partial run (`make mutation MODULES=jwks`) updates
    # its modules' rows and keeps the others' from their last run on this machine, or else from the report.
    latest = [classified({"finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime)),
                          **json.loads(path.read_text())})
              for path in (SCRATCH / f"{m}.json" for m in TESTS) if path.exists()]
    REPORT.write_text(report(latest, earlier_parts(REPORT.read_text()) if REPORT.exists() else {}))
    print(f"\nwrote {REPORT.relative_to(REPO)} ({(time.monotonic() - started) / 60:.1f} min)")
    return 0 if all(r["ok"] for r in results) else 1


def shared_postgres():
    """One embedded cluster (the suite's own) for every mutant of the run, migrated once; its URL."""
    from contextlib import contextmanager
    import tempfile

    import psycopg

    from coner_api.migrations import migrate
    from tests.support.servers import EmbeddedPostgres

    @contextmanager
    def cluster():
        with tempfile.TemporaryDirectory(prefix="coner-mutation-pg-") as folder:
            server = EmbeddedPostgres(Path(folder) / "data").start()
            try:
                with psycopg.connect(server.url(), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE coner_mutation")
                url = server.url("coner_mutation")
                migrate(url, REPO / "sql")
                yield url
            finally:
                server.destroy()

    return cluster()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(TESTS)))
