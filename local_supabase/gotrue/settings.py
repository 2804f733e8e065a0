"""Settings of the auth stand-in, read once from the environment into a frozen dataclass."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

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
    email_frequency: float = 1.0
    otp_lifetime: int = 3600
    flow_state_lifetime: int = 300

    @property
    def base_url(self) -> str:
        """Where the stand-in listens, without a path."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        """The `iss` of its tokens."""
        return f"{self.base_url}/auth/v1"


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


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from LOCAL_AUTH_* variables; raise SettingsError naming a bad one."""
    env = os.environ if environ is None else environ
    database_url = env.get("LOCAL_AUTH_DATABASE_URL", "").strip()
    if not database_url:
        raise SettingsError("LOCAL_AUTH_DATABASE_URL is required (a postgresql:// URL)")
    values: dict = {"database_url": database_url}
    if "LOCAL_AUTH_PORT" in env:
        values["port"] = int(_number("LOCAL_AUTH_PORT", env["LOCAL_AUTH_PORT"], int))
    if "LOCAL_AUTH_AUTOCONFIRM" in env:
        values["autoconfirm"] = _bool("LOCAL_AUTH_AUTOCONFIRM", env["LOCAL_AUTH_AUTOCONFIRM"])
    if "LOCAL_AUTH_JWT_ALG" in env:
        alg = env["LOCAL_AUTH_JWT_ALG"].strip().upper()
        if alg not in ALGORITHMS:
            raise SettingsError(f"LOCAL_AUTH_JWT_ALG must be one of {', '.join(ALGORITHMS)}")
        values["jwt_alg"] = alg
    if "LOCAL_AUTH_JWT_EXP" in env:
        values["jwt_exp"] = int(_number("LOCAL_AUTH_JWT_EXP", env["LOCAL_AUTH_JWT_EXP"], int))
    if env.get("LOCAL_AUTH_SITE_URL"):
        values["site_url"] = env["LOCAL_AUTH_SITE_URL"].strip()
    if "LOCAL_AUTH_REDIRECT_ALLOWLIST" in env:
        values["redirect_allowlist"] = tuple(
            item.strip() for item in env["LOCAL_AUTH_REDIRECT_ALLOWLIST"].split(",") if item.strip())
    if "LOCAL_AUTH_DB_SCHEMA" in env:
        schema = env["LOCAL_AUTH_DB_SCHEMA"].strip()
        if not SCHEMA_NAME.match(schema):
            raise SettingsError("LOCAL_AUTH_DB_SCHEMA must match ^[a-z_][a-z0-9_]*$")
        values["db_schema"] = schema
    if env.get("LOCAL_AUTH_DATA_DIR"):
        values["data_dir"] = Path(env["LOCAL_AUTH_DATA_DIR"]).expanduser()
    if "LOCAL_AUTH_REFRESH_REUSE_INTERVAL" in env:
        values["refresh_reuse_interval"] = float(_number(
            "LOCAL_AUTH_REFRESH_REUSE_INTERVAL", env["LOCAL_AUTH_REFRESH_REUSE_INTERVAL"], float))
    if "LOCAL_AUTH_EMAIL_FREQUENCY" in env:
        values["email_frequency"] = float(_number(
            "LOCAL_AUTH_EMAIL_FREQUENCY", env["LOCAL_AUTH_EMAIL_FREQUENCY"], float))
    return Settings(**values)
