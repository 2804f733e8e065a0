"""Rate limits, counted centrally before any route runs; a route only declares its group
(`@blp.rate_limited(CREDENTIALS)`, or its blueprint's default), and every route that declares none is
protected. docs/api.md, "Rate limits", says what clients see.

Every endpoint falls in one group; each group is ONE shared bucket per client:
- credentials: routes that take credentials or send mail (and the development token routes; and
  /auth/mfa/verify, whose code is a credential although the route also needs a token):
  `RATE_LIMIT_AUTH` per client IP, shared by all of them, so an attacker cannot multiply the budget by
  rotating between sign-in, refresh and password reset.
- public: routes without credentials that still do work (the Google sign-in URL writes a flow row, the
  callback exchanges a code): `RATE_LIMIT_USER` per client IP, a generous ceiling against floods.
- unlimited: health and readiness probes (load balancers poll them), the OpenAPI document and /docs.
- protected: everything else, i.e. every route behind `auth_required` (/auth/me, logout, bootstrap,
  /users/*, /admin/*, and any route added later): `RATE_LIMIT_USER` per user id of a token that verifies and
  is not revoked (the guard's own decision, made once per request). A request whose token is refused is
  refused by the route anyway; it is counted against its IP meanwhile, so neither a flood of forged tokens
  nor a leaked token that was logged out can spend its owner's budget.

Counting is a moving window (a hard "N in any 60 s": no double burst at a window edge, an exact Retry-After),
the limits parsed by the `limits` library: over Redis when REDIS_URL is set (one count across every worker and
dyno; `redis_windows.py`: one script call per round trip, and hits counted per process and sent to Redis in
batches, within a stated bound), else `MemoryWindows` below. Three parts are ours, for speed
(docs/architecture.md, "Rate limits"): the Redis windows (above), the Flask glue, because
flask-limiter's per-request rule resolution (re-parsing the limit strings, merging rule sets, evaluating
exemptions) cost more than the rest of a cached /auth/me together; and the memory windows, because `limits`'
MemoryStorage keeps one garbage-collected object per hit and copies every key's list from a timer thread
100 times a second, which under load made the collector's pauses the largest cost of a request.

Redis failing or hanging never fails a request: the client (made by the app factory) has 0.3 s socket
timeouts and no retries; on an error the process counts in its own memory (still limited, though per worker) and tries Redis again after a
back-off (1 s, doubling to 30 s). `/health` reports `"redis": "error"` meanwhile.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from flask import Flask, Response
from limits import RateLimitItem, WindowStats, parse_many

from .caches import BoundedCache
from .config import Config
from .context import current_request, extension, request_globals
from .errors import RateLimited
from .redis_windows import RedisWindows

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

CREDENTIALS, PUBLIC, PROTECTED, UNLIMITED = "credentials", "public", "protected", "unlimited"
CODES = "codes"  # not a route group: attempts at one-time codes, per account (`count_code_attempt`)
CODE_ATTEMPTS = ("and attempts at one-time codes per account, whatever the client's address "
                 "(RATE_LIMIT_CODES, default 10 per 15 minutes)")

# Platform endpoints (not routes of a feature) that nothing limits.
UNLIMITED_ENDPOINTS = frozenset({"static"})
UNLIMITED_BLUEPRINTS = frozenset({"api-docs", "docs"})
GROUP_ATTRIBUTE = "rate_limit_group"  # set on a view by `Blueprint.rate_limited`, on a blueprint by its init
KEY_PREFIX = "coner"
REDIS_RETRY_FIRST, REDIS_RETRY_MAX = 1.0, 30.0


def group_of(app: Flask, endpoint: str | None) -> str | None:
    """The rate-limit group of a Flask endpoint (None: no route matched): the view's own, else its
    blueprint's, else protected."""
    if not endpoint:
        return None
    blueprint = endpoint.rpartition(".")[0]
    if endpoint in UNLIMITED_ENDPOINTS or blueprint in UNLIMITED_BLUEPRINTS:
        return UNLIMITED
    return (getattr(app.view_functions.get(endpoint), GROUP_ATTRIBUTE, None)
            or getattr(app.blueprints.get(blueprint), GROUP_ATTRIBUTE, None) or PROTECTED)


def limit_for(group: str | None, config: Config) -> str | None:
    """The configured limit of a group (None for unlimited)."""
    return {CREDENTIALS: config.rate_limit_auth, PUBLIC: config.rate_limit_user,
            PROTECTED: config.rate_limit_user}.get(group or UNLIMITED)


def client_ip() -> str:
    """The client's address. `X-Forwarded-For` counts only through TRUSTED_PROXIES hops: ProxyFix (installed
    by the app factory) rewrites `remote_addr` from exactly that many entries, so a client cannot spoof it."""
    return current_request().remote_addr or "unknown"


