"""Rate limits, applied centrally by endpoint so that route modules carry none.

Every endpoint falls in one group; each group is ONE shared bucket per client:
- credentials: routes that take credentials or send mail (and the development token routes):
  `RATE_LIMIT_AUTH` per client IP, shared by all of them, so an attacker cannot multiply the budget by
  rotating between sign-in, refresh and password reset.
- public: routes without credentials that still do work (the Google sign-in URL writes a flow row, the
  callback exchanges a code): `RATE_LIMIT_USER` per client IP, a generous ceiling against floods.
- unlimited: health and readiness probes (load balancers poll them), the OpenAPI document and /docs.
- protected: everything else, i.e. every route behind `auth_required` (/auth/me, logout, bootstrap,
  /users/*, /admin/*, and any route added later): `RATE_LIMIT_USER` per user id of a token whose signature
  verifies. A request whose token does not verify is refused by the route anyway; it is counted against its
  IP meanwhile, so a flood of forged tokens cannot spend another user's budget.

Counting is a moving window (a hard "N in any 60 s": no double burst at a window edge, an exact Retry-After):
the `limits` library's over Redis when REDIS_URL is set (one count across every worker and dyno), else
`MemoryWindows` below. Two parts are ours, for speed (README, Performance): the Flask glue, because
flask-limiter's per-request rule resolution (re-parsing the limit strings, merging rule sets, evaluating
exemptions) cost more than the rest of a cached /auth/me together; and the memory windows, because `limits`'
MemoryStorage keeps one garbage-collected object per hit and copies every key's list from a timer thread
100 times a second, which under load made the collector's pauses the largest cost of a request.

Redis failing or hanging never fails a request: the client has 0.3 s socket timeouts and no retries; on an
error the process counts in its own memory (still limited, though per worker) and tries Redis again after a
back-off (1 s, doubling to 30 s). `/health` reports `"redis": "error"` meanwhile.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable

from flask import Flask, Response
from limits import RateLimitItem, WindowStats, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from .config import Config
from .context import current_request, extension, request_globals
from .errors import RateLimited
from .guard import verified_claims

log = logging.getLogger(__name__)

CREDENTIALS, PUBLIC, PROTECTED, UNLIMITED = "credentials", "public", "protected", "unlimited"

CREDENTIAL_ENDPOINTS = frozenset({
    "auth.signup", "auth.signin", "auth.refresh", "auth.verify_email", "auth.resend_verification",
    "auth.password_forgot", "auth.password_reset",
})
CREDENTIAL_BLUEPRINTS = frozenset({"dev"})  # test tokens are sign-ins; test users are sign-ups
PUBLIC_ENDPOINTS = frozenset({"auth.google_url", "auth.callback"})
UNLIMITED_ENDPOINTS = frozenset({"health.health", "health.ready", "health.auth_health", "static"})
UNLIMITED_BLUEPRINTS = frozenset({"api-docs", "docs"})
KEY_PREFIX = "coner"

# Redis client settings shared by the limiter's storage and the health check: a dead or hung Redis must
# cost a request at most one short timeout (redis-py otherwise retries 3 times with seconds of backoff).
REDIS_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 0.3,
    "socket_connect_timeout": 0.3,
    "retry": Retry(NoBackoff(), 0),
}
REDIS_RETRY_FIRST, REDIS_RETRY_MAX = 1.0, 30.0


def group_of(endpoint: str | None) -> str | None:
    """The rate-limit group of a Flask endpoint name (None: no route matched)."""
    if not endpoint:
        return None
    blueprint = endpoint.rpartition(".")[0]
    if endpoint in CREDENTIAL_ENDPOINTS or blueprint in CREDENTIAL_BLUEPRINTS:
        return CREDENTIALS
    if endpoint in PUBLIC_ENDPOINTS:
        return PUBLIC
    if endpoint in UNLIMITED_ENDPOINTS or blueprint in UNLIMITED_BLUEPRINTS:
        return UNLIMITED
    return PROTECTED


def limit_for(group: str | None, config: Config) -> str | None:
    """The configured limit of a group (None for unlimited)."""
    return {CREDENTIALS: config.rate_limit_auth, PUBLIC: config.rate_limit_user,
            PROTECTED: config.rate_limit_user}.get(group or UNLIMITED)


def client_ip() -> str:
    """The client's address. `X-Forwarded-For` counts only through TRUSTED_PROXIES hops: ProxyFix (installed
    by `init_app`) rewrites `remote_addr` from exactly that many entries, so a client cannot spoof it."""
    return current_request().remote_addr or "unknown"


def user_or_ip() -> str:
    """The user id of a token whose signature, expiry, issuer and audience verify; else the client IP.

    Only the verifier (in-process caches, no query): the revocation check stays with `auth_required`, so
    this adds no database round trip, not even while Postgres is down. A revoked but genuine token is
    counted against the user it was issued to, which is who it identifies."""
    try:
        return "user:" + verified_claims().user_id
    except Exception:  # noqa: BLE001 - any failure: the route refuses the request itself (401/503)
        return ip_key()


def ip_key() -> str:
    return "ip:" + client_ip()


class MemoryWindows:
    """Moving windows in this process's memory, with the semantics of `limits`' moving window: a hit is
    allowed while fewer than `item.amount` hits fall in the item's period; the window resets when its oldest
    hit leaves it. Per key, a deque of hit times (floats: nothing for the garbage collector to scan), trimmed
    as it is used; the least recently used keys go beyond `max_keys`. Thread-safe."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self.max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, WindowStats]:
        """Count a hit if the window has room; whether it did, and the window as it now stands."""
        amount, expiry, now = item.amount, item.get_expiry(), self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque()
                if len(self._windows) > self.max_keys:
                    self._windows.popitem(last=False)
            else:
                self._windows.move_to_end(key)
            while window and window[0] <= now - expiry:
                window.popleft()
            allowed = len(window) < amount
            if allowed:
                window.append(now)
            return allowed, WindowStats((window[0] if window else now) + expiry, amount - len(window))


