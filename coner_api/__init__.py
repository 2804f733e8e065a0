"""The Coner API: a Flask service in front of Supabase Auth, with user profiles in Postgres.

`create_app` wires the platform modules (config, db, errors, request ids, rate limits, API docs, the Supabase
client) and the features (accounts, sessions, mfa, profiles, lifecycle, admin, dev, health);
docs/architecture.md draws the map.
"""
from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Mapping

from flask import Flask

from .config import Config

if TYPE_CHECKING:
    import redis

__all__ = ["create_app", "close_app", "cache_stats", "Config"]

# A dead or hung Redis must cost a request at most one short timeout (redis-py otherwise retries 3 times with
# seconds of backoff); the rate limiter and the health check share this one client.
REDIS_TIMEOUT_SECONDS = 0.3


def create_app(config: Config | Mapping[str, str] | None = None) -> Flask:
    """Build the app. `config` is a Config, a mapping of environment-style names (tests), or None to read
    the process environment. Opens this process's database pool, so call it after gunicorn forks."""
    # Imported here rather than at module level: tools that only need the Config (migrations, the admin CLI's
    # option parsing) should not pay for loading the whole product.
    from . import (api_docs, body_gate, db, errors, profiles, rate_limits, request_ids, sessions,
                   supabase_client)
    from .observability import logs, metrics_route, telemetry
    from .accounts.routes import blp as accounts_routes
    from .admin import cli as admin_cli
    from .admin.routes import blp as admin_routes
    from .dev.routes import blp as dev_routes
    from .health import routes as health
    from .mfa import status as mfa_status
    from .mfa.routes import blp as mfa_routes
    from .lifecycle.routes import blp as lifecycle_routes
    from .profiles.routes import blp as profile_routes
    from .sessions.guard import authenticated_user_id, request_user_id

    if config is None:
        config = Config.from_env()
    elif not isinstance(config, Config):
        config = Config.from_env(config)

    app = Flask(__name__)
    # werkzeug answers /auth//signin with a 308 to an absolute URL built from the Host header (an HTML page,
    # carrying the query: an OAuth code to whatever host the request named). An unknown path is a 404.
    app.url_map.merge_slashes = False
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        API_TITLE="Coner API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.extensions["coner.config"] = config
    app.json.sort_keys = False  # answer in the schemas' field order, as the contract shows its bodies
    _trust_proxies(app, config)
    logs.configure(config.log_format)

    # First among the request hooks: its clock starts before, and its log line is written after, all others.
    telemetry.init_app(app, request_user_id, metrics_on=bool(config.metrics_token))
    request_ids.init_app(app)
    api = api_docs.make_api(app, config)
    app.extensions["coner.api"] = api
    errors.init_app(app)
    database = db.init_app(app, config)
    sessions.init_app(app, config, database)
    supabase_client.init_app(app, config)
    mfa_status.init_app(app)
    redis_client = _redis_client(config)
    if redis_client is not None:
        app.extensions["coner.redis"] = redis_client
    rate_limits.init_app(app, config, authenticated_user_id, redis_client)
    body_gate.init_app(app)
    profiles.init_app(app)
    health.init_app(app)
    metrics_route.init_app(app, config)
    app.register_blueprint(api_docs.docs)
    for blueprint in (health.blp, accounts_routes, mfa_routes, profile_routes, lifecycle_routes, admin_routes):
        api.register_blueprint(blueprint)
    admin_cli.init_app(app)
    if config.dev_routes_enabled:  # only in development against a local Supabase (docs/api.md)
        api.register_blueprint(dev_routes)
    elif config.is_development:
        app.logger.warning("APP_ENV=development with a Supabase that is not on this machine: the /dev routes "
                           "are off (they create users and hand out their tokens)")
    return app


def _trust_proxies(app: Flask, config: Config) -> None:
    """Read the client's address and scheme through exactly TRUSTED_PROXIES proxy hops (Heroku: 1), so that a
    client cannot spoof them with its own X-Forwarded-For (the rate limits key on that address)."""
    if config.trusted_proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=config.trusted_proxies)


def _redis_client(config: Config) -> "redis.Redis | None":
    """A Redis client with short timeouts and no retries, only when REDIS_URL is set."""
    if not config.redis_url:
        return None
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(config.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                socket_connect_timeout=REDIS_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 0))


def cache_stats(app: Flask) -> dict[str, object]:
    """Sizes and hit counts of the process's caches (logged by each gunicorn worker on exit; make bench
    reports the hit rates)."""
    stats: dict[str, object] = {
        "tokens": app.extensions["coner.verifier"]._cache.stats(),
        "shared_tokens": {"hits": app.extensions["coner.verifier"].shared_hits,
                          "misses": app.extensions["coner.verifier"].shared_misses},
        "profile_touches": app.extensions["coner.profile_touches"].stats(),
        "profiles": app.extensions["coner.profile_cache"].cache.stats(),
        "revocations": app.extensions["coner.revocations"].recent.sizes(),
    }
    shared = app.extensions["coner.limiter"].shared
    if shared is not None:
        stats["rate_windows"] = {**shared._windows.stats(), "redis_calls": shared.calls}
    # The collector: objects frozen at load (serving/memory.py) and the full collections made since start.
    stats["gc"] = {"frozen": gc.get_freeze_count(), "full_collections": gc.get_stats()[2]["collections"]}
    return stats


def close_app(app: Flask) -> None:
    """Release the process's connections (gunicorn worker exit, end of a test)."""
    from .observability import metrics_route

    metrics_route.close(app)
    app.extensions["coner.revocations"].stop()
    app.extensions["coner.limiter"].close()
    app.extensions["coner.db"].close()
    app.extensions["coner.supabase_auth"].close()
    redis_client = app.extensions.get("coner.redis")
    if redis_client is not None:
        redis_client.close()
