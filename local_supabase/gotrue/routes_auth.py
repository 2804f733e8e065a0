"""Sign-up, the token grants, the current user, and logout (`/auth/v1/signup|token|user|logout`)."""
from __future__ import annotations

import uuid

from flask import Blueprint, Response, jsonify, request

from . import flow_state, mail, models
from .api import ctx, rate_limit, session_reply
from .apierrors import GoTrueError, OAuthError, bad_request, email_exists, user_already_exists
from .callers import Caller, current_caller
from .inputs import check_params, email_address, field, json_body, phone_number, redirect_target
from .passwords import MIN_LENGTH, check_policy, hash_password, is_too_short, verify_password
from .store import Tx

bp = Blueprint("auth", __name__, url_prefix="/auth/v1")
LOGOUT_SCOPES = {"global", "local", "others"}
GOOGLE_ISSUER = "https://accounts.google.com"  # provider.IssuerGoogle


def _invalid_credentials() -> GoTrueError:
    return GoTrueError(400, "invalid_credentials", "Invalid login credentials")


@bp.post("/signup")
def signup() -> Response:
    """Create an e-mail user: a session with autoconfirm, else a bare user and a confirmation e-mail.

    GoTrue api.go (the /signup route: anonymous check, then the Signups bucket) and signup.go, Signup /
    validateSignupParams, in their order."""
    body = json_body()
    raw_email, phone, password = field(body, "email"), field(body, "phone"), field(body, "password")
    data = field(body, "data", dict) or {}
    if not raw_email and not phone:
        raise GoTrueError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")
    rate_limit("signups")
    if not password:
        raise bad_request("Signup requires a valid password")
    check_policy(password)
    if raw_email and phone:
        raise bad_request("Only an email address or phone number should be provided on signup.")
    if phone and field(body, "code_challenge"):
        raise bad_request("PKCE not supported for phone signups")
    pkce = flow_state.pkce_params(body)
    if phone:
        raise bad_request("Phone signups are disabled", "phone_provider_disabled")
    email = email_address(raw_email)
    state = ctx()
    with state.store.transaction() as tx:
        # signup.go, Signup: models.IsDuplicatedEmail, so the owner of an identity carrying the address counts.
        user = models.is_duplicated_email(tx, email, "authenticated", None)
        if user is not None and user["email_confirmed_at"] is not None:
            if not state.settings.autoconfirm:
                return jsonify(models.sanitized_user_json(tx, user, data))
            raise user_already_exists()
        if user is None:
            user_id = uuid.uuid4()
            identity = models.email_identity_data(user_id, email)
            user = models.create_user(tx, user_id=user_id, email=email, password_hash=hash_password(password),
                                      user_metadata={**data, **identity}, identity_extra=data)
        if state.settings.autoconfirm:
            user = models.confirm_email(tx, user)
            return session_reply(state.tokens.sign_in(tx, user, "password"))
        if pkce:
            flow_state.create(tx, pkce, "email/signup", user_id=user["id"])
        user = mail.send(tx, user, mail.CONFIRMATION, redirect_target(), pkce=bool(pkce))
        return jsonify(models.unconfirmed_signup_json(tx, user))


def _password_grant(body: dict) -> Response:
    """token.go, ResourceOwnerPasswordGrant, its checks in its order."""
    email, phone, password = field(body, "email"), field(body, "phone"), field(body, "password")
    if email and phone:
        raise bad_request("Only an email address or phone number should be provided on login.")
    if not email and not phone:
        raise bad_request("missing email or phone")
    if phone:
        raise GoTrueError(422, "phone_provider_disabled", "Phone logins are disabled")
    state = ctx()
    with state.store.transaction() as tx:
        # models.FindUserByEmailAndAudience lower-cases the address but does not trim it.
        user = models.find_user_by_email(tx, email.lower())
        if user is None or not user["encrypted_password"]:
            raise _invalid_credentials()
        if models.is_banned(user):
            raise GoTrueError(400, "user_banned", "User is banned")
        if not verify_password(password, user["encrypted_password"]):
            raise _invalid_credentials()
        if user["email_confirmed_at"] is None:
            raise GoTrueError(400, "email_not_confirmed", "Email not confirmed")
        weak = None
        if is_too_short(password):
            weak = {"message": f"Password should be at least {MIN_LENGTH} characters.", "reasons": ["length"]}
        return session_reply(state.tokens.sign_in(tx, user, "password", weak_password=weak))


