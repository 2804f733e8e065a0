"""`make bench`: the production server settings under load on loopback, and one table of the results.

Starts an embedded Postgres and the Supabase Auth stand-in in `.local/bench/` (wiped first, so every run
starts from empty tables), then the API exactly as the Procfile's `web:` line does (gunicorn, gunicorn.conf.py,
APP_ENV=production) and, with the same command and settings, the naive proxy design (`bench/naive_app.py`).
It creates users with tokens and finished profiles, drives each route with `wrk` (installed from Debian when
missing and permitted), and prints requests/s, p50, p99 and errors per route with the ratio to the trivial
route, the peak RSS of every API worker and how long a logout-all takes to reach every worker.

Rate limits are raised for the run (RATE_LIMIT_AUTH/USER) so that no 429 interferes; the limiter still runs
on every request, as in production. The routes take turns, BENCH_ROUNDS times, and each figure is the median
over the rounds; a ratio is the median of the ratios within each round (the route against the trivial route
measured seconds before it), because on a shared virtual machine the noise comes in slow waves that move
every route of a round together. Knobs (environment): BENCH_DURATION (s per route and round, default 3),
BENCH_ROUNDS (default 7), BENCH_WARMUP (s, default 2), BENCH_CONNECTIONS (default 64), BENCH_USERS (default
20), BENCH_METRICS_ROUNDS (the metrics cost table, bench/metrics_cost.py; default BENCH_ROUNDS, 0: none), and
the server's own WEB_CONCURRENCY / GUNICORN_THREADS (default: gunicorn.conf.py's).
"""
from __future__ import annotations

import json
import os
import platform
import runpy
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from supabase import ClientOptions, create_client

from bench import metrics_cost
from coner_api.migrations import migrate
from local_supabase.embedded_postgres import free_port
from local_supabase.stack import start_auth_server, start_postgres, stop

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".local" / "bench"
WRK_SCRIPT = REPO / "bench" / "wrk.lua"
PASSWORD = "Bench-Password-42"
PROFILE = {"full_name": "Bench User", "dob": "1995-03-15", "sex": "other", "phone_number": "1234567890",
           "address": "1 Benchmark Street", "school": "Bench University", "major": "Load Testing"}
# Targets of the performance issue, checked at the end of the table.
TARGETS = {"me_vs_trivial": 0.90, "me_vs_naive": 10.0, "profile_vs_trivial": 0.60, "rss_mb": 100.0}


def setting(name: str, default: int, low: int, high: int) -> int:
    value = int(os.environ.get(name, default))
    if not low <= value <= high:
        raise SystemExit(f"{name} must be between {low} and {high}")
    return value


DURATION = setting("BENCH_DURATION", 3, 1, 300)
ROUNDS = setting("BENCH_ROUNDS", 7, 1, 50)
WARMUP = setting("BENCH_WARMUP", 2, 0, 60)
CONNECTIONS = setting("BENCH_CONNECTIONS", 64, 1, 1024)
USERS = setting("BENCH_USERS", 20, 1, 1000)


# ---------------------------------------------------------------------------------------------------- wrk
def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing and we may (root with apt-get)."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing it from Debian's packages", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "wrk"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("make bench needs wrk: `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")
    return found


@dataclass
class Result:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    @classmethod
    def median(cls, rounds: list["Result"]) -> "Result":
        """Median req/s, p50 and p99 of the rounds; errors summed."""
        return cls(rounds[0].label, statistics.median(r.rps for r in rounds),
                   statistics.median(r.p50_ms for r in rounds), statistics.median(r.p99_ms for r in rounds),
                   sum(r.errors for r in rounds))


