"""`POST /admin/generate_link` (the links and OTPs an e-mail would carry, returned instead of sent) and
`POST /invite` (the same for an invitation, but sent)."""
from __future__ import annotations

import secrets
import uuid

from flask import Response, jsonify

from . import models
from .api import ctx
from .apierrors import GoTrueError, bad_request, email_exists
from .inputs import email_address, field, json_body, redirect_target
from .mail import INVITE, issue_token, send, verify_link
from .passwords import check_policy, hash_password
from .store import Tx

LINK_TYPES = ("signup", "invite", "magiclink", "recovery", "email_change_current", "email_change_new")


def _new_user(tx: Tx, email: str, password: str, data: dict, invited: bool = False) -> dict:
    user_id = uuid.uuid4()
    identity = models.email_identity_data(user_id, email)
    return models.create_user(tx, user_id=user_id, email=email, password_hash=hash_password(password),
                              user_metadata={**data, **identity}, identity_extra=data, invited=invited)


def generate_link() -> Response:
    """Create the token for `type` (creating the user for signup, invite and unknown magic links)."""
    body = json_body()
    kind, raw_email, password = field(body, "type"), field(body, "email"), field(body, "password")
    new_email_raw, data = field(body, "new_email"), field(body, "data", dict) or {}
    target = redirect_target(field(body, "redirect_to") or None)
    if kind not in LINK_TYPES:
        raise bad_request("Invalid email action link type requested: " + kind)
    email = email_address(raw_email)
    with ctx().store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        verification_type, token_type, relates_to = kind, "confirmation_token", email
        if kind == "magiclink" and user is None:
            kind = verification_type = "signup"
            password = password or secrets.token_urlsafe(24)
        if kind in ("signup", "invite"):
            if user is not None and user["email_confirmed_at"] is not None:
                raise email_exists()
            if user is None:
                if kind == "signup":
                    if not password:
                        raise bad_request("Signup requires a valid password")
                    check_policy(password)
                password = password or secrets.token_urlsafe(24)
                user = _new_user(tx, email, password, data, invited=kind == "invite")
            elif kind == "invite":
                user = models.update_user(tx, user["id"], invited_at=models.now())
        elif user is None:
            raise GoTrueError(404, "user_not_found", "User with this email not found")
        elif kind in ("magiclink", "recovery"):
            token_type = "recovery_token"
        else:
            new_email = email_address(new_email_raw)
            if models.find_user_by_email(tx, new_email) is not None:
                raise email_exists()
            user = models.update_user(tx, user["id"], new_email=new_email)
            token_type = kind.replace("email_change_", "email_change_token_")
            relates_to = email if kind == "email_change_current" else new_email
        otp, hashed = issue_token(tx, user["id"], token_type, relates_to)
        body = models.user_json(user, models.identities(tx, user["id"]))
    link_type = "email_change" if kind.startswith("email_change") else verification_type
    return jsonify({**body, "action_link": verify_link(hashed, link_type, target, pkce=False),
                    "email_otp": otp, "hashed_token": hashed, "verification_type": verification_type,
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
            user = _new_user(tx, email, secrets.token_urlsafe(24), data, invited=True)
        user = send(tx, user, INVITE, redirect_target())
        return jsonify(models.user_json(user, models.identities(tx, user["id"])))
