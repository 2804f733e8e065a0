"""The route guards: `@auth_required` (Bearer token -> verified claims -> revocation checks -> second factor ->
`current_user()`), `@auth_required_aal1` (the same without the second-factor check) and `@roles_required`.

The hot path: a token seen before costs one hash and two cache lookups (verified tokens, revocation state),
three for an aal1 token (whether its user has a verified factor); no call to Supabase, and no query unless a
cache misses (docs/architecture.md, "A protected request").
"""
from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar

from ..context import current_request, extension, request_globals
from ..errors import ApiError, Forbidden
from ..mfa.status import require_admin_second_factor, require_second_factor
from . import get_revocations, get_verifier
from .roles import PRIVILEGED_ROLES, ROLES, has_role
from .tokens import Claims, bearer_token

View = TypeVar("View", bound=Callable)
# Set on guarded views (and carried up by functools.wraps): True where an aal1 token of a user with a verified
# factor is refused (403 MFA_REQUIRED), False where it is let in. The OpenAPI document reads it (api_docs).
SECOND_FACTOR_ATTRIBUTE = "_coner_second_factor"


def verified_claims() -> Claims:
    """The claims of the request's Bearer token once signature, expiry, issuer and audience check out;
    raises a 401 (or 503) ApiError otherwise. Verified once per request."""
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


def authenticated_claims() -> Claims:
    """The request's verified claims once the revocation checks pass too (logout cutoff, logged-out session);
    raises a 401 (or 503) ApiError otherwise. Decided once per request, refusals included: the rate limiter's
    key function and the route's guard both ask, and an outage must not cost its timeout twice."""
    state = request_globals()
    outcome = state.get("authenticated")  # the claims, or the refusal
    if outcome is None:
        try:
            outcome = verified_claims()
            get_revocations().check(outcome)
        except ApiError as refusal:
            outcome = refusal
        state.authenticated = outcome
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def authenticated_user_id() -> str | None:
    """The user id of a valid, unrevoked token, else None: the rate limiter's key for protected routes, so
    that a leaked token that was logged out cannot spend its owner's budget (it counts against its IP)."""
    try:
        return authenticated_claims().user_id
    except ApiError:
        return None


def request_user_id() -> str | None:
    """The user this request was authenticated as, if it was; never verifies anything itself (the request's
    log line and metrics read it after the answer)."""
    return getattr(request_globals().get("authenticated"), "user_id", None)


def authenticate() -> Claims:
    """The current request's verified, unrevoked claims; raises a 401 (or 503) ApiError otherwise."""
    claims = authenticated_claims()
    request_globals().current_user = claims
    return claims


def auth_required(view: View) -> View:
    """Refuse the request unless it carries a valid, unrevoked user access token, verified with a second factor
    (aal2) when its user has one (403 MFA_REQUIRED otherwise; the look-up is made for aal1 tokens only)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        require_second_factor(authenticate())
        return view(*args, **kwargs)

    setattr(guarded, SECOND_FACTOR_ATTRIBUTE, True)
    return guarded  # type: ignore[return-value]


def auth_required_aal1(view: View) -> View:
    """`auth_required` without the second-factor check: for the routes a user who still has to verify a code
    may call (the MFA routes, /auth/me, /auth/logout)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        authenticate()
        return view(*args, **kwargs)

    setattr(guarded, SECOND_FACTOR_ATTRIBUTE, False)
    return guarded  # type: ignore[return-value]


def current_user() -> Claims:
    """The claims `auth_required` verified for this request."""
    return request_globals().current_user


def current_token() -> str:
    """The raw access token of this request (to forward to Supabase Auth on logout)."""
    return request_globals().verified[0]


def roles_required(*roles: str) -> Callable[[View], View]:
    """`auth_required`, then 403 FORBIDDEN unless the token grants one of `roles`; for admin roles, 403
    MFA_REQUIRED unless the token is aal2 while ADMIN_REQUIRE_MFA is on.

    Put it above `@blp.arguments`: a caller without the role is refused whatever the request holds."""
    if not roles or set(roles) - set(ROLES):
        raise ValueError(f"roles_required takes some of {ROLES}, got {roles}")
    privileged = bool(PRIVILEGED_ROLES.intersection(roles))

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args, **kwargs):
            user = current_user()
            if not any(has_role(user, role) for role in roles):
                raise Forbidden(f"Forbidden: requires the {' or '.join(roles)} role")
            require_admin_second_factor(user, privileged and extension("coner.config").admin_require_mfa)
            return view(*args, **kwargs)

        return auth_required(guarded)

    return decorate
