"""`make bench`: the production server settings under load on loopback, one table per scenario, each with a
pass/miss line per target (README, "Performance").

Starts an embedded Postgres, the Supabase Auth stand-in and a redis-server in `.local/bench/` (wiped first),
then the API exactly as the Procfile's `web:` line does (gunicorn, gunicorn.conf.py, APP_ENV=production):
1. without Redis, beside the naive proxy design (`bench/naive_app.py`, same command and settings): the route
   table of earlier runs, the peak RSS of every worker and how long a logout-all takes to reach them all;
2. with REDIS_URL set (production): the route table, Redis round trips per limited request, the latency at
   half of the maximum rate (bench/latency.py), and the Node reference app (bench/reference/) beside it;
3. two gunicorn masters on one Postgres and one Redis: logout-all on one, the other's refusals (bench/logouts.py);
4. many users (N = 1, 1,000, 10,000, 100,000; made in bulk, bench/population.py): a fresh API per N, each
   request from a random user: req/s, p99, peak RSS per worker and cache hit rates.

Rate limits are raised for the run (RATE_LIMIT_AUTH/USER) so that no 429 interferes; the limiter still runs
on every request, as in production. The routes take turns, BENCH_ROUNDS times, and each figure is the median
over the rounds; a ratio is the median of the ratios within each round (the route against the trivial route
measured seconds before it), because on a shared virtual machine the noise comes in slow waves that move
every route of a round together. Knobs (environment): BENCH_QUICK=1 (fewer, shorter rounds, N up to 10,000:
a few minutes), BENCH_DURATION (s per route and round, default 3), BENCH_ROUNDS (default 7), BENCH_WARMUP
(s, default 2), BENCH_CONNECTIONS (default 64), BENCH_USERS (default 20), BENCH_METRICS_ROUNDS (the metrics
cost table, bench/metrics_cost.py; default BENCH_ROUNDS, 0: none), and the server's own WEB_CONCURRENCY /
GUNICORN_THREADS (default: gunicorn.conf.py's).
"""
from __future__ import annotations

import os
import runpy
import shutil
import statistics
import sys
import time


from coner_api.migrations import migrate
from local_supabase.embedded_postgres import free_port
from local_supabase.stack import start_auth_server, start_postgres, stop

from . import harness as h
from . import metrics_cost
from .logouts import logout_all_reach, two_masters
from .population import Users, bulk_tokens, write_tokens
from .scenarios import MANY_USERS, PROFILE, many_users, node_reference, redis_on

# Targets that held before issue 15 and must keep holding (no Redis, one user's token among 20).
BASE_ME, BASE_NAIVE, BASE_RSS_MB = 0.90, 10.0, 100.0


