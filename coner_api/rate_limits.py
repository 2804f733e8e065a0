"""Rate limits (flask-limiter), applied centrally by endpoint so that route modules carry none.

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

Storage is Redis when REDIS_URL is set (one count across every worker and dyno), memory otherwise. Redis
failing or hanging never fails a request: the client has 0.3 s socket timeouts and no retries, the
limiter falls back to per-process memory counts (still limited, though per worker) and re-probes Redis
with a backoff, and any other storage error is swallowed (logged). `/health` reports `"redis": "error"`.
"""
from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limit, Limiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from .config import Config
from .guard import verified_claims

CREDENTIALS, PUBLIC, PROTECTED, UNLIMITED = "credentials", "public", "protected", "unlimited"

CREDENTIAL_ENDPOINTS = frozenset({
    "auth.signup", "auth.signin", "auth.refresh", "auth.verify_email", "auth.resend_verification",
    "auth.password_forgot", "auth.password_reset",
})
CREDENTIAL_BLUEPRINTS = frozenset({"dev"})  # test tokens are sign-ins; test users are sign-ups
PUBLIC_ENDPOINTS = frozenset({"auth.google_url", "auth.callback"})
UNLIMITED_ENDPOINTS = frozenset({"health.health", "health.ready", "health.auth_health", "static"})
UNLIMITED_BLUEPRINTS = frozenset({"api-docs", "docs"})

# Redis client settings shared by the limiter's storage and the health check: a dead or hung Redis must
# cost a request at most one short timeout (redis-py otherwise retries 3 times with seconds of backoff).
REDIS_CLIENT_OPTIONS: dict[str, Any] = {
    "socket_timeout": 0.3,
    "socket_connect_timeout": 0.3,
    "retry": Retry(NoBackoff(), 0),
}


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
    return request.remote_addr or "unknown"


def user_or_ip() -> str:
    """The user id of a token whose signature, expiry, issuer and audience verify; else the client IP.

    Only the verifier (in-process caches, no query): the revocation check stays with `auth_required`, so
    this adds no database round trip, not even while Postgres is down. A revoked but genuine token is
    counted against the user it was issued to, which is who it identifies."""
    try:
        return "user:" + verified_claims().user_id
    except Exception:  # noqa: BLE001 - any failure: the route refuses the request itself (401/503)
        # An exception escaping a key function would make flask-limiter think its storage died.
        return "ip:" + client_ip()


def _outside(group: str):
    """`exempt_when` of a group's limit: the request's route belongs to another group."""
    return lambda: group_of(request.endpoint) != group


# Each limited group: its bucket (the scope, shared by all its routes) and how a client is told apart.
_KEYS = ((CREDENTIALS, client_ip), (PUBLIC, client_ip), (PROTECTED, user_or_ip))


def init_app(app: Flask, config: Config) -> Limiter:
    """Trust exactly TRUSTED_PROXIES proxy hops, then install the limiter and its header clean-up."""
    if config.trusted_proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=config.trusted_proxies)
    app.config.update(
        RATELIMIT_STORAGE_URI=config.redis_url or "memory://",
        RATELIMIT_STORAGE_OPTIONS=dict(REDIS_CLIENT_OPTIONS) if config.redis_url else {},
        # Moving window: a hard "N in any 60 s", no double burst at a window edge; exact Retry-After.
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX="coner",
    )
    # Flask runs after_request hooks last-registered first: registered before the limiter's, this one
    # sees the headers the limiter added.
    app.after_request(_tidy_retry_after)
    limiter = Limiter(key_func=client_ip, default_limits=[
        Limit(limit_for(group, config), key_function=key, scope=group, shared=True, exempt_when=_outside(group))
        for group, key in _KEYS])
    # A CORS preflight does no work; it must not spend the budget of the request it announces.
    limiter.request_filter(lambda: request.method == "OPTIONS")
    limiter.init_app(app)
    app.extensions["coner.limiter"] = limiter
    return limiter


def _tidy_retry_after(response: Response) -> Response:
    """flask-limiter puts `Retry-After` on every limited response, rounded oddly. Keep it only on a 429, as
    whole seconds until the window frees a slot, at least 1 (a client retrying after 0 s would be refused)."""
    if "X-RateLimit-Reset" not in response.headers:
        return response
    if response.status_code != 429:
        response.headers.pop("Retry-After", None)
        return response
    try:
        # The window was read for the headers already (cached on the limit): no further storage call.
        reset_at = current_app.extensions["coner.limiter"].current_limit.window[0]
    except Exception:  # noqa: BLE001 - storage trouble: the header's (rounded up) reset time will do
        reset_at = int(response.headers["X-RateLimit-Reset"])
    response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
