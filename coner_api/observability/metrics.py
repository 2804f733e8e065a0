"""The API's Prometheus metrics: what is measured, and the few calls that record it (docs/api.md, "Metrics").

`prometheus-client` keeps the values. Under gunicorn each worker is a process with its own; in multiprocess
mode (`PROMETHEUS_MULTIPROC_DIR`, which gunicorn.conf.py sets up for each server start) every process writes
its values to memory-mapped files in that folder, and a scrape of any one worker adds up the files of all of
them. Without the variable (an app in a test process) the values live in this process's memory.

Cost on the request path, measured with `make bench` (README): one histogram observation per request (two
value updates: the sum and one bucket; the bucket counts are the request counter), through a child looked up
once per (method, route, status). Everything else is recorded where it happens (a sign-in failure, a call to
Supabase Auth, a purge broadcast) or sampled off the request path (`sampler.py`).
"""
from __future__ import annotations

import os
import re
import time
from typing import Any

import httpx
from prometheus_client import (REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               multiprocess)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

# Decided by prometheus_client when it was imported (just above), from the same variable.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
# The text format every Prometheus reads; what prometheus_client itself answers a scraper that asks for nothing
# else (its CONTENT_TYPE_LATEST names version 1.0.0, which older servers do not know).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# The route label of a request no route matched (404, 405): one series, not one per path.
UNMATCHED = "unmatched"

REQUEST_SECONDS = Histogram(
    "coner_http_request_duration_seconds",
    "Time from the first request hook to the answer, by method, route template and status; its _count is "
    "the number of requests",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
SIGN_IN_FAILURES = Counter(
    "coner_signin_failures_total", "Sign-ins refused or failed, by method (password, google) and error code",
    ["method", "code"])
RATE_LIMITED = Counter("coner_rate_limited_total", "429 answers, by rate-limit group", ["group"])
AUTH_SECONDS = Histogram(
    "coner_supabase_auth_request_duration_seconds",
    "Calls to Supabase Auth, by operation: time until the answer's headers arrived", ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
AUTH_ERRORS = Counter(
    "coner_supabase_auth_errors_total",
    "Calls to Supabase Auth that failed, by operation and kind (timeout, unreachable, server_error, "
    "rate_limited)", ["operation", "kind"])
POOL_CONNECTIONS = Gauge("coner_db_pool_connections",
                         "Open pooled Postgres connections, by state (in_use, idle)", ["state"],
                         multiprocess_mode="livesum")
POOL_MAX = Gauge("coner_db_pool_max_connections", "The pools' size limit (DB_POOL_MAX per process)",
                 multiprocess_mode="livesum")
POOL_WAITING = Gauge("coner_db_pool_waiting_requests", "Requests waiting for a pooled connection",
                     multiprocess_mode="livesum")
POOL_CHECKOUTS = Counter("coner_db_pool_checkouts_total", "Connections handed out by the pools")
POOL_WAIT_SECONDS = Counter("coner_db_pool_checkout_wait_seconds_total",
                            "Time requests spent waiting for a pooled connection")
POOL_TIMEOUTS = Counter("coner_db_pool_checkout_timeouts_total",
                        "Requests that got no pooled connection in time (503 DB_UNAVAILABLE)")
POOL_LOST = Counter("coner_db_connections_lost_total", "Pooled connections found broken and replaced")
CACHE_LOOKUPS = Counter("coner_cache_lookups_total",
                        "In-process cache lookups, by cache and result (hit, miss)", ["cache", "result"])
CACHE_ENTRIES = Gauge("coner_cache_entries", "Entries held by the in-process caches", ["cache"],
                      multiprocess_mode="livesum")
PURGE_ACK_SECONDS = Histogram(
    "coner_cache_purge_ack_seconds",
    "Time from sending a cache purge to every process's acknowledgement, by outcome (acknowledged, timeout)",
    ["outcome"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0))

_request_children: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """One request's answer (the only call made on every request)."""
    key = (method, route or UNMATCHED, status)
    child = _request_children.get(key)
    if child is None:
        # Bounded labels: a method outside the usual ones (a client may send any token) is "OTHER".
        label = method if method in METHODS else "OTHER"
        child = _request_children.setdefault(key, REQUEST_SECONDS.labels(label, key[1], str(status)))
    child.observe(seconds)


def sign_in_failed(method: str, code: str) -> None:
    SIGN_IN_FAILURES.labels(method, code).inc()


def rate_limited(group: str) -> None:
    RATE_LIMITED.labels(group).inc()


def purge_acknowledged(seconds: float, complete: bool) -> None:
    """A cache purge broadcast ended: every process acknowledged it, or the wait timed out."""
    PURGE_ACK_SECONDS.labels("acknowledged" if complete else "timeout").observe(seconds)


def render() -> bytes:
    """Every metric in the Prometheus text format: all processes' values in multiprocess mode."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# ------------------------------------------------------------------------------- calls to Supabase Auth
# (method, path under /auth/v1 with ids as {id}, grant_type) -> operation. Anything else is "other".
AUTH_OPERATIONS = {
    ("POST", "/token", "password"): "sign_in",
    ("POST", "/token", "refresh_token"): "refresh",
    ("POST", "/token", "pkce"): "exchange_code",
    ("POST", "/signup", None): "sign_up",
    ("POST", "/logout", None): "sign_out",
    ("POST", "/verify", None): "verify_otp",
    ("POST", "/resend", None): "resend",
    ("POST", "/recover", None): "recover",
    ("GET", "/user", None): "get_user",
    ("GET", "/health", None): "health",
    ("GET", "/admin/users", None): "admin_list_users",
    ("POST", "/admin/users", None): "admin_create_user",
    ("GET", "/admin/users/{id}", None): "admin_get_user",
    ("PUT", "/admin/users/{id}", None): "admin_update_user",
    ("DELETE", "/admin/users/{id}", None): "admin_delete_user",
    ("POST", "/admin/generate_link", None): "admin_generate_link",
}
_ID = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?=/|$)")


def auth_operation(request: httpx.Request) -> str:
    path = request.url.path
    path = _ID.sub("/{id}", path[path.find("/auth/v1") + 8:] if "/auth/v1" in path else path)
    grant = request.url.params.get("grant_type") if path == "/token" else None
    return AUTH_OPERATIONS.get((request.method, path, grant), "other")


class TimedTransport(httpx.BaseTransport):
    """An httpx transport that times every call to Supabase Auth and counts its failures, by operation."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        operation = auth_operation(request)
        started = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        except httpx.TimeoutException:
            AUTH_ERRORS.labels(operation, "timeout").inc()
            raise
        except httpx.TransportError:
            AUTH_ERRORS.labels(operation, "unreachable").inc()
            raise
        AUTH_SECONDS.labels(operation).observe(time.perf_counter() - started)
        if response.status_code >= 500:
            AUTH_ERRORS.labels(operation, "server_error").inc()
        elif response.status_code == 429:
            AUTH_ERRORS.labels(operation, "rate_limited").inc()
        return response

    def close(self) -> None:
        self._inner.close()
