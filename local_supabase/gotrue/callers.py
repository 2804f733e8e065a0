"""Who is calling: the gateway's `apikey` check, Bearer user tokens, admin tokens (GoTrue's auth.go)."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import jwt
from flask import request

from . import models
from .api import ctx
from .apierrors import GatewayError, GoTrueError
from .inputs import parse_uuid
from .store import Tx

# Routes the gateway lets through without an apikey (paths below /auth/v1).
OPEN_PATHS = {"/verify", "/callback", "/authorize", "/.well-known/jwks.json"}
_BEARER = re.compile(r"bearer (\S+)", re.IGNORECASE)  # api.go, bearerRegexp: (?i)^bearer (\S+$)
ADMIN_ROLES = {"service_role", "supabase_admin"}


def _apikey() -> str:
    return request.headers.get("apikey") or request.args.get("apikey") or ""


def check_gateway(subpath: str) -> None:
    """Kong's key-auth: every route except the open ones needs the anon or service-role key."""
    if subpath in OPEN_PATHS:
        return
    key = _apikey()
    if not key:
        raise GatewayError("No API key found in request",
                           "No `apikey` request header or url param was found.")
    keys = ctx().keys
    if key not in (keys.anon_key, keys.service_role_key):
        raise GatewayError("Invalid API key", "Double check your Supabase `anon` or `service_role` API key.")


def bearer_token() -> str:
    """The Bearer token GoTrue sees; like the gateway, fall back to `apikey` when none was sent."""
    header = request.headers.get("Authorization")
    if header is None or header.startswith("Bearer sb_"):
        header = f"Bearer {_apikey()}" if _apikey() else ""
    match = _BEARER.fullmatch(header.strip())
    if not match:
        raise GoTrueError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    return match.group(1)


# What golang-jwt v5's signing methods return for a signature that does not verify, after "token signature is
# invalid: " (ecdsa.go, ErrECDSAVerification; rsa.go, crypto/rsa's ErrVerification; hmac.go,
# ErrSignatureInvalid).
_SIGNATURE_ERRORS = {"ES256": "crypto/ecdsa: verification error", "RS256": "crypto/rsa: verification error",
                     "HS256": "signature is invalid"}


def verified_claims(token: str) -> dict:
    """The claims of a token we signed; 403 bad_jwt otherwise."""
    prefix = "invalid JWT: unable to parse or verify signature, "
    try:
        return ctx().keys.decode(token)
    except jwt.ExpiredSignatureError:
        raise GoTrueError(403, "bad_jwt", prefix + "token has invalid claims: token is expired") from None
    except jwt.InvalidSignatureError:
        reason = _SIGNATURE_ERRORS.get(jwt.get_unverified_header(token).get("alg"), "signature is invalid")
        raise GoTrueError(403, "bad_jwt", prefix + f"token signature is invalid: {reason}") from None
    except jwt.PyJWTError as error:
        raise GoTrueError(403, "bad_jwt", prefix + f"token is malformed: {error}") from None


@dataclass
class Caller:
    """A signed-in user as seen through a Bearer access token."""

    user: dict
    session_id: uuid.UUID | None
    claims: dict


def _user_and_session(tx: Tx, claims: dict) -> tuple[dict, uuid.UUID | None]:
    """GoTrue auth.go, maybeLoadUserOrSession: the `sub` user and `session_id` session, with its errors."""
    sub = claims.get("sub")
    if not sub:
        raise GoTrueError(403, "bad_jwt", "invalid claim: missing sub claim")
    user_id = parse_uuid(sub) if isinstance(sub, str) else None
    if user_id is None:
        raise GoTrueError(400, "bad_jwt", "invalid claim: sub claim must be a UUID")
    user = models.find_user(tx, user_id)
    if user is None:
        raise GoTrueError(403, "user_not_found", "User from sub claim in JWT does not exist")
    session_id = None
    if claims.get("session_id") and claims["session_id"] != str(uuid.UUID(int=0)):
        session_id = parse_uuid(str(claims["session_id"]))
        if session_id is None:
            raise GoTrueError(403, "bad_jwt", "invalid claim: session_id claim must be a UUID")
        if tx.one("find_session", {"session_id": session_id}) is None:
            raise GoTrueError(403, "session_not_found", "Session from session_id claim in JWT does not exist")
    return user, session_id


def current_caller(tx: Tx, check_audience: bool = False) -> Caller:
    """GoTrue auth.go, requireAuthentication: the Bearer token's live user and session, then the ban check
    (and UserGet's audience check when asked)."""
    claims = verified_claims(bearer_token())
    user, session_id = _user_and_session(tx, claims)
    if models.is_banned(user):
        raise GoTrueError(403, "user_banned", "User is banned")
    # user.go, UserGet: the request's audience must be the token's first (without X-JWT-AUD, it is).
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience] if audience else []
    if check_audience and (not audiences or request_aud(claims) != audiences[0]):
        raise GoTrueError(400, "validation_failed", "Token audience doesn't match request audience")
    return Caller(user=user, session_id=session_id, claims=claims)


def request_aud(claims: dict | None) -> str:
    """GoTrue helpers.go, requestAud: the X-JWT-AUD header, else the first audience of a user's token (an admin
    token's does not count), else the project's, "authenticated"."""
    header = request.headers.get("X-JWT-AUD")
    if header:
        return header
    if claims is not None and claims.get("role") not in ADMIN_ROLES:
        audience = claims.get("aud")
        first = (audience[0] if audience else None) if isinstance(audience, list) else audience
        if isinstance(first, str) and first:
            return first
    return "authenticated"


def require_admin() -> dict:
    """GoTrue middleware.go, requireAdminCredentials: a token naming a session must still have it (a user's
    JWT whose session is gone is 403 session_not_found, before the role is looked at); then the role must be
    service_role or supabase_admin (auth.go, requireAdmin)."""
    claims = verified_claims(bearer_token())
    if claims.get("session_id") and claims["session_id"] != str(uuid.UUID(int=0)):
        with ctx().store.transaction() as tx:
            _user_and_session(tx, claims)
    if claims.get("role") not in ADMIN_ROLES:
        raise GoTrueError(403, "not_admin", "User not allowed")
    return claims