def load(wrk: str, label: str, url: str, tokens: Path | None, method: str = "GET", patch: bool = False,
         seconds: int = DURATION) -> Result:
    """One wrk run against `url`: a single wrk thread (the other core is the server's), keep-alive
    connections, a 5 s request timeout, every non-2xx answer counted as an error."""
    argv = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "--latency",
            "-s", str(WRK_SCRIPT), url, "--", str(tokens) if tokens else "-", method]
    if patch:
        argv.append("patch")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed on {label}:\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.partition(" ")[2])
    errors = sum(raw[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return Result(label, raw["requests"] / (raw["duration_us"] / 1e6), raw["p50_us"] / 1e3,
                  raw["p99_us"] / 1e3, errors)


# ------------------------------------------------------------------------------------------------ servers
def gunicorn_argv(app_module: str) -> list[str]:
    """The Procfile's `web:` command, with the venv's gunicorn and `app_module` in place of wsgi:app."""
    web = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:"))
    argv = shlex.split(web.removeprefix("web:"))
    argv[0] = str(Path(sys.executable).with_name(argv[0]))
    argv[argv.index("wsgi:app")] = app_module
    return argv


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.2)


def serve(app_module: str, env: dict[str, str], port: int, probe: str, log: Path,
          listeners: int) -> subprocess.Popen:
    """gunicorn serving `app_module`, once `probe` answers 200 and `listeners` workers have logged that they
    listen (each takes connections only once its app has loaded; 0 with a shared socket)."""
    with log.open("w") as out:
        process = subprocess.Popen(gunicorn_argv(app_module), env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
                                   cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"{app_module} exited; see {log}")
        try:
            answered = httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
        return answered and log.read_text().count("listening at") >= listeners

    try:
        wait_for(ready, f"{app_module} to start; see {log}")
    except SystemExit:
        stop(process, app_module)
        raise
    return process


def worker_pids(master: int) -> list[int]:
    import psutil  # a dependency of pgserver, so present wherever `make run` works

    return sorted(child.pid for child in psutil.Process(master).children())


def peak_rss_mb(pid: int) -> float:
    """The worker's peak resident set (Linux VmHWM); elsewhere its current RSS."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


# -------------------------------------------------------------------------------------------------- users
class Users:
    """Confirmed users made through the stand-in's admin API, signed in with the official client."""

    def __init__(self, supabase: dict[str, str], api_url: str) -> None:
        options = ClientOptions(auto_refresh_token=False, persist_session=False)
        self.admin = create_client(supabase["SUPABASE_URL"], supabase["SUPABASE_SERVICE_ROLE_KEY"], options=options)
        self.anon = create_client(supabase["SUPABASE_URL"], supabase["SUPABASE_ANON_KEY"], options=options)
        self.api_url = api_url

    def token(self) -> str:
        email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
        self.admin.auth.admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True})
        return self.anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session.access_token

    def with_profile(self) -> str:
        token = self.token()
        answer = httpx.put(f"{self.api_url}/users/profile-first", json=PROFILE,
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if answer.status_code != 200:
            raise SystemExit(f"profile setup failed: {answer.status_code} {answer.text}")
        return token


def logout_all_reach(users: Users, api_url: str, workers: int, trials: int = 5) -> tuple[list[float], int]:
    """Milliseconds from sending POST /auth/logout-all to its 204, which the API sends only once every
    worker has acknowledged the purge; and how many requests with the old token still got a 200 after it
    (on fresh connections, spread over the workers; must be 0)."""
    timings, stale = [], 0
    me = f"{api_url}/auth/me"
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as fresh:
        for _ in range(trials):
            headers = {"Authorization": f"Bearer {users.token()}"}
            for _ in range(10 * workers):  # every worker has verified the token and cached its state
                fresh.get(me, headers=headers).raise_for_status()
            started = time.perf_counter()
            answer = fresh.post(f"{api_url}/auth/logout-all", headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 204:
                raise SystemExit(f"logout-all answered {answer.status_code} {answer.text}")
            stale += sum(fresh.get(me, headers=headers).status_code == 200 for _ in range(10 * workers))
    return timings, stale


# ------------------------------------------------------------------------------------------------- report
def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def paired_ratio(rounds: dict[str, list[Result]], label: str, versus: str) -> float:
    """The median over the rounds of `label`'s req/s divided by `versus`'s in the same round."""
    return statistics.median(a.rps / b.rps for a, b in zip(rounds[label], rounds[versus]))


def report(rounds: dict[str, list[Result]], rss: list[float], reach: list[float], stale: int,
           server: str) -> str:
    results = [Result.median(by_round) for by_round in rounds.values()]
    trivial, naive = results[0].label, results[-1].label
    vs_trivial = {r.label: paired_ratio(rounds, r.label, trivial) for r in results}
    lines = [f"Machine: {machine()}",
             f"Server: {server}; wrk: 1 thread, {CONNECTIONS} keep-alive connections; medians of {ROUNDS} "
             f"rounds of {DURATION} s per route (routes take turns; ratios paired within a round), after "
             f"{WARMUP} s warm-up; {USERS} users",
             "",
             "| route | req/s | p50 ms | p99 ms | errors | × trivial |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
                     f"{vs_trivial[r.label]:.2f} |")
    checks = [
        ("GET /auth/me vs trivial", vs_trivial["GET /auth/me"], TARGETS["me_vs_trivial"], "≥"),
        ("GET /auth/me vs naive", paired_ratio(rounds, "GET /auth/me", naive), TARGETS["me_vs_naive"], "≥"),
        ("GET /users/profile vs trivial", vs_trivial["GET /users/profile"], TARGETS["profile_vs_trivial"], "≥"),
        ("peak RSS per worker (MB)", max(rss), TARGETS["rss_mb"], "≤"),
    ]
    lines += ["",
              f"Peak RSS per API worker: {', '.join(f'{mb:.1f} MB' for mb in rss)}",
              f"Logout-all reaching every worker (request to 204, {len(reach)} trials): median "
              f"{statistics.median(reach):.1f} ms, max {max(reach):.1f} ms; old-token 200s after the 204: {stale}",
              "",
              "Targets:"]
    for name, value, target, sense in checks:
        met = value >= target if sense == "≥" else value <= target
        lines.append(f"  {'met ' if met else 'MISSED'} {name}: {value:.2f} (target {sense} {target:g})")
    return "\n".join(lines)


def main() -> int:
    wrk = ensure_wrk()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    conf = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    worker = conf["worker_class"].rpartition(".")[2] + (", a listening socket per worker" if conf.get("reuse_port") else "")
    server = f"gunicorn {worker}, {conf['workers']} workers × {conf['threads']} threads"
    postgres = auth = api = naive = None
    try:
        postgres, database_url = start_postgres(WORK, port=free_port())
        migrate(database_url, REPO / "sql")
        auth, supabase = start_auth_server(database_url, WORK, port=free_port(), log=WORK / "auth.log")
        env = {**os.environ, **supabase, "APP_ENV": "production", "DATABASE_URL": database_url, "TRUSTED_PROXIES": "0",
               "RATE_LIMIT_AUTH": "100000000/minute", "RATE_LIMIT_USER": "100000000/minute"}
        env.pop("REDIS_URL", None)
        api_port, naive_port = free_port(), free_port()
        listeners = conf["workers"] if conf.get("reuse_port") else 0
        api = serve("wsgi:app", env, api_port, "/auth/health", WORK / "api.log", listeners)
        naive = serve("bench.naive_app:app", env, naive_port, "/health", WORK / "naive.log", listeners)
        api_url, naive_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{naive_port}"
        print(f"servers up ({server}); creating {USERS} users", flush=True)

        users = Users(supabase, api_url)
        tokens = WORK / "tokens.txt"
        tokens.write_text("\n".join(users.with_profile() for _ in range(USERS)) + "\n")
        plan = [
            ("GET /auth/health", f"{api_url}/auth/health", None, "GET", False),
            ("GET /auth/me", f"{api_url}/auth/me", tokens, "GET", False),
            ("GET /users/profile", f"{api_url}/users/profile", tokens, "GET", False),
            ("PATCH /users/profile", f"{api_url}/users/profile", tokens, "PATCH", True),
            ("naive proxy design: GET /auth/verify-token", f"{naive_url}/auth/verify-token", tokens, "GET", False),
        ]
        for label, url, token_file, method, patch in plan:
            if WARMUP:
                load(wrk, label, url, token_file, method, patch, seconds=WARMUP)
        rounds: dict[str, list[Result]] = {label: [] for label, *_ in plan}
        # Within a round, each compared pair runs back to back: profile, trivial, me, naive, then the write.
        order = [plan[2], plan[0], plan[1], plan[4], plan[3]]
        for number in range(1, ROUNDS + 1):
            print(f"  round {number} of {ROUNDS}", flush=True)
            for label, url, token_file, method, patch in order:
                rounds[label].append(load(wrk, label, url, token_file, method, patch))
        workers = worker_pids(api.pid)
        rss = [peak_rss_mb(pid) for pid in workers]
        reach, stale = logout_all_reach(users, api_url, len(workers))
        print()
        print(report(rounds, rss, reach, stale, server))
        if metrics_cost.ROUNDS:  # a table of its own: what /metrics costs /auth/me (bench/metrics_cost.py)
            print()
            print(metrics_cost.measure(wrk, tokens, api, api_url, env, WORK, listeners, serve, load, stop,
                                       free_port, Result.median, WARMUP))
        return 0
    finally:
        for process, name in ((naive, "naive app"), (api, "API"), (auth, "stand-in")):
            stop(process, name)
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