class RedisWindows:
    """`limits`' moving window over Redis, behind MemoryWindows' interface."""

    def __init__(self, redis_url: str) -> None:
        self._strategy = MovingWindowRateLimiter(storage_from_string(redis_url, **REDIS_CLIENT_OPTIONS))

    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, WindowStats]:
        return self._strategy.hit(item, key), self._strategy.get_window_stats(item, key)


Windows = MemoryWindows | RedisWindows


@dataclass(frozen=True)
class Rule:
    """A group's limits (RATE_LIMIT_* may hold several, e.g. "5/minute;50/hour"), strictest first, each with
    its storage key up to the client ("coner/protected/100 per 1 minute/"), and how clients are told apart."""

    limits: tuple[tuple[RateLimitItem, str], ...]
    client_key: Callable[[], str]

    @classmethod
    def parse(cls, group: str, limits: str, client_key: Callable[[], str]) -> "Rule":
        items = sorted(parse_many(limits))
        return cls(tuple((item, f"{KEY_PREFIX}/{group}/{item}/") for item in items), client_key)

    def count(self, windows: Windows, client: str) -> tuple[bool, RateLimitItem, WindowStats]:
        """Count one request of `client`: whether it is allowed, and the limit to report (the one that
        refused it, else the one with the least left) with its window."""
        answers = []
        for item, prefix in self.limits:  # strictest first: a refused request
            allowed, stats = windows.hit(item, prefix + client)  # spends nothing on the looser limits
            if not allowed:
                return False, item, stats
            answers.append((True, item, stats))
        return min(answers, key=lambda answer: answer[2].remaining)


