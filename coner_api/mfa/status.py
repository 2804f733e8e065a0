"""Whether a user has a verified second factor, as the route guard needs to know it on the hot path, and the two
checks built on it (docs/api.md, "Two-factor sign-in").

A token says its own assurance level (`aal`), not whether its user has a factor. So an aal2 token passes
without a look-up, and only an aal1 token on a route that enforces needs "does this user have a verified
factor?". The answer lives in Supabase Auth; this process keeps it in a `BoundedCache` (user id -> bool,
`CACHE_TTL`), filled:

- for free from the user objects the API already receives: sign-in and refresh answers list the user's
  factors (`note_session`), and so does every MFA route's own call to Supabase (`note`);
- otherwise from the admin API's factor list, once per user and `CACHE_TTL` (`has_verified_factor`).

When factors change through this API (a factor's first verification, an unenrolment), `changed` sends
`mfa:<user id>` through the cache-purge broadcast (sessions/broadcast.py) and waits, like a revocation, until
every process has dropped its entry. A generation counter keeps a read that raced a purge from being stored.

Decisions where the contract is silent:
- Unreachable Supabase with nothing cached fails closed: the request is a 503 AUTH_UNAVAILABLE, never let
  through. Protected routes keep working while Supabase Auth is down for aal2 tokens and for users already
  cached (for at most `CACHE_TTL`); aal1 tokens of users not seen for that long get the 503.
- Unlike the revocation caches, entries are used while this process cannot hear purges: a factor cache is
  not a revocation (Supabase already ended the other aal1 sessions' refresh tokens when the factor was
  verified), and re-reading Supabase on every aal1 request would put it on every user's hot path. Such a
  process may accept another session's aal1 token for up to `CACHE_TTL` after a factor is verified; it
  clears the cache whenever its listener reconnects, as the revocation caches do.
- Factors changed outside this API (the Supabase dashboard, the admin API) are seen within `CACHE_TTL`, or
  at once by the process that answers the user's next sign-in.
"""
from __future__ import annotations

import dataclasses

from flask import Flask

from ..caches import PurgedCache
from ..context import extension
from ..errors import ApiError, MfaRequired
from ..sessions import Claims, get_revocations, get_verifier
from ..supabase_client import TokenSet
from ..supabase_client.mfa import get_supabase_mfa

KIND = "mfa"  # broadcast messages `mfa:<user id>`
CACHE_TTL = 120.0
# ~230 bytes an entry, key included (tracemalloc): at most ~4.6 MB a worker. An entry matters only while its
# user's tokens are used on this worker (the token cache holds 12,000 by default), and the budget is 120 MB a
# worker at 100,000 users.
CACHE_SIZE = 20_000
ENROL_MESSAGE = ("Two-factor authentication required for admins: enrol an authenticator app "
                 "(POST /auth/mfa/enroll), then verify a code")


class FactorStatus(PurgedCache[str, bool]):
    """user id -> has a verified factor, bounded and expiring, purged by broadcast (`mfa:<user id>`)."""

    def __init__(self, size: int = CACHE_SIZE, ttl: float = CACHE_TTL) -> None:
        super().__init__(size, ttl, name="mfa_factors")


def init_app(app: Flask) -> None:
    """This process's factor cache, purged through the revocation store's broadcast listener."""
    status = FactorStatus()
    app.extensions["coner.factor_status"] = status
    app.extensions["coner.revocations"].listener.subscribe(KIND, status.purge, status.clear)


def _status() -> FactorStatus:
    return extension("coner.factor_status")


def has_verified_factor(user_id: str) -> bool:
    """From the cache, else from Supabase's admin API (503 AUTH_UNAVAILABLE when it cannot answer)."""
    status = _status()
    verified = status.cache.get(user_id)
    if verified is None:
        generation = status.generation
        verified = get_supabase_mfa().has_verified_factor(user_id)
        status.store(generation, user_id, verified)
    return verified


def require_second_factor(claims: Claims) -> None:
    """403 MFA_REQUIRED for an aal1 token whose user has a verified factor. No look-up for aal2 tokens."""
    if claims.aal < 2 and has_verified_factor(claims.user_id):
        raise MfaRequired()


def require_admin_second_factor(claims: Claims, required: bool) -> None:
    """403 MFA_REQUIRED for an aal1 token on an admin route when ADMIN_REQUIRE_MFA is on; an admin without a
    factor is told to enrol one."""
    if required and claims.aal < 2:
        raise MfaRequired() if has_verified_factor(claims.user_id) else MfaRequired(ENROL_MESSAGE)


def generation() -> int:
    """Take before a call to Supabase whose answer will be `note`d."""
    return _status().generation


def note(user_id: str, verified: bool, seen_generation: int) -> None:
    """What a Supabase answer said about the user's factors (taken at `seen_generation`)."""
    _status().store(seen_generation, user_id, verified)


def note_session(tokens: TokenSet, seen_generation: int) -> TokenSet:
    """Note the factors of a sign-in or refresh answer; the tokens with `mfa_required` set when the user has a
    verified factor and the token is aal1 (the client then asks for a code). Verifying the token here also
    warms this process's token cache for the client's next request."""
    note(tokens.user_id, tokens.verified_factor, seen_generation)
    if not tokens.verified_factor:
        return tokens
    try:
        aal = get_verifier().verify(tokens.access_token).aal
    except ApiError:
        aal = 1
    return dataclasses.replace(tokens, mfa_required=aal < 2)


def changed(user_id: str, verified: bool) -> None:
    """The user's factors changed through this API: every process drops what it knew before this returns
    (raises DbUnavailable if the purge cannot be sent); this one knows the new answer."""
    get_revocations().listener.broadcast(f"{KIND}:{user_id}")
    note(user_id, verified, generation())
