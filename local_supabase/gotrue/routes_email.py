"""E-mail flows: `/verify` (POST and the GET link), `/recover`, `/otp` (magic link) and `/resend`, each behind
its rate-limit bucket (GoTrue api.go, limitHandler)."""
from __future__ import annotations

import secrets
import uuid

from flask import Blueprint, Response, jsonify, redirect, request

from . import flow_state, mail, models
from .api import ctx, rate_limit, session_reply
from .apierrors import GoTrueError, bad_request
from .inputs import email_address, field, json_body, redirect_target
from .passwords import hash_password
from .redirects import error_redirect, session_fragment, with_fragment, with_query
from .verification import HALF_CONFIRMED, PHONE_TYPES, TOKEN_TYPES, verify

bp = Blueprint("email", __name__, url_prefix="/auth/v1")
RESEND_TYPES = ("signup", "email_change", "sms", "phone_change")


@bp.post("/verify")
def verify_post() -> Response:
    """Verify an OTP (with e-mail) or a token hash; answer with a session."""
    rate_limit("verify")
    body = json_body()
    kind, otp, hashed = field(body, "type"), field(body, "token"), field(body, "token_hash")
    raw_email, phone = field(body, "email"), field(body, "phone")
    if not kind:
        raise bad_request("Verify requires a verification type")
    if not otp and not hashed:
        raise bad_request("Verify requires either a token or a token hash")
    if hashed and (raw_email or phone):
        raise bad_request("Only the token_hash and type should be provided")
    if kind not in TOKEN_TYPES and kind not in PHONE_TYPES:
        raise bad_request("Unsupported verification type")
    email = ""
    if otp and kind not in PHONE_TYPES:
        try:
            email = email_address(raw_email)
        except GoTrueError:  # verify.go, VerifyParams.Validate
            raise GoTrueError(422, "validation_failed", "Invalid email format") from None
    state = ctx()
    with state.store.transaction() as tx:
        verified = verify(tx, kind, hashed=hashed, otp=otp, email=email)
        if verified.half_confirmed:
            return jsonify({"msg": HALF_CONFIRMED, "code": "200"})
        return session_reply(state.tokens.sign_in(tx, verified.user, "otp"))


@bp.get("/verify")
def verify_get() -> Response:
    """The link in an e-mail: 303 to `redirect_to` with tokens (implicit) or `?code=` (PKCE)."""
    rate_limit("verify")
    kind, token = request.args.get("type", ""), request.args.get("token", "")
    target = redirect_target()
    is_pkce = token.startswith("pkce_")
    try:
        if not kind or kind not in TOKEN_TYPES:
            missing = "Verify requires a verification type"
            raise bad_request("Unsupported verification type" if kind else missing)
        if not token:
            raise bad_request("Verify requires either a token or a token hash")
        with ctx().store.transaction() as tx:
            verified = verify(tx, kind, hashed=token)
            if verified.half_confirmed:
                location = with_fragment(target, {"message": HALF_CONFIRMED, "sb": ""})
            elif is_pkce and verified.flow_id:
                flow = tx.one("issue_flow_auth_code",
                              {"user_id": verified.user["id"], "id": verified.flow_id})
                if flow is None:
                    raise GoTrueError(404, "flow_state_not_found",
                                      "invalid flow state, no valid flow state found")
                location = with_query(target, {"code": str(flow["auth_code"])})
            else:
                session = ctx().tokens.sign_in(tx, verified.user, "otp")
                location = session_fragment(target, session, type=kind)
    except GoTrueError as error:
        location = error_redirect(target, error, in_query=is_pkce)
    return redirect(location, 303)


@bp.post("/recover")
def recover() -> Response:
    """Send a password-recovery e-mail; `{}` whether or not the address is known."""
    rate_limit("recover")
    body = json_body()
    raw_email = field(body, "email")
    if not raw_email:
        raise bad_request("Password recovery requires an email")
    email = email_address(raw_email)
    pkce = flow_state.pkce_params(body)
    with ctx().store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        if user is not None:
            flow = flow_state.create(tx, pkce, "recovery", user_id=user["id"]) if pkce else None
            mail.send(tx, user, mail.RECOVERY, redirect_target(), flow["id"] if flow else None)
    return jsonify({})


@bp.post("/otp")
def otp() -> Response:
    """Magic link / e-mail OTP; signs unknown (or unconfirmed) addresses up when `create_user` allows."""
    rate_limit("otp")
    body = json_body()
    raw_email, phone = field(body, "email"), field(body, "phone")
    create_user = body.get("create_user") is None or field(body, "create_user", bool)
    data = field(body, "data", dict) or {}
    if raw_email and phone:
        raise bad_request("Only an email address or phone number should be provided")
    if not raw_email and not phone:
        raise bad_request("One of email or phone must be set")
    if phone:
        raise bad_request("Unsupported phone provider", "phone_provider_disabled")
    email = email_address(raw_email)
    pkce = flow_state.pkce_params(body)
    state = ctx()
    with state.store.transaction() as tx:
        user = models.find_user_by_email(tx, email)
        if user is None and not create_user:
            raise GoTrueError(422, "otp_disabled", "Signups not allowed for otp")
        if user is None or user["email_confirmed_at"] is None:
            # Like GoTrue: an unknown or unconfirmed address goes through sign-up first.
            if user is None:
                user_id = uuid.uuid4()
                identity = models.email_identity_data(user_id, email)
                user = models.create_user(tx, user_id=user_id, email=email,
                                          password_hash=hash_password(secrets.token_urlsafe(24)),
                                          user_metadata={**data, **identity}, identity_extra=data)
            if not state.settings.autoconfirm:
                flow = flow_state.create(tx, pkce, "email/signup", user_id=user["id"]) if pkce else None
                mail.send(tx, user, mail.CONFIRMATION, redirect_target(), flow["id"] if flow else None)
                return jsonify({})
            user = models.confirm_email(tx, user)
        flow = flow_state.create(tx, pkce, "magiclink", user_id=user["id"]) if pkce else None
        mail.send(tx, user, mail.MAGICLINK, redirect_target(), flow["id"] if flow else None)
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
            flow = flow_state.create(tx, pkce, "email/signup", user_id=user["id"]) if pkce else None
            mail.send(tx, user, mail.CONFIRMATION, redirect_target(), flow["id"] if flow else None)
        elif user is not None and kind == "email_change" and user["new_email"]:
            flow = flow_state.create(tx, pkce, "email_change", user_id=user["id"]) if pkce else None
            flow_id = flow["id"] if flow else None
            mail.send_email_change(tx, user, user["new_email"], redirect_target(), flow_id)
    return jsonify({})
