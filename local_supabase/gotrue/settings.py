"""Settings of the auth stand-in, read once from the environment into a frozen dataclass.

Rate limits are on by default, as on hosted Supabase, with GoTrue's own defaults (internal/conf/
configuration.go, GlobalConfiguration.RateLimit*, applied as internal/api/apilimiter/apilimiter.go, New,
applies them): hosted Supabase sets these numbers in its dashboard, and where the hosted value is not in
GoTrue's source GoTrue's default is used. Per client IP, token buckets that refill at the rate below and hold
30 (apilimiter.go's burst):
- LOCAL_AUTH_RATE_LIMIT_TOKEN_REFRESH (GoTrue's RATE_LIMIT_TOKEN_REFRESH): 150 per 5 minutes, POST /token.
- LOCAL_AUTH_RATE_LIMIT_VERIFY (RATE_LIMIT_VERIFY): 30 per 5 minutes, GET and POST /verify.
- LOCAL_AUTH_RATE_LIMIT_OTP (RATE_LIMIT_OTP): 30 per 5 minutes for each of /signup, /recover, /resend,
  /otp and PUT /user (a bucket each).
- LOCAL_AUTH_RATE_LIMIT_MFA (MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY): 15 per minute for each of
  POST /factors/{id}/challenge and /verify (a bucket each).
The client IP is the peer's, or the first `Sb-Forwarded-For` value when the caller presents the
service-role key (see ratelimits.py).

Project-wide, not per IP:
- LOCAL_AUTH_RATE_LIMIT_EMAIL_SENT (RATE_LIMIT_EMAIL_SENT): 30 e-mails an hour, counted only while
  autoconfirm is off (GoTrue's mail.go, sendEmail). Hosted projects on the built-in SMTP get 2 an hour;
  that number is not in GoTrue's source, so GoTrue's 30 is the default here.
- LOCAL_AUTH_EMAIL_FREQUENCY (SMTP_MAX_FREQUENCY): 60 s between two e-mails of one kind to one user
  (mail.go, validateSentWithinFrequencyLimit; configuration.go sets 1 minute when unset).

`LOCAL_AUTH_RATE_LIMITS=off` switches every one of them off, the e-mail budget and frequency included (load
tests, suites that sign in hundreds of times from one address); the per-limit variables count only while it
is on.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

# The folder above `local_supabase/`: the checkout, whose git-ignored `.local/` holds runtime state.
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
ALGORITHMS = ("ES256", "RS256", "HS256")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything the stand-in is configured with."""

    database_url: str
    port: int = 54321
    autoconfirm: bool = True
    jwt_alg: str = "ES256"
    jwt_exp: int = 3600
    site_url: str = "http://127.0.0.1:8080"
    redirect_allowlist: tuple[str, ...] = ("http://127.0.0.1:8080/auth/callback",)
    db_schema: str = "auth"
    data_dir: Path = REPO_ROOT / ".local"
    refresh_reuse_interval: float = 10.0
    otp_lifetime: int = 3600
    # GoTrue's FlowStateExpiryDuration (never below 300 s there); shorter only so a test need not wait.
    flow_state_lifetime: float = 300.0
    rate_limits: bool = True
    rate_limit_token_refresh: float = 150.0  # per 5 minutes and IP
    rate_limit_verify: float = 30.0  # per 5 minutes and IP
    rate_limit_otp: float = 30.0  # per 5 minutes and IP, for each bucket of the family
    rate_limit_email_sent: float = 30.0  # per hour, the whole project, autoconfirm off only
    email_frequency: float = 60.0  # seconds
    # MFA (GoTrue conf.MFAConfiguration): challenge and verify each have a bucket of
    # MFA_RATE_LIMIT_CHALLENGE_AND_VERIFY per minute and IP (burst 30); a challenge lives ChallengeExpiryDuration, an unchallenged enrolment
    # FactorExpiryDuration. The expiry is shorter only so that a test need not wait.
    rate_limit_mfa: float = 15.0  # per minute and IP
    mfa_challenge_expiry: float = 300.0
    mfa_factor_expiry: float = 300.0
    # GoTrue's SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD (off by default, there and on hosted projects):
    # PUT /user must then name the current password to set a new one (user.go, UserUpdate).
    update_password_require_current_password: bool = False

    @property
    def base_url(self) -> str:
        """Where the stand-in listens, without a path."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        """The `iss` of its tokens."""
        return f"{self.base_url}/auth/v1"

    @property
    def effective_email_frequency(self) -> float:
        """The per-user e-mail frequency in seconds, 0 when rate limits are off."""
        return self.email_frequency if self.rate_limits else 0.0


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _number(name: str, raw: str, kind: type) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative")
    return value


def _algorithm(name: str, raw: str) -> str:
    alg = raw.strip().upper()
    if alg not in ALGORITHMS:
        raise SettingsError(f"{name} must be one of {', '.join(ALGORITHMS)}")
    return alg


def _schema(name: str, raw: str) -> str:
    schema = raw.strip()
    if not SCHEMA_NAME.match(schema):
        raise SettingsError(f"{name} must match ^[a-z_][a-z0-9_]*$")
    return schema


def _integer(name: str, raw: str) -> int:
    return int(_number(name, raw, int))


def _real(name: str, raw: str) -> float:
    return float(_number(name, raw, float))


def _allowlist(name: str, raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


# variable -> (field, parser); a variable that is set but empty counts only where the parser accepts it.
_VARIABLES: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "LOCAL_AUTH_PORT": ("port", _integer),
    "LOCAL_AUTH_AUTOCONFIRM": ("autoconfirm", _bool),
    "LOCAL_AUTH_JWT_ALG": ("jwt_alg", _algorithm),
    "LOCAL_AUTH_JWT_EXP": ("jwt_exp", _integer),
    "LOCAL_AUTH_REDIRECT_ALLOWLIST": ("redirect_allowlist", _allowlist),
    "LOCAL_AUTH_DB_SCHEMA": ("db_schema", _schema),
    "LOCAL_AUTH_REFRESH_REUSE_INTERVAL": ("refresh_reuse_interval", _real),
    "LOCAL_AUTH_FLOW_STATE_LIFETIME": ("flow_state_lifetime", _real),
    "LOCAL_AUTH_RATE_LIMITS": ("rate_limits", _bool),
    "LOCAL_AUTH_RATE_LIMIT_TOKEN_REFRESH": ("rate_limit_token_refresh", _real),
    "LOCAL_AUTH_RATE_LIMIT_VERIFY": ("rate_limit_verify", _real),
    "LOCAL_AUTH_RATE_LIMIT_OTP": ("rate_limit_otp", _real),
    "LOCAL_AUTH_RATE_LIMIT_EMAIL_SENT": ("rate_limit_email_sent", _real),
    "LOCAL_AUTH_EMAIL_FREQUENCY": ("email_frequency", _real),
    "LOCAL_AUTH_RATE_LIMIT_MFA": ("rate_limit_mfa", _real),
    "LOCAL_AUTH_MFA_CHALLENGE_EXPIRY": ("mfa_challenge_expiry", _real),
    "LOCAL_AUTH_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD": ("update_password_require_current_password", _bool),
}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from LOCAL_AUTH_* variables; raise SettingsError naming a bad one."""
    env = os.environ if environ is None else environ
    database_url = env.get("LOCAL_AUTH_DATABASE_URL", "").strip()
    if not database_url:
        raise SettingsError("LOCAL_AUTH_DATABASE_URL is required (a postgresql:// URL)")
    values: dict = {"database_url": database_url}
    for variable, (name, parse) in _VARIABLES.items():
        if variable in env:
            values[name] = parse(variable, env[variable])
    if env.get("LOCAL_AUTH_SITE_URL"):
        values["site_url"] = env["LOCAL_AUTH_SITE_URL"].strip()
    if env.get("LOCAL_AUTH_DATA_DIR"):
        values["data_dir"] = Path(env["LOCAL_AUTH_DATA_DIR"]).expanduser()
    return Settings(**values)