def _network(address: str) -> str:
    """An IPv6 client is its /64: one subscriber usually holds a whole /64 and can pick any address in it, so
    counting per address would give it 2**64 budgets. IPv4 (and IPv4-mapped IPv6) is counted per address."""
    if ":" not in address:
        return address
    try:
        parsed = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.IPv6Network((parsed, 64), strict=False))


def ip_key() -> str:
    return "ip:" + _network(client_ip())


class MemoryWindows:
    """Moving windows in this process's memory, with the semantics of `limits`' moving window: a hit is
    allowed while fewer than `item.amount` hits fall in the item's period; the window resets when its oldest
    hit leaves it. Per key, a deque of hit times (floats: nothing for the garbage collector to scan), trimmed
    as it is used; the least recently used keys go beyond `max_keys`. Thread-safe."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: BoundedCache[str, deque[float]] = BoundedCache(max_keys)
        self._lock = threading.Lock()  # a window's check and append happen together

    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, WindowStats]:
        """Count a hit if the window has room; whether it did, and the window as it now stands."""
        amount, expiry, now = item.amount, item.get_expiry(), self._clock()
        window = self._windows.get_or_put(key, deque)
        with self._lock:
            while window and window[0] <= now - expiry:
                window.popleft()
            allowed = len(window) < amount
            if allowed:
                window.append(now)
            return allowed, WindowStats((window[0] if window else now) + expiry, amount - len(window))


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

    def __init__(self, app: Flask, config: Config, user_id: Callable[[], str | None],
                 redis_client: "redis.Redis | None" = None) -> None:
        def user_or_ip() -> str:
            user = user_id()
            return ip_key() if user is None else "user:" + user

        keys = {CREDENTIALS: ip_key, PUBLIC: ip_key, PROTECTED: user_or_ip}
        self.rules = {group: Rule.parse(group, limit_for(group, config) or "", key) for group, key in keys.items()}
        self.code_rule = Rule.parse(CODES, config.rate_limit_codes, ip_key)  # keyed by the account instead
        self.app = app
        self._endpoint_rules: dict[str | None, Rule | None] = {}  # group_of() once per endpoint, not per request
        self.memory = MemoryWindows()
        self.shared = RedisWindows(redis_client) if redis_client is not None else None
        self._lock = threading.Lock()
        self._redis_retry_at = 0.0  # monotonic time before which Redis is not tried again
        self._redis_backoff = REDIS_RETRY_FIRST

    def rule_for(self, endpoint: str | None) -> Rule | None:
        """The rule of a Flask endpoint (None: unlimited)."""
        try:
            return self._endpoint_rules[endpoint]
        except KeyError:
            rule = self._endpoint_rules[endpoint] = self.rules.get(group_of(self.app, endpoint) or UNLIMITED)
            return rule

    def hit(self, rule: Rule, client: str | None = None) -> tuple[bool, RateLimitItem, WindowStats]:
        """Count one request of `client` (by default the rule's key for this request) against `rule` in Redis,
        or in memory while Redis is failing (or not set)."""
        if client is None:
            client = rule.client_key()
        if self.shared is not None and time.monotonic() >= self._redis_retry_at:
            try:
                answer = rule.count(self.shared, client)
                self._redis_recovered()
                return answer
            except Exception as exc:  # noqa: BLE001 - any storage failure: count in memory instead
                self._redis_failed(exc)
        return rule.count(self.memory, client)

    def close(self) -> None:
        if self.shared is not None:
            self.shared.close()

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


def count_code_attempt(account: str) -> None:
    """Count an attempt at a one-time code for `account` ("email:<address>", "user:<id>") against
    RATE_LIMIT_CODES, whatever the client's address; 429 once the account's budget is spent (its headers
    then tell that window). Made before the code is checked, so a refused attempt checks nothing."""
    limiter = _limiter()
    allowed, item, stats = limiter.hit(limiter.code_rule, account)
    if not allowed:
        request_globals().rate_limit = (item, stats)
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
    limited = response.status_code == 429  # ours or Supabase's (which our window knows nothing of): none left
    headers.add("X-RateLimit-Remaining", "0" if limited else str(max(0, stats.remaining)))
    headers.add("X-RateLimit-Reset", str(math.ceil(stats.reset_time)))
    if limited and "Retry-After" not in headers:  # an upstream 429 brings its own
        headers.add("Retry-After", str(max(1, math.ceil(stats.reset_time - time.time()))))
    return response


def init_app(app: Flask, config: Config, user_id: Callable[[], str | None],
             redis_client: "redis.Redis | None") -> RateLimiter:
    """Count every request before its route runs. `user_id` names the verified user of the request (the
    key of the protected group); `redis_client` shares the counts between processes when given."""
    limiter = RateLimiter(app, config, user_id, redis_client)
    app.extensions["coner.limiter"] = limiter
    app.before_request(check_request)
    app.after_request(add_headers)
    return limiter
