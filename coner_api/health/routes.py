"""Health routes: `/health`, `/ready` and the trivial `/auth/health` (docs/api.md, "Health")."""
from __future__ import annotations

import threading

from flask import Flask, current_app, jsonify, make_response

from ..blueprint import Blueprint
from ..caches import BoundedCache
from ..db import get_db
from ..errors import ApiError
from ..rate_limits import UNLIMITED
from ..supabase_client import get_supabase_auth
from .schemas import AuthHealthSchema, HealthErrorSchema, HealthSchema, ReadinessSchema

# Load balancers and platforms poll these: never rate-limited.
blp = Blueprint("health", __name__, description="Liveness and readiness", rate_limit=UNLIMITED)

READINESS_TTL = 2.0


class Readiness:
    """This process's latest /ready answer, and the lock that lets one request at a time check."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answer: BoundedCache[str, tuple[int, dict]] = BoundedCache(1, READINESS_TTL)


def init_app(app: Flask) -> None:
    app.extensions["coner.readiness"] = Readiness()


def redis_status() -> str:
    """"disabled" without REDIS_URL; else "ok" or "error" from a ping with a short timeout."""
    client = current_app.extensions.get("coner.redis")
    if client is None:
        return "disabled"
    try:
        client.ping()
        return "ok"
    except Exception:  # any Redis failure only degrades rate limiting; report it, never raise
        return "error"


@blp.route("/health")
@blp.response(200, HealthSchema)
@blp.alt_response(500, schema=HealthErrorSchema, description="Postgres is unavailable")
def health():
    """Process health with a database round trip."""
    try:
        get_db().ping()
    except ApiError as exc:
        return make_response(jsonify(status="error", error=exc.message, code=exc.code), 500)
    return {"status": "ok", "db": True, "redis": redis_status()}


@blp.route("/ready")
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="A required service is unavailable")
def ready():
    """Readiness: Postgres and Supabase Auth must answer; Redis only degrades."""
    # The answer is kept READINESS_TTL seconds per process, one check at a time: /ready is unauthenticated and
    # unlimited (load balancers poll it), so a flood of it must not turn into a flood on Supabase or the pool.
    readiness = current_app.extensions["coner.readiness"]
    with readiness.lock:
        answer = readiness.answer.get("ready")
        if answer is None:
            answer = _check_readiness()
            readiness.answer.put("ready", answer)
    status, body = answer
    return make_response(jsonify(body), status)


def _check_readiness() -> tuple[int, dict]:
    services: dict[str, str] = {}
    failures: list[ApiError] = []
    for name, check in (("database", lambda: get_db().ping()), ("auth", lambda: get_supabase_auth().health())):
        try:
            check()
            services[name] = "ok"
        except ApiError as exc:
            services[name] = exc.message
            failures.append(exc)
    services["redis"] = redis_status()
    if failures:
        return 503, {"status": "not_ready", "services": services,
                     "error": "; ".join(f.message for f in failures), "code": failures[0].code}
    return 200, {"status": "ready", "services": services}


@blp.route("/auth/health")
@blp.built_response(200, AuthHealthSchema)
def auth_health():
    """The trivial route: no I/O at all."""
    # Answered like the hot routes (without a marshmallow dump), so that the benchmark's ceiling is fair.
    return jsonify(ok=True, service="auth")
