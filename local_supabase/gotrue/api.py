"""The stand-in's per-app state, GoTrue's `API` (settings, store, keys, grants, limits), in app.extensions."""
from __future__ import annotations

from dataclasses import dataclass

import jwt
from flask import Response, current_app, jsonify

from .grants import TokenService
from .keys import KeyStore
from .ratelimits import RateLimits
from .settings import Settings
from .store import Store

EXTENSION = "local_auth_server"


@dataclass
class AuthContext:
    """What every route needs."""

    settings: Settings
    store: Store
    keys: KeyStore
    tokens: TokenService
    limits: RateLimits


def ctx() -> AuthContext:
    """The stand-in's state for the current app."""
    return current_app.extensions[EXTENSION]


def rate_limit(bucket: str) -> None:
    """Take a request from the caller's bucket of this route (GoTrue api.go, limitHandler); 429 if empty."""
    state = ctx()
    state.limits.check(bucket, state.keys.service_role_key)


def count_email_sent() -> None:
    """Spend one e-mail of the project's hourly budget (GoTrue mail.go, sendEmail); 429 when it is used up."""
    state = ctx()
    state.limits.check_email_sent(state.settings.autoconfirm)


def session_reply(body: dict) -> Response:
    """A session response with GoTrue's informational `sb-auth-*` headers."""
    response = jsonify(body)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    response.headers["sb-auth-user-id"] = claims["sub"]
    response.headers["sb-auth-session-id"] = claims["session_id"]
    return response