class RateLimiter:
    """Counts requests per group and client; thread-safe, one per process (gunicorn worker)."""

    def __init__(self, config: Config) -> None:
        keys = {CREDENTIALS: ip_key, PUBLIC: ip_key, PROTECTED: user_or_ip}
        self.rules = {group: Rule.parse(group, limit_for(group, config) or "", key) for group, key in keys.items()}
        self._endpoint_rules: dict[str | None, Rule | None] = {}  # group_of() once per endpoint, not per request
        self.memory = MemoryWindows()
        self.shared = RedisWindows(config.redis_url) if config.redis_url else None
        self._lock = threading.Lock()
        self._redis_retry_at = 0.0  # monotonic time before which Redis is not tried again
        self._redis_backoff = REDIS_RETRY_FIRST

    def rule_for(self, endpoint: str | None) -> Rule | None:
        """The rule of a Flask endpoint (None: unlimited)."""
        try:
            return self._endpoint_rules[endpoint]
        except KeyError:
            rule = self._endpoint_rules[endpoint] = self.rules.get(group_of(endpoint) or UNLIMITED)
            return rule

    def hit(self, rule: Rule) -> tuple[bool, RateLimitItem, WindowStats]:
        """Count one request against `rule` in Redis, or in memory while Redis is failing (or not set)."""
        client = rule.client_key()
        if self.shared is not None and time.monotonic() >= self._redis_retry_at:
            try:
                answer = rule.count(self.shared, client)
                self._redis_recovered()
                return answer
            except Exception as exc:  # noqa: BLE001 - any storage failure: count in memory instead
                self._redis_failed(exc)
        return rule.count(self.memory, client)

    def _redis_failed(self, exc: Exception) -> None:
        with self._lock:
            if self._redis_retry_at == 0.0:
                log.warning("rate-limit storage unreachable (%s: %s); counting in this process's memory",
                            type(exc).__name__, exc)
            self._redis_retry_at = time.monotonic() + self._redis_backoff
            self._redis_backoff = min(self._redis_backoff * 2, REDIS_RETRY_MAX)

    def _redis_recovered(self) -> None:
        if self._redis_retry_at == 0.0:
            return
        with self._lock:
            if self._redis_retry_at != 0.0:
                log.warning("rate-limit storage reachable again")
            self._redis_retry_at, self._redis_backoff = 0.0, REDIS_RETRY_FIRST


def _limiter() -> RateLimiter:
    return extension("coner.limiter")


def check_request() -> None:
    """before_request: count the request against its group's limit; 429 when the budget is spent."""
    req = current_request()
    if req.method == "OPTIONS":  # a CORS preflight does no work; it must not spend the budget
        return
    limiter = _limiter()
    rule = limiter.rule_for(req.endpoint)
    if rule is None:
        return
    allowed, item, stats = limiter.hit(rule)
    request_globals().rate_limit = (item, stats)
    if not allowed:
        raise RateLimited()


def add_headers(response: Response) -> Response:
    """after_request: the X-RateLimit-* headers on every limited answer; Retry-After only on a 429, as whole
    seconds until the window frees a slot, at least 1 (a client retrying after 0 s would be refused)."""
    limited = request_globals().get("rate_limit")
    if limited is None:
        return response
    item, stats = limited
    headers = response.headers  # add, not set: nothing else writes these, and set scans for an old value
    headers.add("X-RateLimit-Limit", str(item.amount))
    headers.add("X-RateLimit-Remaining", str(max(0, stats.remaining)))
    headers.add("X-RateLimit-Reset", str(math.ceil(stats.reset_time)))
    if response.status_code == 429:
        headers.add("Retry-After", str(max(1, math.ceil(stats.reset_time - time.time()))))
    return response


def init_app(app: Flask, config: Config) -> RateLimiter:
    """Trust exactly TRUSTED_PROXIES proxy hops, then count every request before its route runs."""
    if config.trusted_proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=config.trusted_proxies)
    limiter = RateLimiter(config)
    app.extensions["coner.limiter"] = limiter
    app.before_request(check_request)
    app.after_request(add_headers)
    return limiter
