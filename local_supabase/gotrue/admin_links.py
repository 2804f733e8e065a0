"""`POST /admin/generate_link` (the links and OTPs an e-mail would carry, returned instead of sent) and
`POST /invite` (the same for an invitation, but sent).

GoTrue internal/api/mail.go, adminGenerateLink, and invite.go, Invite.
"""
from __future__ import annotations

import secrets
import uuid

from flask import Response, jsonify

from . import mail, models
from .api import ctx
from .apierrors import GoTrueError, bad_request, email_exists
from .inputs import email_address, field, json_body, redirect_target
from .passwords import check_policy, hash_password
from .store import Tx

RECOVERY_TYPES = ("magiclink", "recovery")
EMAIL_CHANGE_TYPES = ("email_change_current", "email_change_new")


def _new_user(tx: Tx, email: str, password: str | None, data: dict, invited: bool = False) -> dict:
    """signupNewUser + createNewIdentity, as adminGenerateLink and Invite call them: user_metadata is the
    request's `data` alone (no RemoveUnconfirmedIdentities here, unlike /signup)."""
    return models.create_user(tx, user_id=uuid.uuid4(), email=email, user_metadata=data, invited=invited,
                              password_hash=hash_password(password or secrets.token_urlsafe(24)))


def _email_change(tx: Tx, user: dict, kind: str, new_email_raw: str, otp: str) -> dict:
    """The e-mail-change branch: one of the two tokens, status back to 0 (secure e-mail change is on)."""
    new_email = email_address(new_email_raw)
    if models.is_duplicated_email(tx, new_email, user["aud"], user["id"]) is not None:  # mail.go, adminGenerateLink
        raise email_exists()
    user = models.update_user(tx, user["id"], email_change_sent_at=models.now(), new_email=new_email,
                              email_change_confirm_status=0)
    if kind == "email_change_current":
        mail.issue_token(tx, user, "email_change_token_current", user["email"], otp=otp)
    else:
        mail.issue_token(tx, user, "email_change_token_new", new_email, otp=otp)
    user = models.find_user(tx, user["id"])
    for column in ("email_change_token_current", "email_change_token_new"):
        if user[column]:  # CreateOneTimeToken again for each column that is set, the older half included
            relates_to = user["email"] if column.endswith("current") else new_email
            tx.run("issue_one_time_token", {"id": uuid.uuid4(), "user_id": user["id"], "token_type": column,
                                            "token_hash": user[column], "relates_to": relates_to})
    return user


def generate_link() -> Response:
    """Create the token for `type` (creating the user for signup, invite and unknown magic links)."""
    body = json_body()
    kind, password, data = field(body, "type"), field(body, "password"), field(body, "data", dict) or {}
    raw_email, new_email_raw = field(body, "email"), field(body, "new_email")
    email = email_address(raw_email)
    target = redirect_target(field(body, "redirect_to") or None)
    with ctx().store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        if user is None and kind == "magiclink":
            kind, password = "signup", secrets.token_urlsafe(48)
        elif user is None and kind in ("recovery", *EMAIL_CHANGE_TYPES):
            raise GoTrueError(404, "user_not_found", "User with this email not found")
        if kind == "signup" and user is None:
            if not password:
                raise bad_request("Signup requires a valid password")
            check_policy(password)
        otp = mail.new_otp()
        if kind in RECOVERY_TYPES:
            mail.issue_token(tx, user, "recovery_token", email, otp=otp)
            user = models.update_user(tx, user["id"], recovery_sent_at=models.now())
        elif kind in ("signup", "invite"):
            if user is not None and user["email_confirmed_at"] is not None:
                raise email_exists()
            if user is None:
                user = _new_user(tx, email, password, data)
            elif kind == "signup":
                metadata = models.merge(user["user_metadata"], data)
                user = models.update_user(tx, user["id"], user_metadata=metadata)
            mail.issue_token(tx, user, "confirmation_token", email, otp=otp)
            stamps = {"confirmation_sent_at": models.now()}
            if kind == "invite":
                stamps["invited_at"] = stamps["confirmation_sent_at"]
            user = models.update_user(tx, user["id"], **stamps)
        elif kind in EMAIL_CHANGE_TYPES:
            user = _email_change(tx, user, kind, new_email_raw, otp)
        else:
            raise bad_request(f"Invalid email action link type requested: {kind}")
        body = models.full_user_json(tx, user)
    # GetEmailActionLink: the link carries the stored token; `hashed_token` is always hash(email + otp), which
    # for email_change_new is not the stored one (that hashes the new address).
    column = {"magiclink": "recovery_token", "recovery": "recovery_token", "signup": "confirmation_token",
              "invite": "confirmation_token", "email_change_current": "email_change_token_current",
              "email_change_new": "email_change_token_new"}[kind]
    link_type = "email_change" if kind in EMAIL_CHANGE_TYPES else kind
    return jsonify({**body, "action_link": mail.verify_link(user[column], link_type, target),
                    "email_otp": otp, "hashed_token": mail.token_hash(email, otp), "verification_type": kind,
                    "redirect_to": target})


def invite() -> Response:
    """Invite an e-mail address: create the user (or reuse an unconfirmed one) and send the invite e-mail."""
    body = json_body()
    raw_email, data = field(body, "email"), field(body, "data", dict) or {}
    email = email_address(raw_email)
    with ctx().store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        if user is not None and user["email_confirmed_at"] is not None:
            raise email_exists()
        if user is None:
            user = _new_user(tx, email, None, data, invited=True)
        user = mail.send(tx, user, mail.INVITE, redirect_target())
        return jsonify(models.full_user_json(tx, user))