def base_table(env: dict, api: h.Server, naive: h.Server, users: Users, tokens, workers: int, server: str) -> list[str]:
    plan = {"profile": ("GET /users/profile", f"{api.url}/users/profile", tokens, "GET", False),
            "trivial": ("GET /auth/health", f"{api.url}/auth/health", None, "GET", False),
            "me": ("GET /auth/me", f"{api.url}/auth/me", tokens, "GET", False),
            "naive": ("naive proxy design: GET /auth/verify-token", f"{naive.url}/auth/verify-token", tokens,
                      "GET", False),
            "patch": ("PATCH /users/profile", f"{api.url}/users/profile", tokens, "PATCH", True)}
    # Within a round, each compared pair runs back to back: profile, trivial, me, naive, then the write.
    rounds = h.take_turns(list(plan.values()), note="no Redis: ")
    ordered = {label: rounds[label] for label in (plan[k][0] for k in ("trivial", "me", "profile", "patch", "naive"))}
    rss = api.peak_rss_mb()
    reach, stale = logout_all_reach(users, api.url, workers)
    trivial = "GET /auth/health"
    return [f"### Without Redis ({server}; {h.USERS} users)", ""] + h.route_table(ordered, trivial) + [
        "", f"Peak RSS per API worker: {', '.join(f'{mb:.1f} MB' for mb in rss)}",
        f"Logout-all reaching every worker (request to 204, {len(reach)} trials): median "
        f"{statistics.median(reach):.1f} ms, max {max(reach):.1f} ms; old-token 200s after the 204: {stale}",
        "", "Targets:",
        h.check("GET /auth/me vs trivial", h.paired_ratio(rounds, "GET /auth/me", trivial), BASE_ME),
        h.check("GET /auth/me vs naive", h.paired_ratio(rounds, "GET /auth/me", plan["naive"][0]), BASE_NAIVE),
        h.check("GET /users/profile vs trivial", h.paired_ratio(rounds, "GET /users/profile", trivial), PROFILE),
        h.check("peak RSS per worker (MB)", max(rss), BASE_RSS_MB, "≤"),
        h.check("old-token 200s after the 204", stale, 0, "≤"), ""]


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(h.WORK, ignore_errors=True)
    h.WORK.mkdir(parents=True)
    conf = runpy.run_path(str(h.REPO / "gunicorn.conf.py"))
    worker = conf["worker_class"].rpartition(".")[2] + (", a listening socket per worker" if conf.get("reuse_port") else "")
    server = f"gunicorn {worker}, {conf['workers']} workers × {conf['threads']} threads"
    listeners = conf["workers"] if conf.get("reuse_port") else 0
    postgres = auth = redis_server = None
    running: list[h.Server] = []
    tables: list[str] = []
    try:
        postgres, database_url = start_postgres(h.WORK, port=free_port())
        migrate(database_url, h.REPO / "sql")
        # Every user is made and signed in from this one address: hosted-style rate limits would refuse most.
        auth, supabase = start_auth_server(database_url, h.WORK, port=free_port(), log=h.WORK / "auth.log",
                                           settings={"LOCAL_AUTH_RATE_LIMITS": "off"})
        redis_server, redis_url = h.start_redis()
        env = {**os.environ, **supabase, "APP_ENV": "production", "DATABASE_URL": database_url, "TRUSTED_PROXIES": "0",
               "OAUTH_REDIRECT_URL": "http://127.0.0.1/auth/callback",
               "RATE_LIMIT_AUTH": "100000000/minute", "RATE_LIMIT_USER": "100000000/minute"}
        env.pop("REDIS_URL", None)
        with_redis = {**env, "REDIS_URL": redis_url}

        def start(name: str, settings: dict, module: str = "wsgi:app", probe: str = "/auth/health") -> h.Server:
            running.append(h.serve(module, settings, probe, name, listeners))
            return running[-1]

        api, naive = start("api", env), start("naive", env, "bench.naive_app:app", "/health")
        print(f"servers up ({server}); creating {h.USERS} users", flush=True)
        users = Users(supabase, api.url)
        tokens = write_tokens(h.WORK / "tokens.txt", [users.with_profile() for _ in range(h.USERS)])
        one_token = write_tokens(h.WORK / "token-1.txt", [tokens.read_text().split()[0]])
        tables += base_table(env, api, naive, users, tokens, len(api.workers()), server)
        if metrics_cost.ROUNDS:  # what /metrics costs /auth/me, against the same server without it
            tables += metrics_cost.measure(env, api, tokens, listeners) + [""]
        for done in (naive, api):
            done.stop()
            running.remove(done)

        api = start("api-redis", with_redis)
        lines, _, _ = redis_on(api, redis_url, tokens, one_token, server)
        tables += lines + node_reference(api, tokens, supabase)
        second = start("api-redis-second", with_redis)
        tables += two_masters(users, api, second, conf["workers"])
        for done in (second, api):
            done.stop()
            running.remove(done)

        print(f"creating {max(MANY_USERS):,} users in bulk", flush=True)
        many = bulk_tokens(database_url, supabase, h.WORK, max(MANY_USERS), "many")
        tables += many_users(with_redis, many, listeners)
        print()
        print(f"Machine: {h.machine()}")
        print(f"Server: {server}; wrk: 1 thread, {h.CONNECTIONS} keep-alive connections, a random token per "
              f"request; medians of {h.ROUNDS} rounds of {h.DURATION} s per route (routes take turns; ratios "
              f"paired within a round), after {h.WARMUP} s warm-up{'; QUICK mode' if h.QUICK else ''}; "
              f"{(time.monotonic() - started) / 60:.1f} minutes in all")
        print()
        print("\n".join(tables))
        return 0
    finally:
        for process in reversed(running):
            process.stop()
        stop(auth, "stand-in")
        stop(redis_server, "redis-server")
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
