"""The one configuration object, read from the environment once at start-up."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from limits import parse_many

ENVIRONMENTS = ("development", "production", "test")
LOG_FORMATS = ("json", "text")
# A bearer secret for the metrics scraper: long enough that guessing it over the network is hopeless.
METRICS_TOKEN_MIN_LENGTH = 16
REQUIRED = ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY")
# libpq's two forms: a postgres(ql):// URI, or key=value pairs (psycopg takes both).
_DATABASE_URL = re.compile(r"(postgres|postgresql)://\S*\Z|\s*[A-Za-z_]+\s*=", re.IGNORECASE)


class ConfigError(RuntimeError):
    """The environment cannot run the app; the message names every offending variable."""


@dataclass(frozen=True)
class Config:
    """Every setting the app reads; build it with `Config.from_env()`."""

    app_env: str
    # Secrets (keys, and the passwords inside connection URLs) stay out of the repr, so that no traceback or
    # debug print of a Config can carry them to a log.
    database_url: str = field(repr=False)
    supabase_url: str
    supabase_anon_key: str = field(repr=False)
    supabase_service_role_key: str = field(repr=False)
    supabase_jwt_secret: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    # A direct connection for the cache listener when DATABASE_URL is a transaction pooler (LISTEN needs a
    # session of its own); None: DATABASE_URL.
    database_listen_url: str | None = field(default=None, repr=False)
    oauth_redirect_url: str = "http://127.0.0.1:8080/auth/callback"
    oauth_redirect_allowlist: tuple[str, ...] = ()
    trusted_proxies: int = 0
    rate_limit_auth: str = "5/minute"
    rate_limit_user: str = "100/minute"
    # Attempts at one-time codes (e-mail confirmation, recovery, e-mail change, MFA) per account, whatever
    # the client's address: per-IP limits alone let whoever has many addresses guess a 6-digit code.
    rate_limit_codes: str = "10 per 15 minutes"
    port: int = 8080
    # Timeouts (seconds). A request must never wait long for a dependency: the pool checkout and the
    # outbound Supabase call are bounded well below Heroku's 30 s router timeout.
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_connect_timeout: float = 3.0
    db_checkout_timeout: float = 2.0
    db_statement_timeout_ms: int = 5000
    auth_timeout: float = 5.0
    jwks_fetch_timeout: float = 3.0
    max_body_bytes: int = 64 * 1024
    # Verified tokens each process keeps (sessions/tokens.py): ~740 bytes each (docs/architecture.md, "Caches").
    token_cache_size: int = 12_000
    # GET /users/profile bodies each process keeps (profiles/cache.py): ~460 bytes each. 0 keeps none, and
    # profile writes then send no purge and wait for nobody (docs/architecture.md, "Caches").
    profile_cache_size: int = 5_000
    # Every /admin route needs a token verified with a second factor (aal2); ADMIN_REQUIRE_MFA, default on in
    # production only (docs/api.md, "Two-factor sign-in").
    admin_require_mfa: bool = False
    # One JSON object per log line (a platform's log drain parses them), or readable text (`make run`).
    log_format: str = "json"
    # The Bearer token /metrics asks for; None: no /metrics route and no per-request metrics at all.
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def database_is_pooled(self) -> bool:
        """DATABASE_URL goes through a transaction pooler (the deployer says so by setting DATABASE_LISTEN_URL):
        a statement's connection may be another client's the next moment (db.Database)."""
        return self.database_listen_url is not None

    @property
    def is_development(self) -> bool:
        return self.app_env == "development"

    @property
    def supabase_is_local(self) -> bool:
        """Whether Supabase Auth runs on this machine (the local stand-in): the only case where the /dev routes
        may exist, whatever APP_ENV says."""
        return is_loopback(self.supabase_url)

    @property
    def dev_routes_enabled(self) -> bool:
        return self.is_development and self.supabase_is_local

    @property
    def issuer(self) -> str:
        """The `iss` Supabase Auth puts in access tokens."""
        return f"{self.supabase_url}/auth/v1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read and check the settings; raise ConfigError naming every missing or malformed variable."""
        env = os.environ if environ is None else environ
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731 - blank means unset
        problems: list[str] = []

        missing = [name for name in REQUIRED if not get(name)]
        if missing:
            problems.append("missing required variable(s): " + ", ".join(missing))

        app_env = get("APP_ENV") or "production"
        if app_env not in ENVIRONMENTS:
            problems.append(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)} (got {app_env!r})")

        supabase_url = (get("SUPABASE_URL") or "").rstrip("/")
        if supabase_url and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", supabase_url):
            problems.append("SUPABASE_URL must be an http(s) URL")
        elif supabase_url.lower().endswith("/auth/v1"):
            # The client adds /auth/v1 itself: every call would go to /auth/v1/auth/v1/... and 404.
            problems.append("SUPABASE_URL is the project's URL, without /auth/v1")
        elif supabase_url.startswith("http://") and not is_loopback(supabase_url):
            # Tokens, passwords and the service-role key would cross the network in the clear.
            problems.append("SUPABASE_URL must use https unless it is a loopback address (127.0.0.1, localhost)")

        for name in ("DATABASE_URL", "DATABASE_LISTEN_URL"):
            value = get(name)
            # Checked here, in the one line that names the variable and never its value: psycopg's own refusal
            # of a malformed one ("missing = after 'postgresql+psycopg://user:password@...'") quoted the
            # password into the log on every connection attempt, and the server started anyway.
            if value and not _DATABASE_URL.match(value):
                problems.append(f"{name} must be a PostgreSQL connection URL, "
                                "postgresql://user:password@host:port/dbname (or libpq's key=value form)")

        if app_env == "production" and not get("OAUTH_REDIRECT_URL"):
            # Without it Google sign-in would send browsers back to this machine's loopback address.
            problems.append("OAUTH_REDIRECT_URL is required in production: the public URL of /auth/callback")

        secret = get("SUPABASE_JWT_SECRET")
        if secret is not None and len(secret.encode()) < 32:
            problems.append("SUPABASE_JWT_SECRET must be at least 32 bytes (Supabase's are 40+)")

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
                problems.append(f"{name} must be an integer from {low} to {high}")
                return default
            return int(raw)

        def boolean(name: str, default: bool) -> bool:
            raw = (get(name) or "").lower()
            if not raw:
                return default
            if raw not in ("true", "false", "1", "0"):
                problems.append(f"{name} must be true or false")
                return default
            return raw in ("true", "1")

        def rate(name: str, default: str) -> str:
            raw = get(name) or default
            try:
                parse_many(raw)
            except ValueError:
                problems.append(f"{name} is not a rate limit such as 5/minute (or several: 5/minute;50/hour)")
            return raw

        if app_env == "production" and get("TRUSTED_PROXIES") is None:
            # Guessing wrong either way is a security bug: 0 behind a proxy rate-limits the proxy's address
            # (everyone at once), 1 without one lets every client pick its own address.
            problems.append("TRUSTED_PROXIES is required in production: the number of proxies in front of the "
                            "app that append to X-Forwarded-For (Heroku: 1; none: 0)")

        log_format = (get("LOG_FORMAT") or "json").lower()
        if log_format not in LOG_FORMATS:
            problems.append(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (got {log_format!r})")

        metrics_token = get("METRICS_TOKEN")
        if metrics_token is not None and (len(metrics_token) < METRICS_TOKEN_MIN_LENGTH
                                          or not metrics_token.isascii() or not metrics_token.isprintable()):
            problems.append(f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} printable ASCII characters "
                            "(unset: no /metrics)")

        oauth_redirect_url = (get("OAUTH_REDIRECT_URL")
                              or f"http://127.0.0.1:{get('PORT') or cls.port}/auth/callback")
        allowlist = tuple(u.strip() for u in (get("OAUTH_REDIRECT_ALLOWLIST") or "").split(",") if u.strip())

        config = cls(
            app_env=app_env,
            database_url=get("DATABASE_URL") or "",
            database_listen_url=get("DATABASE_LISTEN_URL"),
            supabase_url=supabase_url,
            supabase_anon_key=get("SUPABASE_ANON_KEY") or "",
            supabase_service_role_key=get("SUPABASE_SERVICE_ROLE_KEY") or "",
            supabase_jwt_secret=secret,
            redis_url=get("REDIS_URL"),
            oauth_redirect_url=oauth_redirect_url,
            oauth_redirect_allowlist=allowlist or (oauth_redirect_url,),
            trusted_proxies=integer("TRUSTED_PROXIES", cls.trusted_proxies, 0, 10),
            rate_limit_auth=rate("RATE_LIMIT_AUTH", cls.rate_limit_auth),
            rate_limit_user=rate("RATE_LIMIT_USER", cls.rate_limit_user),
            rate_limit_codes=rate("RATE_LIMIT_CODES", cls.rate_limit_codes),
            port=integer("PORT", cls.port, 1, 65535),
            db_pool_min=integer("DB_POOL_MIN", cls.db_pool_min, 0, 100),
            db_pool_max=integer("DB_POOL_MAX", cls.db_pool_max, 1, 100),
            token_cache_size=integer("TOKEN_CACHE_SIZE", cls.token_cache_size, 0, 10_000_000),
            profile_cache_size=integer("PROFILE_CACHE_SIZE", cls.profile_cache_size, 0, 10_000_000),
            admin_require_mfa=boolean("ADMIN_REQUIRE_MFA", app_env == "production"),
            log_format=log_format if log_format in LOG_FORMATS else "json",
            metrics_token=metrics_token,
        )
        if config.db_pool_min > config.db_pool_max:
            problems.append("DB_POOL_MIN must not exceed DB_POOL_MAX")
        if problems:
            raise ConfigError("Invalid configuration: " + "; ".join(problems))
        return config


def is_loopback(url: str) -> bool:
    return bool(re.match(r"^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", url))