@bp.post("/token")
def token() -> Response:
    """The password, refresh_token, id_token and pkce grants, behind one bucket (token.go, Token)."""
    grant = request.args.get("grant_type", "")
    if grant not in ("password", "refresh_token", "id_token", "pkce"):
        raise GoTrueError(400, "invalid_credentials", "unsupported_grant_type")
    rate_limit("token")
    body = json_body()
    if grant == "password":
        return _password_grant(body)
    if grant == "id_token":
        _id_token_grant(body)
    state = ctx()
    if grant == "refresh_token":
        return session_reply(state.tokens.refresh(state.store, field(body, "refresh_token")))
    with state.store.transaction() as tx:
        return session_reply(flow_state.exchange(tx, body))


def _id_token_grant(body: dict) -> None:
    """token_oidc.go, IdTokenGrant and getProvider, up to the token's verification, which never passes here:
    Google's keys cannot be fetched offline, so every Google ID token is "Bad ID token" (`ParseIDToken`'s
    failure). Issuers outside Google are the default branch's (none is in
    GOTRUE_EXTERNAL_ALLOWED_ID_TOKEN_ISSUERS)."""
    id_token, provider = field(body, "id_token"), field(body, "provider")
    client_id, issuer = field(body, "client_id"), field(body, "issuer")
    if not id_token:
        raise OAuthError("invalid request", "id_token required")
    if not provider and (not client_id or not issuer):
        raise OAuthError("invalid request", "provider or client_id and issuer required")
    if field(body, "link_identity", bool):  # the caller must be a signed-in user (requireAuthentication)
        with ctx().store.transaction() as tx:
            current_caller(tx)
    if provider != "google" and issuer != GOOGLE_ISSUER:
        raise bad_request(f'Custom OIDC provider "{provider}" not allowed')
    raise OAuthError("invalid request", "Bad ID token")


@bp.get("/user")
def get_user() -> Response:
    """The user behind the Bearer token."""
    with ctx().store.transaction() as tx:
        user = current_caller(tx, check_audience=True).user
        return jsonify(models.full_user_json(tx, user))


def _new_password(body: dict) -> str | None:
    """`password` as Go's *string sees it: None when absent or null, else the string (empty included)."""
    return None if body.get("password") is None else field(body, "password")


def _aal1_with_factor(tx: Tx, caller: Caller) -> bool:
    """user.go, UserUpdate: `user.HasMFAEnabled() && !session.IsAAL2()`, a user with a verified factor whose
    session has not passed it (then neither the password nor the e-mail may change)."""
    factors = tx.all("factors_of_user", {"user_id": caller.user["id"]})
    if not any(factor["status"] == "verified" for factor in factors):
        return False
    session = tx.one("session_amr", {"session_id": caller.session_id}) if caller.session_id else None
    return session is None or session["aal"] != "aal2"


# user.go, UserUpdateParams: its fields and their types.
USER_UPDATE_PARAMS = {"email": str, "password": str, "current_password": str, "nonce": str, "data": dict,
                      "app_metadata": dict, "phone": str, "channel": str, "code_challenge": str,
                      "code_challenge_method": str}


# models.AuthenticationMethod.IsRecovery: the sign-ins that prove the user reads their mail.
RECOVERY_METHODS = {"otp", "magiclink", "recovery"}


def _check_current_password(tx: Tx, caller: Caller, body: dict) -> None:
    """user.go, UserUpdate with SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD: a user who has a password
    must name it to set another, unless the session is a recovery one (models.Session.IsRecovery: one of its
    amr claims is otp, magiclink or recovery)."""
    session = tx.one("session_amr", {"session_id": caller.session_id}) if caller.session_id else None
    if session is not None and {claim.get("method") for claim in session["amr"]} & RECOVERY_METHODS:
        return
    current = field(body, "current_password")
    if not current:
        raise bad_request("Current password required when setting new password.", "current_password_required")
    if not verify_password(current, caller.user["encrypted_password"]):
        raise bad_request("Current password required when setting new password.", "current_password_invalid")


