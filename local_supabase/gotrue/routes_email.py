"""E-mail sending flows: `/recover`, `/otp` (magic link) and `/resend`, each behind its own rate-limit bucket.

GoTrue internal/api/recover.go (Recover), otp.go (Otp, shouldCreateUser), magic_link.go (MagicLink) and
resend.go (Resend); the buckets as api.go's router puts them in front (limitHandler).
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify

from . import flow_state, mail, models
from .api import ctx, rate_limit
from .apierrors import GoTrueError, bad_request, user_already_exists
from .inputs import email_address, field, json_body, phone_number, redirect_target
from .passwords import hash_password

bp = Blueprint("email", __name__, url_prefix="/auth/v1")
RESEND_TYPES = ("signup", "email_change", "sms", "phone_change")


@bp.post("/recover")
def recover() -> Response:
    """Send a password-recovery e-mail; `{}` whether or not the address is known (recover.go, Recover)."""
    rate_limit("recover")
    body = json_body()
    raw_email = field(body, "email")
    if not raw_email:
        raise bad_request("Password recovery requires an email")
    email = email_address(raw_email)
    pkce = flow_state.pkce_params(body)
    store = ctx().store
    with store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
    if user is not None:
        if pkce:
            _save_flow_state(pkce, "recovery", user["id"])
        with store.transaction() as tx:
            mail.send(tx, user, mail.RECOVERY, redirect_target(), pkce=bool(pkce))
    return jsonify({})


def _save_flow_state(pkce: tuple[str, str], kind: str, user_id: Any) -> None:
    """Recover and MagicLink (recover.go, magic_link.go) save the flow state on the plain connection, before
    and outside the transaction that sends the e-mail: a send refused (the 60 s frequency, 429) keeps it, and
    the link already sent exchanges with the newest verifier (pkce.go, issueAuthCode takes the user's latest
    flow state), which supabase-py stored before it sent the refused request."""
    with ctx().store.transaction() as tx:
        flow_state.create(tx, pkce, kind, user_id=user_id)


def _should_create_user(body: dict) -> bool:
    """otp.go, shouldCreateUser: False only for `create_user: false` and an unknown (or bad) address or phone
    number (the e-mail, when both are given)."""
    if body.get("create_user") is None or field(body, "create_user", bool):
        return True
    raw_email, raw_phone = field(body, "email"), field(body, "phone")
    if not raw_email and not raw_phone:
        return True
    try:
        email = email_address(raw_email) if raw_email else ""
        phone = "" if raw_email else phone_number(raw_phone)
    except GoTrueError:
        return False  # Otp answers otp_disabled whatever shouldCreateUser's error was
    with ctx().store.transaction() as tx:
        if email:
            return models.find_user_by_email(tx, email) is not None
        return tx.one("find_user_by_phone", {"phone": phone}) is not None


@bp.post("/otp")
def otp() -> Response:
    """Magic link / e-mail OTP; signs unknown or unconfirmed addresses up first (magic_link.go, MagicLink)."""
    rate_limit("otp")
    body = json_body()
    raw_email, phone = field(body, "email"), field(body, "phone")
    data = field(body, "data", dict) or {}
    if raw_email and phone:
        raise bad_request("Only an email address or phone number should be provided")
    if raw_email and field(body, "channel"):
        raise bad_request("Channel should only be specified with Phone OTP")
    pkce = flow_state.pkce_params(body)
    if not _should_create_user(body):
        raise GoTrueError(422, "otp_disabled", "Signups not allowed for otp")
    if phone:
        raise bad_request("Unsupported phone provider", "phone_provider_disabled")
    if not raw_email:
        raise bad_request("One of email or phone must be set")
    return _magic_link(email_address(raw_email), data, pkce)


@bp.post("/magiclink")
def magic_link() -> Response:
    """magic_link.go, MagicLink served on its own (the older route, with a bucket of its own): no
    `create_user` switch, an unknown address is always signed up."""
    rate_limit("magiclink")
    body = json_body()
    raw_email, data = field(body, "email"), field(body, "data", dict) or {}
    if not raw_email:  # MagicLinkParams.Validate
        raise GoTrueError(422, "validation_failed", "Password recovery requires an email")
    email = email_address(raw_email)
    return _magic_link(email, data, flow_state.pkce_params(body))


def _magic_link(email: str, data: dict, pkce: tuple[str, str] | None) -> Response:
    """magic_link.go, MagicLink from the user look-up on: an unknown or unconfirmed address is signed up
    first (Signup), then a magic link (or with autoconfirm off the confirmation mail, which does as much)."""
    state = ctx()
    with state.store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        if user is None:
            # MagicLink's Signup call asks models.IsDuplicatedEmail: an address another user's identity carries
            # is that user's (422 with autoconfirm; else Signup's silent answer, or its confirmation mail).
            user = models.is_duplicated_email(tx, email, "authenticated", None)
            if user is not None and state.settings.autoconfirm:
                raise user_already_exists()
            if user is not None and user["email_confirmed_at"] is not None:
                return jsonify({})
        if user is None or user["email_confirmed_at"] is None:
            # MagicLink: an unknown or unconfirmed address goes through Signup first (no Signups bucket).
            if user is None:
                user_id = uuid.uuid4()
                identity = models.email_identity_data(user_id, email)
                user = models.create_user(tx, user_id=user_id, email=email,
                                          password_hash=hash_password(secrets.token_urlsafe(24)),
                                          user_metadata={**data, **identity}, identity_extra=data)
            if not state.settings.autoconfirm:
                if pkce:
                    flow_state.create(tx, pkce, "email/signup", user_id=user["id"])
                mail.send(tx, user, mail.CONFIRMATION, redirect_target(), pkce=bool(pkce))
                return jsonify({})
            user = models.confirm_email(tx, user)
            state.tokens.sign_in(tx, user, "password")  # Signup's own sign-in; MagicLink drops the session
            user = models.find_user(tx, user["id"])
    if pkce:
        _save_flow_state(pkce, "magiclink", user["id"])
    with state.store.transaction() as tx:
        mail.send(tx, user, mail.MAGICLINK, redirect_target(), pkce=bool(pkce))
    return jsonify({})


def _resend_address(body: dict, kind: str) -> str:
    """resend.go, ResendConfirmationParams.Validate, in its order."""
    raw_email, phone = field(body, "email"), field(body, "phone")
    if kind in ("signup", "email_change"):
        flow_state.pkce_params(body)
    elif kind not in RESEND_TYPES:
        raise bad_request("Missing one of these types: signup, email_change, sms, phone_change")
    if not raw_email and kind == "signup":
        raise bad_request("Type provided requires an email address")
    if not phone and kind == "sms":
        raise bad_request("Type provided requires a phone number")
    if raw_email and phone:
        raise bad_request("Only an email address or phone number should be provided.")
    if raw_email:
        return email_address(raw_email)
    if phone:
        raise bad_request("Phone logins are disabled", "phone_provider_disabled")
    raise bad_request("Missing email address or phone number")


@bp.post("/resend")
def resend() -> Response:
    """Send the signup confirmation or the e-mail-change messages again, if one is pending."""
    rate_limit("resend")
    body = json_body()
    kind = field(body, "type")
    email = _resend_address(body, kind)
    pkce = flow_state.pkce_params(body)
    with ctx().store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        if user is not None and kind == "signup" and user["email_confirmed_at"] is None:
            if pkce:
                flow_state.create(tx, pkce, "email/signup", user_id=user["id"])
            mail.send(tx, user, mail.CONFIRMATION, redirect_target(), pkce=bool(pkce))
        elif user is not None and kind == "email_change" and user["new_email"]:
            if pkce:
                flow_state.create(tx, pkce, "email_change", user_id=user["id"])
            mail.send_email_change(tx, user, user["new_email"], redirect_target(), pkce=bool(pkce))
    return jsonify({})
