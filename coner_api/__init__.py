"""The Coner API: a Flask service in front of Supabase Auth, with user profiles in Postgres."""
from __future__ import annotations

from typing import Mapping

from flask import Flask

from .config import Config

__all__ = ["create_app", "Config"]


def create_app(config: Config | Mapping[str, str] | None = None) -> Flask:
    """Build the app. `config` is a Config, a mapping of environment-style names (tests), or None to read
    the process environment. Opens this process's database pool, so call it after gunicorn forks."""
    # Imported here, not at module level: `coner_api.local` (the Auth stand-in, the `make run` tooling)
    # lives in this package and should not pay for loading the whole product at start-up.
    from . import (api_docs, auth, db, dev, errors, guard, health, profiles, rate_limits, request_ids,
                   revocation, supabase_auth, users)
    from . import admin, admin_cli

    if config is None:
        config = Config.from_env()
    elif not isinstance(config, Config):
        config = Config.from_env(config)

    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        API_TITLE="Coner API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.extensions["coner.config"] = config
    app.json.sort_keys = False  # answer in the schemas' field order, as 000 shows its bodies

    request_ids.init_app(app)
    api = api_docs.make_api(app, config)
    app.extensions["coner.api"] = api
    errors.init_app(app)
    database = db.init_app(app, config)
    revocation.init_app(app, config, database)
    guard.init_app(app, config)
    supabase_auth.init_app(app, config)
    _init_redis(app, config)
    rate_limits.init_app(app, config)
    profiles.init_app(app)
    app.register_blueprint(api_docs.docs)
    api.register_blueprint(health.blp)
    api.register_blueprint(auth.blp)
    api.register_blueprint(users.blp)
    api.register_blueprint(admin.blp)
    admin_cli.init_app(app)
    if config.is_development:  # 000: the /dev routes do not exist outside development
        api.register_blueprint(dev.blp)
    return app


def _init_redis(app: Flask, config: Config) -> None:
    """A Redis client with short timeouts, only when REDIS_URL is set (health reporting; rate limits)."""
    if not config.redis_url:
        return
    import redis

    from . import rate_limits

    app.extensions["coner.redis"] = redis.Redis.from_url(config.redis_url, **rate_limits.REDIS_CLIENT_OPTIONS)


def close_app(app: Flask) -> None:
    """Release the process's connections (gunicorn worker exit, end of a test)."""
    app.extensions["coner.revocations"].stop()
    app.extensions["coner.db"].close()
    app.extensions["coner.supabase_auth"].close()