@bp.put("/user")
def update_user() -> Response:
    """Change metadata, password (ending the user's other sessions) or e-mail (after confirmation).

    GoTrue api.go (authentication, then the User bucket) and user.go, UserUpdate and
    validateUserUpdateParams: an address another user holds (models.IsDuplicatedEmail, identities included)
    is 422 email_exists; a new password may need the current one (`_check_current_password`), then must
    differ from it; models.User.UpdatePassword ends every other session of the user."""
    state = ctx()
    with state.store.transaction() as tx:
        caller = current_caller(tx)
        rate_limit("user")
        body = json_body()
        check_params(body, USER_UPDATE_PARAMS)
        raw_email, raw_phone, password = field(body, "email"), field(body, "phone"), _new_password(body)
        data = field(body, "data", dict)
        email = email_address(raw_email) if raw_email else ""
        phone = phone_number(raw_phone) if raw_phone else ""  # validateUserUpdateParams: the format first
        if password is not None:
            check_policy(password)
        user = caller.user
        if body.get("app_metadata") is not None:
            raise GoTrueError(403, "not_admin", "Updating app_metadata requires admin privileges")
        changes_phone = bool(phone) and phone != (user["phone"] or "")
        changes_email = bool(email) and email != user["email"]
        if (password or changes_email or changes_phone) and _aal1_with_factor(tx, caller):
            raise GoTrueError(401, "insufficient_aal",
                              "AAL2 session is required to update email or password when MFA is enabled.")
        if email and email != user["email"] and models.is_duplicated_email(tx, email, user["aud"], user["id"]):
            raise email_exists()
        if changes_phone:
            if tx.one("find_user_by_phone", {"phone": phone}) is not None:  # models.IsDuplicatedPhone
                raise GoTrueError(422, "phone_exists",
                                  "A user with this phone number has already been registered")
            # GoTrue would text a code to confirm the change; the stand-in sends no SMS (module docstring).
            raise GoTrueError(422, "phone_provider_disabled", "Phone logins are disabled")
        if password is not None:
            if password and user["encrypted_password"]:  # models.User.HasPassword
                if state.settings.update_password_require_current_password:
                    _check_current_password(tx, caller, body)
                if verify_password(password, user["encrypted_password"]):
                    raise GoTrueError(422, "same_password",
                                      "New password should be different from the old password.")
            user = models.update_password(tx, user, hash_password(password) if password else None,
                                          caller.session_id)
        if data is not None:
            user = models.update_user(tx, user["id"], user_metadata=models.merge(user["user_metadata"], data))
        if email and email != user["email"]:
            pkce = flow_state.pkce_params(body)
            if pkce:
                flow_state.create(tx, pkce, "email_change", user_id=user["id"])
            user = mail.send_email_change(tx, user, email, redirect_target(), pkce=bool(pkce))
        return jsonify(models.full_user_json(tx, user))


@bp.get("/reauthenticate")
def reauthenticate() -> Response:
    """reauthenticate.go, Reauthenticate: a code to the user's confirmed address, 200 `{}` (no rate-limit
    bucket of its own). The code is the `nonce` PUT /user would ask for with
    SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION, off by default and not offered here."""
    with ctx().store.transaction() as tx:
        user = current_caller(tx).user
        if not user["email"] and not user["phone"]:
            raise bad_request("Reauthentication requires the user to have an email or a phone number")
        if user["email"] and user["email_confirmed_at"] is None:
            raise GoTrueError(422, "email_not_confirmed", "Please verify your email first.")
        if not user["email"] and user["phone_confirmed_at"] is None:
            raise GoTrueError(422, "phone_not_confirmed", "Please verify your phone first.")
        if not user["email"]:  # phone.go, sendPhoneConfirmation: no SMS provider is configured
            raise GoTrueError(500, "unexpected_failure", "Unable to get SMS provider")
        mail.send_reauthentication(tx, user)
    return jsonify({})


@bp.post("/logout")
def logout() -> Response:
    """End sessions: `global` (default) all, `local` this one, `others` all but this one."""
    with ctx().store.transaction() as tx:
        caller = current_caller(tx)
        scope = request.args.get("scope", "") or "global"
        if scope not in LOGOUT_SCOPES:
            raise bad_request(f'Unsupported logout scope "{scope}"')
        params = {"user_id": caller.user["id"], "session_id": caller.session_id}
        if scope == "global" or caller.session_id is None:
            tx.run("delete_sessions_of_user", params)
        elif scope == "local":
            tx.run("delete_session", params)
        else:
            tx.run("delete_other_sessions_of_user", params)
    response = Response(status=204)
    del response.headers["Content-Type"]  # logout.go writes the status alone
    return response
