"""Checking one-time tokens and applying what they confirm (GoTrue internal/api/verify.go).

A token hash (a link, or `token_hash` in POST /verify) is looked up in one_time_tokens (verifyTokenHash); an
OTP with its e-mail address is checked against the user's token columns (verifyUserAndToken). Either way it
expires OTP-lifetime seconds after the user's sent-at time of that kind.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import errors as pg_errors

from . import models
from .api import ctx
from .apierrors import GoTrueError, bad_request
from .mail import PKCE_PREFIX, token_hash
from .store import Tx

# verifyTokenHash: the one_time_tokens types each verification type may match.
TOKEN_TYPES = {
    "signup": ("confirmation_token",), "invite": ("confirmation_token",),
    "magiclink": ("recovery_token",), "recovery": ("recovery_token",),
    "email": ("confirmation_token", "recovery_token"),
    "email_change": ("email_change_token_current", "email_change_token_new"),
}
PHONE_TYPES = {"sms", "phone_change"}
# The user's sent-at column that dates each token column (isOtpExpired's sentAt).
SENT_AT = {"confirmation_token": "confirmation_sent_at", "recovery_token": "recovery_sent_at",
           "email_change_token_current": "email_change_sent_at",
           "email_change_token_new": "email_change_sent_at"}
HALF_CONFIRMED = "Confirmation link accepted. Please proceed to confirm link sent to the other email"


@dataclass
class Verified:
    """A valid token's outcome: the user, the verification type it counted as, whether it was one of two."""

    user: dict | None
    kind: str
    half_confirmed: bool = False


def _expired(by_hash: bool) -> GoTrueError:
    message = "Email link is invalid or has expired" if by_hash else "Token has expired or is invalid"
    return GoTrueError(403, "otp_expired", message)


def _is_expired(user: dict, token_column: str) -> bool:
    """verify.go, isOtpExpired, dated by the user's sent-at time of that token."""
    sent_at = user[SENT_AT[token_column]]
    lifetime = dt.timedelta(seconds=ctx().settings.otp_lifetime)
    return sent_at is None or sent_at + lifetime < models.now()


def _check_user(tx: Tx, user_id: object) -> dict:
    user = models.find_user(tx, user_id, lock=True)
    if models.is_banned(user):
        raise GoTrueError(403, "user_banned", "User is banned")
    return user


def by_hash(tx: Tx, kind: str, stored: str) -> Verified:
    """verify.go, verifyTokenHash: the user whose pending token (a link's) is exactly `stored`."""
    if kind not in TOKEN_TYPES:
        raise bad_request("Invalid email verification type")
    row = tx.one("find_one_time_token", {"token_hash": stored, "token_types": list(TOKEN_TYPES[kind])})
    if row is None:
        raise _expired(True)
    user = _check_user(tx, row["user_id"])
    column = row["token_type"]
    if kind == "email":
        column, kind = ("recovery_token", "magiclink") if user["recovery_token"] == stored else \
            ("confirmation_token", "signup")
    if _is_expired(user, column):
        raise _expired(True)
    return Verified(user, kind)


def _valid(user: dict, column: str, hashed: str) -> bool:
    """verify.go, isOtpValid: the column holds this hash (or its PKCE form) and has not expired."""
    expected = user[column]
    return bool(expected) and not _is_expired(user, column) and expected in (hashed, PKCE_PREFIX + hashed)


def by_otp(tx: Tx, kind: str, email: str, otp: str) -> Verified:
    """verify.go, verifyUserAndToken (e-mail types): the OTP against the user's token columns."""
    hashed = token_hash(email, otp)
    if kind == "email_change":
        # models.FindUserForEmailChange: by the current address's token first, then the new one's.
        row = None
        for token_type in ("email_change_token_current", "email_change_token_new"):
            for candidate in (hashed, PKCE_PREFIX + hashed):
                params = {"token_hash": candidate, "token_types": [token_type]}
                row = row or tx.one("find_one_time_token", params)
        found = row and models.find_user(tx, row["user_id"])
    else:
        found = models.find_user_by_email(tx, email)
    if not found:
        raise _expired(False)
    user = _check_user(tx, found["id"])
    columns = {"signup": ["confirmation_token"], "invite": ["confirmation_token"],
               "recovery": ["recovery_token"], "magiclink": ["recovery_token"],
               "email": ["confirmation_token", "recovery_token"],
               "email_change": ["email_change_token_current", "email_change_token_new"]}.get(kind, [])
    matched = next((column for column in columns if _valid(user, column, hashed)), None)
    if matched is None:
        raise _expired(False)
    if kind == "email":
        kind = "signup" if matched == "confirmation_token" else "magiclink"
    return Verified(user, kind)


def apply(tx: Tx, verified: Verified, presented_hash: str) -> Verified:
    """What a valid token does, by type (verify.go, verifyPost / verifyGet's switch)."""
    user, kind = verified.user, verified.kind
    if kind in ("signup", "invite"):
        # signupVerify: User.Confirm, then email_verified on the identities that carry the user's address.
        user = models.confirm_email(tx, user)
        tx.run("verify_identities_with_email", {"user_id": user["id"], "email": user["email"] or ""})
    elif kind in ("recovery", "magiclink"):
        # recoverVerify: User.Recover, and User.Confirm for an address not confirmed yet.
        user = models.recover(tx, user)
        if user["email_confirmed_at"] is None:
            user = models.confirm_email(tx, user)
    elif kind == "email_change":
        return _email_change(tx, user, presented_hash)
    else:
        raise bad_request("Unsupported verification type")
    return Verified(user, kind)


def _email_change(tx: Tx, user: dict, presented_hash: str) -> Verified:
    """verify.go, emailChangeVerify. With secure e-mail change (GoTrue's default) and autoconfirm off, the
    first of the two tokens only counts (confirm status 1); otherwise a token completes the change."""
    if not ctx().settings.autoconfirm and user["email_change_confirm_status"] == 0 and user["email"]:
        changes: dict = {"email_change_confirm_status": 1}
        for column in ("email_change_token_current", "email_change_token_new"):
            issued = tx.one("find_one_time_token", {"token_hash": presented_hash, "token_types": [column]})
            if presented_hash == user[column] or issued is not None:
                changes[column] = ""
                tx.run("delete_one_time_tokens_of_type", {"user_id": user["id"], "token_type": column})
                break
        models.update_user(tx, user["id"], **changes)
        return Verified(None, "email_change", half_confirmed=True)
    new_email = user["new_email"]
    if not new_email:
        raise _expired(True)
    if not models.identities_of(tx, user["id"], "email"):
        models.add_identity(tx, user["id"], "email", str(user["id"]),
                            {**models.email_identity_data(user["id"], new_email), "email_verified": True})
    models.set_email_identity_data(tx, user["id"], email=new_email, email_verified=True)
    try:
        with tx.conn.transaction():
            # User.ConfirmEmailChange: the address moves, every token goes, an unconfirmed user is confirmed.
            models.clear_one_time_tokens(tx, user["id"])
            user = models.update_user(tx, user["id"], email=new_email, new_email=None,
                                      email_change_token_current="", email_change_token_new="",
                                      email_change_confirm_status=0)
    except pg_errors.UniqueViolation:
        # No duplicate check here in GoTrue: the unique index fails and it answers its generic 500.
        raise GoTrueError(500, "unexpected_failure", "Error confirm email") from None
    if user["email_confirmed_at"] is None:
        user = models.confirm_email(tx, user)
    return Verified(user, "email_change")
