"""`make bench`'s metrics table: what /metrics costs the hot path (issue 18's budget: at most 5% on /auth/me).

A second API server, started like the first (the Procfile's command, the same settings) but with
METRICS_TOKEN set, so that every request is observed in the request histogram and the workers keep their
metrics in a folder of files (prometheus_client's multiprocess mode). `GET /auth/me` is driven on the two in
turn, BENCH_METRICS_ROUNDS times (default: BENCH_ROUNDS; 0 leaves the table out), which one goes first
alternating by round. Two measures, each the median over the rounds of a ratio paired within the round:
requests per second, and the workers' CPU time per request (from the kernel's accounting of the worker
processes), which a busy machine disturbs far less: the other load takes turns on the cores, it does not
make a request cost more CPU. The budget is checked on the CPU per request. Both servers write the JSON
request line: this isolates the metrics.
"""
from __future__ import annotations

import os
import secrets
import statistics
from pathlib import Path

import httpx

from . import harness as h

ROUNDS = int(os.environ.get("BENCH_METRICS_ROUNDS", os.environ.get("BENCH_ROUNDS", "7")))
BUDGET = 0.05


def worker_cpu_seconds(master: int) -> float:
    """User and system CPU time of the server's workers so far."""
    import psutil  # a dependency of pgserver, so present wherever `make bench` works

    return sum(sum(child.cpu_times()[:2]) for child in psutil.Process(master).children())


def measure(env: dict[str, str], baseline: h.Server, tokens: Path, listeners: int) -> list[str]:
    """The table's lines: /auth/me on `baseline` and on a second server alike but for METRICS_TOKEN."""
    token = secrets.token_urlsafe(24)
    metered = h.serve("wsgi:app", {**env, "METRICS_TOKEN": token}, "/auth/health", "api-metrics", listeners)
    try:
        servers = {"metrics off": (f"{baseline.url}/auth/me", baseline.process.pid),
                   "metrics on": (f"{metered.url}/auth/me", metered.process.pid)}
        if h.WARMUP:
            for label, (url, _) in servers.items():
                h.load(label, url, tokens, seconds=h.WARMUP)
        rounds: dict[str, list[h.Result]] = {label: [] for label in servers}
        cpu: dict[str, list[float]] = {label: [] for label in servers}  # µs of worker CPU per request
        for number in range(ROUNDS):
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for label in order:
                url, master = servers[label]
                before = worker_cpu_seconds(master)
                result = h.load(label, url, tokens)
                cpu[label].append((worker_cpu_seconds(master) - before) / max(result.requests, 1) * 1e6)
                rounds[label].append(result)
        answer = httpx.get(f"{metered.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in answer.text.splitlines()
                      if line.startswith("coner_http_request_duration_seconds_count{") and 'route="/auth/me"' in line)
    finally:
        metered.stop()
    ratio = statistics.median(on.rps / off.rps for on, off in zip(rounds["metrics on"], rounds["metrics off"]))
    cpu_ratio = statistics.median(on / off for on, off in zip(cpu["metrics on"], cpu["metrics off"]))
    lines = [f"### Metrics cost (GET /auth/me on two servers alike but for METRICS_TOKEN; medians of {ROUNDS} "
             f"rounds, which server goes first alternating; ratios paired within a round)",
             "",
             "| server | req/s | p50 ms | p99 ms | errors | worker CPU µs per request |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, by_round in rounds.items():
        result = h.Result.median(by_round)
        lines.append(f"| {label} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.errors} "
                     f"| {statistics.median(cpu[label]):.0f} |")
    cost = cpu_ratio - 1
    lines += ["",
              f"/metrics counted {counted:,.0f} GET /auth/me requests on the metered server (all its workers)",
              f"req/s with metrics / without: {ratio:.3f}",
              "", "Targets:",
              h.check("metrics cost on GET /auth/me, worker CPU per request", cost * 100, BUDGET * 100, "≤")]
    return lines
