"""`make bench`'s metrics table: what /metrics costs the hot path (issue 18's budget: at most 5% on /auth/me).

A second API server, started like the first (the Procfile's command, the same settings) but with
METRICS_TOKEN set, so that every request is observed in the request histogram and the workers keep their
metrics in a folder of files (prometheus_client's multiprocess mode). `GET /auth/me` is driven on the two in
turn, BENCH_METRICS_ROUNDS times (default: BENCH_ROUNDS; 0 leaves the table out), which one goes first
alternating by round; the cost is the median over the rounds of the paired ratio, as for the main table.
Both servers write the JSON request line: this isolates the metrics.
"""
from __future__ import annotations

import os
import secrets
import statistics
from pathlib import Path
from typing import Callable

import httpx

ROUNDS = int(os.environ.get("BENCH_METRICS_ROUNDS", os.environ.get("BENCH_ROUNDS", "7")))
BUDGET = 0.05


def measure(wrk: str, tokens: Path, baseline_url: str, env: dict[str, str], work: Path, listeners: int,
            serve: Callable, load: Callable, stop: Callable, free_port: Callable[[], int], median: Callable,
            warmup: int) -> str:
    """The table: /auth/me without and with metrics, and the cost. `serve`, `load`, `stop` and `median`
    are bench.run's (passed in: bench.run runs as __main__)."""
    token = secrets.token_urlsafe(24)
    port = free_port()
    metered = serve("wsgi:app", {**env, "METRICS_TOKEN": token}, port, "/auth/health", work / "api-metrics.log",
                    listeners)
    metered_url = f"http://127.0.0.1:{port}"
    try:
        servers = {"metrics off": f"{baseline_url}/auth/me", "metrics on": f"{metered_url}/auth/me"}
        if warmup:
            for url in servers.values():
                load(wrk, "GET /auth/me", url, tokens, seconds=warmup)
        rounds: dict[str, list] = {label: [] for label in servers}
        for number in range(ROUNDS):
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for label in order:
                rounds[label].append(load(wrk, label, servers[label], tokens))
        answer = httpx.get(f"{metered_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in answer.text.splitlines()
                      if line.startswith("coner_http_request_duration_seconds_count{") and 'route="/auth/me"' in line)
    finally:
        stop(metered, "API with metrics")
    ratio = statistics.median(on.rps / off.rps for on, off in zip(rounds["metrics on"], rounds["metrics off"]))
    lines = [f"Metrics cost: GET /auth/me on two servers alike but for METRICS_TOKEN; medians of {ROUNDS} rounds "
             "(which server goes first alternates; the ratio is paired within a round)",
             "",
             "| server | req/s | p50 ms | p99 ms | errors |",
             "|---|---:|---:|---:|---:|"]
    for label, by_round in rounds.items():
        result = median(by_round)
        lines.append(f"| {label} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.errors} |")
    cost = 1 - ratio
    lines += ["",
              f"/metrics counted {counted:,.0f} GET /auth/me requests on the metered server (all its workers)",
              f"  {'met ' if cost <= BUDGET else 'MISSED'} metrics cost on GET /auth/me: {cost:.1%} of req/s "
              f"(on/off {ratio:.3f}; target ≤ {BUDGET:.0%})"]
    return "\n".join(lines)
