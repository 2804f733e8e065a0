"""The scenarios of `make bench` in the production shape: Redis on, many users, and the reference row from
outside Python. Each returns the lines of its table, with a pass/miss line per target; bench/run.py runs them."""
from __future__ import annotations

import os
import statistics
import subprocess
from pathlib import Path

from . import harness as h
from .latency import fixed_rate_table
from .population import jwks_public_pem, write_tokens

# Targets (issue 15), each against the trivial route of the same server in the same round.
REDIS_ME = 0.80
REDIS_ROUND_TRIPS = 1.0
MANY_ME = 0.75
MANY_RSS_MB = 120.0
PROFILE = 0.60
PATCH = 0.30
MANY_USERS = (1, 1_000, 10_000) if h.QUICK else (1, 1_000, 10_000, 100_000)
MANY_ROUNDS = 2 if h.QUICK else 3
REFERENCE = h.REPO / "bench" / "reference"


def routes(url: str, tokens: Path) -> dict[str, tuple]:
    return {"trivial": ("GET /auth/health", f"{url}/auth/health", None, "GET", False),
            "me": ("GET /auth/me", f"{url}/auth/me", tokens, "GET", False),
            "profile": ("GET /users/profile", f"{url}/users/profile", tokens, "GET", False),
            "patch": ("PATCH /users/profile", f"{url}/users/profile", tokens, "PATCH", True)}


def redis_on(api: h.Server, redis_url: str, tokens: Path, one_token: Path, server: str) -> tuple[list[str], float, float]:
    """The API with REDIS_URL set: the route table, Redis round trips per limited request, the latency at
    half of the maximum rate, and the Node reference beside it. Returns the lines and the max rates of
    /auth/me and /users/profile (for the latency table)."""
    plan = routes(api.url, tokens)
    order = [plan["profile"], plan["trivial"], plan["me"], plan["patch"]]
    h.take_turns(order, rounds=0)  # warm-up only
    commands = h.redis_round_trips(redis_url)
    rounds = h.take_turns(order, warmup=0, note="Redis on: ")
    commands = h.redis_round_trips(redis_url) - commands - 1  # less our own INFO
    limited = sum(r.requests for label in ("GET /auth/me", "GET /users/profile", "PATCH /users/profile")
                  for r in rounds[label])
    me, profile = h.Result.median(rounds["GET /auth/me"]), h.Result.median(rounds["GET /users/profile"])
    trivial = "GET /auth/health"
    lines = [f"### Redis on ({server}, REDIS_URL set; {h.USERS} users)", ""] + h.route_table(rounds, trivial) + [
        "", f"Redis round trips per limited request: {commands / limited:.3f} ({commands:,} round trips for "
            f"{limited:,} requests)", "", "Targets:",
        h.check("GET /auth/me vs trivial, Redis on", h.paired_ratio(rounds, "GET /auth/me", trivial), REDIS_ME),
        h.check("Redis round trips per limited request", commands / limited, REDIS_ROUND_TRIPS, "≤"),
        h.check("GET /users/profile vs trivial, Redis on", h.paired_ratio(rounds, "GET /users/profile", trivial),
                PROFILE),
        h.check("PATCH /users/profile vs trivial, Redis on",
                h.paired_ratio(rounds, "PATCH /users/profile", trivial), PATCH),
        ""]
    lines += fixed_rate_table(api.url, one_token, {"GET /auth/me": me.rps, "GET /users/profile": profile.rps})
    return lines, me.rps, profile.rps


