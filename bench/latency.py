"""Latency at a fixed rate: p50/p99/p99.9 of a route at half of its measured maximum rate, because users feel
latency, not throughput.

The load generator is `hey` from Debian's packages (rakyll/hey; installed when missing, as wrk is): 32 workers,
each paced at rate/32 requests per second on keep-alive connections, every request's time written out
(`-o csv`) so that the percentiles are computed here over all of them. hey paces each worker with a ticker and
measures from the moment a request is sent, so a stalled worker sends fewer requests rather than queueing them
(it does not correct for coordinated omission as wrk2 does; wrk2 is in neither Debian's nor PyPI's packages):
the achieved rate is printed beside the target rate, and a shortfall shows such stalls.
"""
from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

from . import harness as h

WORKERS = 32
SECONDS = 5 if h.QUICK else 10


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(share * len(sorted_values)))]


def fixed_rate(url: str, token: str, rate: float) -> tuple[float, float, float, float, int]:
    """(p50 ms, p99 ms, p99.9 ms, achieved req/s, non-2xx answers) of `url` at `rate` requests per second."""
    hey = h.debian_tool("hey", "hey")
    argv = [hey, "-z", f"{SECONDS}s", "-c", str(WORKERS), "-q", f"{rate / WORKERS:.3f}", "-t", "5", "-o", "csv",
            "-H", f"Authorization: Bearer {token}", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 60)
    if done.returncode != 0:
        raise SystemExit(f"hey failed on {url}:\n{done.stderr}")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    times = sorted(float(row["response-time"]) * 1000 for row in rows)
    errors = sum(not row["status-code"].startswith("2") for row in rows)
    return (percentile(times, 0.50), percentile(times, 0.99), percentile(times, 0.999), len(rows) / SECONDS,
            errors)


def fixed_rate_table(url: str, token_file: Path, max_rates: dict[str, float]) -> list[str]:
    token = token_file.read_text().split()[0]
    lines = [f"Latency at half the maximum rate (hey from Debian, {WORKERS} paced workers, {SECONDS} s, one user):",
             "", "| route | target req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    paths = {"GET /auth/me": "/auth/me", "GET /users/profile": "/users/profile"}
    for label, max_rate in max_rates.items():
        rate = max_rate / 2
        p50, p99, p999, achieved, errors = fixed_rate(url + paths[label], token, rate)
        lines.append(f"| {label} | {rate:,.0f} | {achieved:,.0f} | {p50:.2f} | {p99:.2f} | {p999:.2f} | {errors} |")
    return lines + [""]
