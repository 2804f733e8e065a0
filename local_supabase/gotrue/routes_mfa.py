"""MFA: enrol, challenge, verify and unenrol factors (`/auth/v1/factors...`), and the admin API's factor routes
(`/auth/v1/admin/users/{id}/factors...`).

GoTrue internal/api/mfa.go (EnrollFactor, enrollTOTPFactor, ChallengeFactor, challengeTOTPFactor, VerifyFactor,
verifyTOTPFactor, validateChallenge, UnenrollFactor) and admin.go (loadFactor, adminUserGetFactors,
adminUserDeleteFactor), behind the middleware api.go puts in front of them: requireAuthentication,
requireNotAnonymous, loadFactor, then the FactorChallenge / FactorVerify buckets.
"""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify

from . import mfa_factors, mfa_totp, models
from .api import ctx, rate_limit, session_reply
from .apierrors import GoTrueError, bad_request
from .callers import Caller, current_caller
from .inputs import field, json_body, parse_uuid
from .ratelimits import client_ip
from .routes_admin import _user_or_404 as _user  # admin.go, loadUser, as the other admin routes run it
from .store import Tx

bp = Blueprint("mfa", __name__, url_prefix="/auth/v1")
admin_bp = Blueprint("mfa_admin", __name__, url_prefix="/auth/v1/admin")


def _caller(tx: Tx) -> Caller:
    """requireAuthentication, then auth.go, requireNotAnonymous."""
    caller = current_caller(tx)
    if caller.claims.get("is_anonymous"):
        raise GoTrueError(403, "no_authorization", "Anonymous user not allowed to perform these actions")
    return caller


def _session(tx: Tx, caller: Caller, action: str) -> dict:
    session = tx.one("lock_session", {"session_id": caller.session_id}) if caller.session_id else None
    if session is None:
        raise GoTrueError(500, "unexpected_failure", f"A valid session and {action}")
    return session


def _ip() -> str:
    # utilities.GetIPAddress: Sb-Forwarded-For when the gateway let it through, else the client address.
    return client_ip(ctx().keys.service_role_key)


@bp.post("/factors")
def enroll() -> Response:
    """EnrollFactor: TOTP only (phone and WebAuthn enrolment are off by default), then enrollTOTPFactor."""
    state = ctx()
    with state.store.transaction() as tx:
        caller = _caller(tx)
        session = _session(tx, caller, "a registered user are required to enroll a factor")
        body = json_body()
        factor_type, friendly_name = field(body, "factor_type"), field(body, "friendly_name")
        if factor_type == "phone":
            raise GoTrueError(422, "mfa_phone_enroll_not_enabled", "MFA enroll is disabled for Phone")
        if factor_type == "webauthn":
            raise GoTrueError(422, "mfa_webauthn_enroll_not_enabled", "MFA enroll is disabled for WebAuthn")
        if factor_type != mfa_factors.TOTP:
            raise bad_request("factor_type needs to be totp, phone, or webauthn")
        issuer = field(body, "issuer") or urlsplit(state.settings.site_url).netloc
        user = caller.user
        mfa_factors.validate_new_factor(tx, user["id"], friendly_name, session["aal"], state.settings)
        if not user["email"]:  # totp.Generate: ErrGenerateMissingAccountName
            raise GoTrueError(500, "unexpected_failure", "Error generating QR Code")
        secret = mfa_totp.new_secret()
        uri = mfa_totp.key_uri(secret, issuer, user["email"])
        factor = mfa_factors.create_totp(tx, user["id"], friendly_name, secret)
        return jsonify({"id": str(factor["id"]), "type": mfa_factors.TOTP, "friendly_name": friendly_name,
                        "totp": {"qr_code": mfa_totp.qr_svg(uri), "secret": secret, "uri": uri}})


@bp.post("/factors/<raw_id>/challenge")
def challenge(raw_id: str) -> Response:
    """challengeTOTPFactor: a challenge bound to the caller's address, with its expiry."""
    state = ctx()
    with state.store.transaction() as tx:
        factor = mfa_factors.owned_factor(tx, _caller(tx).user["id"], raw_id)
        rate_limit("factor_challenge")
        row = mfa_factors.challenge(tx, factor, _ip())
        return jsonify({"id": str(row["id"]), "type": factor["factor_type"],
                        "expires_at": mfa_factors.expires_at(row, state.settings)})


