"""`@auth_required`: Bearer token -> verified claims -> revocation checks -> `current_user()`.

The hot path: a token seen before costs one hash and two dict lookups (verified-token cache, revocation
cache); no call to Supabase, and no query unless a cache misses. `@roles_required` adds the role check.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar

from flask import Flask

from .config import Config
from .context import current_request, extension, request_globals
from .errors import ApiError, Forbidden
from .jwks import JwksCache
from .revocation import get_revocations
from .tokens import Claims, TokenVerifier, bearer_token

View = TypeVar("View", bound=Callable)


def init_app(app: Flask, config: Config) -> TokenVerifier:
    jwks = JwksCache.for_supabase(config.supabase_url, timeout=config.jwks_fetch_timeout)
    verifier = TokenVerifier(config.issuer, jwks, config.supabase_jwt_secret)
    app.extensions["coner.verifier"] = verifier
    return verifier


def get_verifier() -> TokenVerifier:
    return extension("coner.verifier")


def verified_claims() -> Claims:
    """The claims of the request's Bearer token once signature, expiry, issuer and audience check out;
    raises a 401 (or 503) ApiError otherwise. Verified once per request: the rate limiter's key function
    and the route's guard both ask."""
    state = request_globals()
    verified = state.get("verified")  # (token, claims) or (None, the refusal)
    if verified is None:
        try:
            token = bearer_token(current_request().environ.get("HTTP_AUTHORIZATION"))
            verified = (token, get_verifier().verify(token))
        except ApiError as refusal:  # remembered too: an outage must not cost its timeout twice
            verified = (None, refusal)
        state.verified = verified
    if isinstance(verified[1], ApiError):
        raise verified[1]
    return verified[1]


def authenticate() -> Claims:
    """The current request's verified, unrevoked claims; raises a 401 (or 503) ApiError otherwise."""
    claims = verified_claims()
    get_revocations().check(claims)
    request_globals().current_user = claims
    return claims


def auth_required(view: View) -> View:
    """Refuse the request unless it carries a valid, unrevoked user access token."""

    @wraps(view)
    def guarded(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def current_user() -> Claims:
    """The claims `auth_required` verified for this request."""
    return request_globals().current_user


def current_token() -> str:
    """The raw access token of this request (to forward to Supabase Auth on logout)."""
    return request_globals().verified[0]


# ------------------------------------------------------------------------------------------------ roles
# The values `app_metadata.roles` may hold, lowest rank first. They reach us inside the verified token, so a
# change made in Supabase applies from the user's next token (a refresh or a new sign-in).
ROLES = ("user", "admin", "super_admin")
PRIVILEGED_ROLES = frozenset({"admin", "super_admin"})


def has_role(claims: Claims, role: str) -> bool:
    """Whether the token grants `role`; super_admin includes admin."""
    return role in claims.roles or (role == "admin" and "super_admin" in claims.roles)


def roles_required(*roles: str) -> Callable[[View], View]:
    """`auth_required`, then 403 FORBIDDEN unless the token grants one of `roles`.

    Put it above `@blp.arguments`: a caller without the role is refused whatever the request holds."""
    if not roles or set(roles) - set(ROLES):
        raise ValueError(f"roles_required takes some of {ROLES}, got {roles}")

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args, **kwargs):
            if not any(has_role(current_user(), role) for role in roles):
                raise Forbidden(f"Forbidden: requires the {' or '.join(roles)} role")
            return view(*args, **kwargs)

        return auth_required(guarded)

    return decorate
