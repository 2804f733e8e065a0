"""Checking one-time tokens (OTP + e-mail, or token hash) and applying what they confirm."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg.types.json import Jsonb

from . import models
from .api import ctx
from .apierrors import GoTrueError, email_exists
from .mail import token_hash
from .store import Tx

TOKEN_TYPES = {
    "signup": ("confirmation_token",), "invite": ("confirmation_token",),
    "magiclink": ("recovery_token",), "recovery": ("recovery_token",),
    "email": ("confirmation_token", "recovery_token"),
    "email_change": ("email_change_token_current", "email_change_token_new"),
}
PHONE_TYPES = {"sms", "phone_change"}
HALF_CONFIRMED = "Confirmation link accepted. Please proceed to confirm link sent to the other email"


@dataclass
class Verified:
    """A valid token's outcome: the user, its PKCE flow, and whether it was only the first of two."""

    user: dict
    flow_id: object | None
    half_confirmed: bool = False


def _expired_error(by_hash: bool) -> GoTrueError:
    message = "Email link is invalid or has expired" if by_hash else "Token has expired or is invalid"
    return GoTrueError(403, "otp_expired", message)


def verify(tx: Tx, verification_type: str, *, hashed: str = "", otp: str = "", email: str = "") -> Verified:
    """Consume the matching token and confirm what it stands for; 403 otp_expired if there is none."""
    by_hash = bool(hashed)
    if verification_type in PHONE_TYPES:
        raise _expired_error(by_hash)  # no SMS is ever sent, so no phone token can be valid
    hashed = hashed.removeprefix("pkce_") if by_hash else token_hash(email, otp)
    row = tx.one("find_one_time_token_by_hash" if by_hash else "find_one_time_token_by_otp",
                 {"token_hash": hashed, "token_types": list(TOKEN_TYPES[verification_type]), "email": email})
    lifetime = dt.timedelta(seconds=ctx().settings.otp_lifetime)
    if row is None or row["created_at"] + lifetime < models.now():
        raise _expired_error(by_hash)
    user = models.find_user(tx, row["user_id"], lock=True)
    if models.is_banned(user):
        raise GoTrueError(403, "user_banned", "User is banned")
    tx.run("delete_one_time_token", {"id": row["id"]})
    if row["token_type"].startswith("email_change"):
        return _email_change(tx, user, row)
    # A recovery or a confirmation token: every token of that type goes with it.
    tx.run("delete_one_time_tokens_of_type", {"user_id": user["id"], "token_type": row["token_type"]})
    return Verified(models.confirm_email(tx, user), row["flow_id"])


def _email_change(tx: Tx, user: dict, row: dict) -> Verified:
    pending = tx.one("pending_email_change_token", {"user_id": user["id"]})
    if pending is not None:
        return Verified(user, row["flow_id"], half_confirmed=True)
    new_email = user["new_email"]
    if not new_email:
        raise _expired_error(True)
    other = models.find_user_by_email(tx, new_email)
    if other is not None and other["id"] != user["id"]:
        raise email_exists()
    tx.run("merge_email_identity_data", {"patch": Jsonb({"email": new_email, "email_verified": True}),
                                         "user_id": user["id"]})
    changes = {"email": new_email, "new_email": None, "email_change_sent_at": None,
               "user_metadata": models.merge(user["user_metadata"], {"email": new_email}
                                             if "email" in user["user_metadata"] else {})}
    if user["email_confirmed_at"] is None:
        changes["email_confirmed_at"] = models.now()
    return Verified(models.update_user(tx, user["id"], **changes), row["flow_id"])
