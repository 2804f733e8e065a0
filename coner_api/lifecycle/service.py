"""The account's lifecycle as its own user drives it: a new password, a new e-mail address, and the account's
end, which admin deletion shares (`erase`). docs/api.md, "Account lifecycle"; the data export is `export`.

Decisions where the issue is silent:
- The current password is checked with a password grant for the address the account has in Supabase now
  (a token may predate an e-mail change), made for the end user like every call (Sb-Forwarded-For), so
  Supabase's own per-IP limits count it as the sign-in it is.
- A password change keeps the caller signed in: the grant's session becomes the caller's new one. The new
  password is set with its token, so GoTrue ends every other session of the user (LogoutAllExceptMe, which
  takes their refresh tokens); then the logout cutoff refuses every access token issued until now, on every
  worker, and the answer is the new session refreshed past the cutoff's second. The caller's previous
  access and refresh tokens are refused like all the others. A global sign-out at Supabase would have ended
  the new session too, so there is none.
- For a user with a verified second factor, GoTrue takes a new password only from an aal2 session, which the
  password grant's is not: the change is made with the caller's own token (aal2, or the guard would have
  refused it), that session is then ended at Supabase, and the caller's new session is a sign-in with the new
  password: aal1 with `mfa_required`, so the app asks for a code as after any sign-in. A code in the request
  could have kept the caller at aal2, but the contract's body has none.
- A new password equal to the current one is refused (400 on `new_password`), as GoTrue refuses it.
- Deleting an account needs its password when it has an e-mail/password identity; an account without one
  (Google sign-in only) needs instead a token whose last sign-in (the newest `amr` timestamp, which a refresh
  keeps) is at most 5 minutes old and not after the token's `iat`. A Google account that gained an e-mail
  identity through an e-mail change has no password yet: it sets one through password recovery first.
- Deletion order (`erase`): the cutoff, the profile row marked deleted, the Supabase delete, the cutoff again.
  A user who gets a 503 signs in again (Supabase still knows them) and repeats the request; once the Supabase
  user is gone, everything before it is done. An account already gone from Supabase skips the password check
  and has its rows finished.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..accounts import service as accounts
from ..db import get_db
from ..errors import ApiError, NotFound, ReauthenticationRequired, SessionRevoked, ValidationFailed
from ..profiles import service as profiles
from ..sessions import get_revocations
from ..supabase_client.account import AccountRecord, get_supabase_account
from ..supabase_client.admin import get_supabase_admin
from ..supabase_client import TokenSet, get_supabase_auth

if TYPE_CHECKING:
    from ..sessions import Claims

# How old the sign-in behind a token may be for an account without a password to be deleted.
REAUTHENTICATION_SECONDS = 300
PASSWORD_REQUIRED = "Missing data for required field."


def change_password(claims: Claims, access_token: str, current_password: str, new_password: str) -> TokenSet:
    """Check the current password, set the new one, refuse every older token everywhere; the caller's new
    session (see the module's decisions). One change of a user at a time: two at once each ended the other's
    session, and both answered 401 with the password changed; one after the other, the second finds its
    current password no longer current (401 INVALID_CREDENTIALS) and changes nothing."""
    with get_db().exclusive("password:" + claims.user_id):
        return _change_password(claims, access_token, current_password, new_password)


def _change_password(claims: Claims, access_token: str, current_password: str, new_password: str) -> TokenSet:
    account = _account(claims.user_id)
    if account is None:
        raise SessionRevoked()
    auth = get_supabase_auth()
    session = auth.sign_in(account.email, current_password)
    if session.verified_factor:
        auth.end_unheld_session(session)  # aal1: GoTrue would refuse the change made with it
        return _change_password_with_second_factor(claims, account.email, access_token, current_password,
                                                   new_password)
    try:
        get_supabase_account().set_password(session.access_token, new_password, current_password)
    except ApiError:
        auth.end_unheld_session(session)  # opened for the check; nobody will hold it
        raise
    get_revocations().logout_everywhere(claims.user_id, account.email)
    return accounts.after_cutoff(session)


def _change_password_with_second_factor(claims: Claims, email: str, access_token: str, current_password: str,
                                        new_password: str) -> TokenSet:
    """The change for a user with a verified factor: made with the caller's own aal2 session (the route's
    guard let no other token of such a user through), which GoTrue then keeps while it ends every other one;
    so that session is ended right after, before the cutoff refuses its tokens here. The caller's new session
    comes from a sign-in with the new password: aal1, with `mfa_required`, as any sign-in of this user."""
    auth = get_supabase_auth()
    get_supabase_account().set_password(access_token, new_password, current_password)
    auth.sign_out(access_token, "local")  # its refresh token would otherwise outlive the change
    get_revocations().logout_everywhere(claims.user_id, email)
    return accounts.sign_in(email, new_password)


def request_email_change(access_token: str, new_email: str) -> None:
    """Supabase mails the confirmation codes; nothing changes until they come back
    (`confirm_email_change`)."""
    get_supabase_account().request_email_change(access_token, new_email)


def confirm_email_change(email: str, token: str) -> bool:
    """Check one code of an e-mail change; True once the change is complete (the profile's e-mail follows),
    False while the other address's code is still awaited."""
    changed = get_supabase_account().confirm_email_change(email, token)
    if changed is None:
        return False
    # A user without a profile row yet gets it now, with the new address: made later from a token issued
    # before the change, it would carry the old one (until the user's next sign-in or refresh).
    profiles.create_profile(changed.user_id, changed.email, None, email_verified=True)
    profiles.follow_email(changed.user_id, changed.email, verified=True)
    return True


def delete_account(claims: Claims, password: str | None) -> None:
    """The caller's own account, after the check the module's decisions describe."""
    account = _account(claims.user_id)
    if account is not None:
        _reauthenticate(claims, account, password)
    erase(claims.user_id, in_supabase=account is not None)


def erase(user_id: str, *, in_supabase: bool = True) -> None:
    """End an account (self-service or admin deletion): the logout cutoff first, so every token is refused at
    once on every worker; the profile row kept (for audit, and for the cutoff that keeps refusing the user's
    tokens) but marked deleted with every personal field cleared; the user deleted in Supabase, their
    sessions and refresh tokens with them; the cutoff again, for a token minted while this ran."""
    revocations = get_revocations()
    revocations.logout_everywhere(user_id, None)
    profiles.mark_deleted(user_id)
    if in_supabase:
        try:
            get_supabase_admin().delete_user(user_id)
        except NotFound:
            pass  # deleted meanwhile: the outcome wanted
    revocations.logout_everywhere(user_id, None)


def _account(user_id: str) -> AccountRecord | None:
    try:
        return get_supabase_account().record(user_id)
    except NotFound:
        return None


def _reauthenticate(claims: Claims, account: AccountRecord, password: str | None) -> None:
    if password is not None:
        auth = get_supabase_auth()
        auth.end_unheld_session(auth.sign_in(account.email, password))
    elif "email" in account.providers:
        raise ValidationFailed({"password": [PASSWORD_REQUIRED]})
    elif not _signed_in_recently(claims):
        raise ReauthenticationRequired()


def _signed_in_recently(claims: Claims) -> bool:
    signed_in = claims.auth_time
    return signed_in is not None and time.time() - REAUTHENTICATION_SECONDS <= signed_in <= claims.iat