def many_users(env: dict[str, str], tokens: list[str], listeners: int) -> list[str]:
    """For each N, a fresh API (Redis on, so RSS and hit rates are N's own): each user's first request, then
    requests from random users among N. Hit rates are over the whole run of that server, first pass included
    (at 100,000 users mostly its misses: every token new), from the workers' exit logs."""
    lines = ["### Many users (Redis on; each request from a random one of N users)", "",
             "| N | first pass req/s | /auth/me req/s | × trivial | p99 ms | /users/profile req/s | × trivial | "
             "p99 ms | peak RSS per worker MB | token cache hits | shared-table hits | profile-touch hits | "
             "profile cache hits |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    checks = []
    for count in MANY_USERS:
        if count > len(tokens):
            continue
        token_file = write_tokens(h.WORK / f"tokens-{count}.txt", tokens[:count])
        api = h.serve("wsgi:app", env, "/auth/health", f"api-many-{count}", listeners)
        try:
            plan = routes(api.url, token_file)
            order = [plan["profile"], plan["trivial"], plan["me"]]
            first = first_pass(api.url, token_file, count)
            rounds = h.take_turns(order, rounds=MANY_ROUNDS, note=f"N = {count:,}: ")
            rss = max(api.peak_rss_mb())
        finally:
            api.stop()
        stats = api.cache_stats()
        me, profile = h.Result.median(rounds["GET /auth/me"]), h.Result.median(rounds["GET /users/profile"])
        me_ratio = h.paired_ratio(rounds, "GET /auth/me", "GET /auth/health")
        profile_ratio = h.paired_ratio(rounds, "GET /users/profile", "GET /auth/health")
        lines.append(f"| {count:,} | {first.rps:,.0f} | {me.rps:,.0f} | {me_ratio:.2f} | {me.p99_ms:.2f} | "
                     f"{profile.rps:,.0f} | {profile_ratio:.2f} | {profile.p99_ms:.2f} | {rss:.1f} | "
                     f"{hit_rate(stats, 'tokens')} | {hit_rate(stats, 'shared_tokens')} | "
                     f"{hit_rate(stats, 'profile_touches')} | {hit_rate(stats, 'profiles')} |")
        if count == 100_000:
            checks += [h.check("100,000 users: GET /auth/me vs trivial", me_ratio, MANY_ME),
                       h.check("100,000 users: peak RSS per worker (MB)", rss, MANY_RSS_MB, "≤")]
    caps = stats[0] if stats else {}
    lines += ["", f"Caps per worker: token cache {caps.get('tokens', {}).get('max_size', '?'):,}, profile touches "
                  f"{caps.get('profile_touches', {}).get('max_size', '?'):,}, profile cache "
                  f"{caps.get('profiles', {}).get('max_size', '?'):,}, rate-limit windows "
                  f"{caps.get('rate_windows', {}).get('max_size', '?'):,}; recent revocations ≤ 100,000 each "
                  "(every cache has a cap)", ""]
    if checks:
        lines += ["Targets:"] + checks + [""]
    return lines


def first_pass(url: str, tokens: Path, count: int) -> h.Result:
    """Every user's first request (`GET /auth/me`, the tokens in file order, each at least once): the server as
    users find it after a start, each token new to it. The rounds then measure it as it runs, every user
    known, as it is for most of a deploy's life (a token lives an hour, and a user makes many requests with
    it)."""
    done: list[h.Result] = []
    sent = 0
    while sent < count:
        chunk = max(1, min(10, (count - sent) // 1_000))  # wrk runs whole seconds: about what is left
        done.append(h.load("first pass", f"{url}/auth/me", tokens, seconds=chunk, first=sent + 1))
        sent += done[-1].requests
    seconds = sum(result.requests / result.rps for result in done)
    return h.Result("first pass", sent / seconds, max(r.p50_ms for r in done), max(r.p99_ms for r in done),
                    sum(r.errors for r in done), sent)


def hit_rate(stats: list[dict], cache: str) -> str:
    hits = sum(s[cache]["hits"] for s in stats)
    total = hits + sum(s[cache]["misses"] for s in stats)
    return f"{hits / total:.0%}" if total else "–"


def node_reference(api: h.Server, tokens: Path, supabase: dict[str, str]) -> list[str]:
    """Seed 004's design (Express + jsonwebtoken, no revocation check), one process per core, against our
    /auth/me on the Redis-on server, in alternating rounds. Reported, not a target."""
    if not (REFERENCE / "node_modules").exists():
        npm = h.debian_tool("npm", "npm")
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=REFERENCE, check=True)
    node = h.debian_tool("node", "nodejs")
    env = {**os.environ, "PUBLIC_KEY_PEM": jwks_public_pem(supabase),
           "ISSUER": supabase["SUPABASE_URL"].rstrip("/") + "/auth/v1", "WORKERS": str(os.cpu_count() or 1)}
    reference = h.serve("", env, "/health", "node-reference", 0, argv=[node, str(REFERENCE / "server.js")])
    try:
        ours = routes(api.url, tokens)
        plan = [ours["trivial"], ours["me"],
                ("Express + jsonwebtoken: GET /auth/me", f"{reference.url}/auth/me", tokens, "GET", False)]
        rounds = h.take_turns(plan, rounds=max(2, h.ROUNDS // 2), note="Node reference: ")
    finally:
        reference.stop()
    node_label = plan[2][0]
    node = h.Result.median(rounds[node_label])
    version = subprocess.run([h.debian_tool("node", "nodejs"), "--version"], capture_output=True, text=True).stdout
    return [f"### Reference from outside Python (Node {version.strip()}, {env['WORKERS']} processes; reported, "
            "not a target)", ""] + h.route_table(rounds, "GET /auth/health") + [
        "", f"Express + jsonwebtoken vs our GET /auth/me (Redis on): "
            f"{h.paired_ratio(rounds, node_label, 'GET /auth/me'):.2f}× the requests/s, p99 {node.p99_ms:.2f} ms "
            f"(ours {statistics.median(r.p99_ms for r in rounds['GET /auth/me']):.2f} ms)", ""]