def _challenge_id(body: dict) -> str:
    """VerifyFactorParams.ChallengeID, a uuid.UUID: absent is the nil UUID, anything but a UUID string fails
    to unmarshal (400 bad_json)."""
    raw = body.get("challenge_id")
    if raw is None:
        return str(uuid.UUID(int=0))
    if not isinstance(raw, str) or parse_uuid(raw) is None:
        raise GoTrueError(400, "bad_json",
                          f"Could not parse request body as JSON: uuid: incorrect UUID format {raw}")
    return str(parse_uuid(raw))


@bp.post("/factors/<raw_id>/verify")
def verify(raw_id: str) -> Response:
    """VerifyFactor and verifyTOTPFactor: the code against the factor's secret (30 s steps, one step of skew),
    then in one transaction the challenge and factor verified, the session raised to aal2 with a swapped
    refresh token, the user's other aal1 sessions ended and their unverified TOTP factors removed."""
    state = ctx()
    try:
        with state.store.transaction() as tx:
            caller = _caller(tx)
            factor = mfa_factors.owned_factor(tx, caller.user["id"], raw_id)
            rate_limit("factor_verify")
            body = json_body()
            challenge_id, code = _challenge_id(body), field(body, "code")
            if not code:
                raise bad_request("Code needs to be non-empty")
            row = mfa_factors.valid_challenge(tx, factor, challenge_id, _ip(), state.settings)
            if not mfa_totp.validate(code, factor["secret"]):
                raise GoTrueError(422, "mfa_verification_failed", "Invalid TOTP code entered")
            tx.run("verify_challenge", {"challenge_id": row["id"]})
            if factor["status"] != "verified":
                tx.one("verify_factor", {"factor_id": factor["id"]})
            user = models.find_user(tx, caller.user["id"])
            session = _session(tx, caller, "a registered user are required to verify a factor")
            session = mfa_factors.upgrade_session(tx, session["id"], factor)
            answer = state.tokens.after_mfa(tx, user, session)
            tx.run("delete_sessions_below_aal2", {"user_id": user["id"]})
            tx.run("delete_unverified_factors", {"user_id": user["id"], "factor_type": mfa_factors.TOTP})
            return session_reply(answer)
    except mfa_factors.ChallengeExpired as expired:
        with state.store.transaction() as tx:
            tx.run("delete_challenge", {"challenge_id": expired.challenge_id})
        raise


@bp.delete("/factors/<raw_id>")
def unenroll(raw_id: str) -> Response:
    """UnenrollFactor: a verified factor only from an aal2 session; its sessions go back to aal1."""
    with ctx().store.transaction() as tx:
        caller = _caller(tx)
        factor = mfa_factors.owned_factor(tx, caller.user["id"], raw_id)
        session = _session(tx, caller, "factor are required to unenroll a factor")
        if factor["status"] == "verified" and session["aal"] != "aal2":
            raise GoTrueError(422, "insufficient_aal", "AAL2 required to unenroll verified factor")
        tx.run("delete_factor", {"factor_id": factor["id"]})
        mfa_factors.downgrade_sessions(tx, factor)
        return jsonify({"id": str(factor["id"])})


# ------------------------------------------------------------------------------------------------ admin API
# (guarded with every /admin path by create_app)
@admin_bp.get("/users/<user_id>/factors")
def admin_factors(user_id: str) -> Response:
    """adminUserGetFactors: every factor of the user, verified or not."""
    with ctx().store.transaction() as tx:
        return jsonify(mfa_factors.factors_json(tx, _user(tx, user_id)["id"]))


@admin_bp.put("/users/<user_id>/factors/<factor_id>")
def admin_update_factor(user_id: str, factor_id: str) -> Response:
    """adminUserUpdateFactor: a new friendly_name when one is given (a phone only for phone factors, which
    the stand-in has none of); answers the factor."""
    with ctx().store.transaction() as tx:
        factor = mfa_factors.owned_factor(tx, _user(tx, user_id)["id"], factor_id)
        friendly_name = field(json_body(), "friendly_name")
        if friendly_name:  # models.Factor.UpdateFriendlyName
            factor = tx.one("rename_factor", {"factor_id": factor["id"], "friendly_name": friendly_name})
        return jsonify(mfa_factors.factor_json(factor))


@admin_bp.delete("/users/<user_id>/factors/<factor_id>")
def admin_delete_factor(user_id: str, factor_id: str) -> Response:
    """adminUserDeleteFactor: gone whatever its status, its sessions back to aal1; answers the factor."""
    with ctx().store.transaction() as tx:
        factor = mfa_factors.owned_factor(tx, _user(tx, user_id)["id"], factor_id)
        tx.run("delete_factor", {"factor_id": factor["id"]})
        mfa_factors.downgrade_sessions(tx, factor)
        return jsonify(mfa_factors.factor_json(factor))
