"""Account flows behind the /auth routes: each one a few calls to Supabase Auth, the profile row and the
revocation store, in the order that keeps a failed step retryable (docs/api.md, "Accounts")."""
from __future__ import annotations

import logging
import math
import time
from typing import Any

from ..db import get_db
from ..errors import ApiError
from ..mfa import status as mfa_status
from ..profiles import service as profiles
from ..sessions import Claims, get_revocations, get_verifier
from ..supabase_client.admin import get_supabase_admin
from ..supabase_client import TokenSet, get_supabase_auth

log = logging.getLogger(__name__)


def sign_up(email: str, password: str, display_name: str | None) -> str:
    """Create the Supabase user and its profile row; return the user id."""
    data = {"display_name": display_name} if display_name else {}
    # Two sign-ups of one address at once: Supabase's second insert fails on its unique e-mail (a 500, which
    # would be our 503); one after the other, the second is told the address is taken (EMAIL_EXISTS).
    with one_creation_at_a_time(email):
        user = get_supabase_auth().sign_up(email, password, data)
        profiles.create_profile(user.id, user.email or email, display_name, email_verified=user.email_confirmed)
    return user.id


def one_creation_at_a_time(email: str):
    """`with` it around the creation of an account for `email` (a sign-up, an admin's or the dev routes'):
    creations of one address, on any process, then run one after the other, so that the later ones are told
    the address is taken instead of failing on GoTrue's unique e-mail (keyed lower-cased, as GoTrue keeps it)."""
    return get_db().exclusive("signup:" + email.lower())


def sign_in(email: str, password: str) -> TokenSet:
    seen = mfa_status.generation()
    return mfa_status.note_session(_following_email(after_cutoff(get_supabase_auth().sign_in(email, password))),
                                   seen)


def refresh(refresh_token: str) -> TokenSet:
    seen = mfa_status.generation()
    return mfa_status.note_session(_following_email(after_cutoff(get_supabase_auth().refresh(refresh_token))),
                                   seen)


def _following_email(tokens: TokenSet) -> TokenSet:
    """An e-mail change confirmed through the link in its e-mail (Supabase's own /verify, which this API
    never sees) reaches the profile with the user's next sign-in or refresh: the token names the address."""
    profiles.follow_email(tokens.user_id, tokens.email)
    return tokens


def after_cutoff(tokens: TokenSet) -> TokenSet:
    """Tokens issued in the same whole second as the user's global logout are refused (their `iat` cannot
    tell before from after), so a sign-in right after logout-all waits out the rest of that second (at most
    1 s, only then) and takes a token from the next second. A refresh token does not name its user, so the
    check is made on the answer rather than before the call; it costs one extra refresh only in that case."""
    cutoff = get_revocations().cutoff(tokens.user_id)
    if cutoff is None:
        return tokens
    try:
        # Verifying the fresh token also warms this process's cache for the client's next request.
        issued_at = get_verifier().verify(tokens.access_token).iat
    except ApiError:
        return tokens
    if issued_at > math.floor(cutoff):
        return tokens
    delay = math.floor(cutoff) + 1 - time.time()
    if delay > 0:
        time.sleep(min(delay, 1.0))
    return get_supabase_auth().refresh(tokens.refresh_token)


def logout(claims: Claims, access_token: str) -> None:
    """End this session in Supabase, then refuse its access tokens here. Supabase first: if it fails the
    client can retry with the same token; the reverse order would leave the refresh token alive.

    A token without a `session_id` names no session to end: GoTrue then signs the user out everywhere
    (internal/api/logout.go, `Logout`), and so does this, so that the token is refused afterwards too."""
    if claims.session_id is None:
        logout_everywhere(claims, access_token)
        return
    get_supabase_auth().sign_out(access_token, "local")
    get_revocations().revoke_session(claims)


def logout_everywhere(claims: Claims, access_token: str) -> None:
    """The contract's three steps: every refresh token revoked in Supabase, `logout_at = now()`, every process's caches
    purged (the broadcast waits for all of them). Supabase first, for the same retry reason as `logout`."""
    get_supabase_auth().sign_out(access_token, "global")
    get_revocations().logout_everywhere(claims.user_id, claims.email)


def bootstrap(claims: Claims) -> None:
    profiles.ensure_profile(claims.user_id, claims.email)


def verify_email(email: str, token: str) -> None:
    user_id = get_supabase_auth().verify_email(email, token)
    profiles.mark_email_verified(user_id, email)


def resend_verification(email: str) -> None:
    get_supabase_auth().resend_verification(email)


def forgot_password(email: str) -> None:
    get_supabase_auth().send_password_recovery(email)


def reset_password(email: str, token: str, password: str) -> None:
    """Check the recovery code, set the password, then revoke every older token as logout-all does."""
    user_id = get_supabase_auth().verify_recovery(email, token)
    get_supabase_admin().set_password(user_id, password)
    get_revocations().logout_everywhere(user_id, email)


def me(claims: Claims) -> dict[str, Any]:
    return {"ok": True, "user": {"id": claims.user_id, "email": claims.email, "roles": list(claims.roles),
                                 "aal": _AAL_NAMES[claims.aal]}}


_AAL_NAMES = ("", "aal1", "aal2", "aal3")

