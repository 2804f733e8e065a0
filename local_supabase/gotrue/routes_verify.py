"""`/auth/v1/verify`: POST (an OTP with its address, or a token hash) and GET (the link in an e-mail).

GoTrue internal/api/verify.go: VerifyParams.Validate, Verify, verifyPost and verifyGet. Both share the Verify
rate-limit bucket (api.go).
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, request

from .api import ctx, rate_limit, session_reply
from .apierrors import GoTrueError, bad_request
from .inputs import email_address, field, json_body, phone_number, redirect_target
from .mail import PKCE_PREFIX, token_hash
from .redirects import error_redirect, session_fragment, with_fragment, with_query
from .store import Tx
from .verification import HALF_CONFIRMED, PHONE_TYPES, Verified, apply, by_hash, by_otp

bp = Blueprint("verify", __name__, url_prefix="/auth/v1")
# models.ParseAuthenticationMethod's names (anything ending in "signup" is email/signup). A PKCE link of
# another type is GoTrue's generic 500; one of these that verify does not serve ("password", say) is refused
# by verifyTokenHash later, as a redirect.
AUTH_METHODS = {"oauth", "password", "otp", "totp", "recovery", "invite", "sso/saml", "magiclink",
                "email/signup", "email_change", "token_refresh", "mfa/phone", "mfa/webauthn", "web3",
                "oauth_provider/authorization_code", "passkey"}


@bp.post("/verify")
def verify_post() -> Response:
    """Verify an OTP (with its e-mail address) or a token hash; answer with a session."""
    rate_limit("verify")
    body = json_body()
    kind, otp, hashed = field(body, "type"), field(body, "token"), field(body, "token_hash")
    raw_email, phone = field(body, "email"), field(body, "phone")
    if not kind:
        raise bad_request("Verify requires a verification type")
    if bool(otp) == bool(hashed):
        raise bad_request("Verify requires either a token or a token hash")
    email = ""
    if otp:
        if phone and not raw_email:
            phone_number(phone)
        elif raw_email and not phone:
            try:
                email = email_address(raw_email)
            except GoTrueError:
                raise GoTrueError(422, "validation_failed", "Invalid email format") from None
        else:
            raise bad_request("Only an email address or phone number should be provided on verify")
    elif raw_email or phone or field(body, "redirect_to"):
        raise bad_request("Only the token_hash and type should be provided")
    state = ctx()
    with state.store.transaction() as tx:
        if hashed:
            verified = by_hash(tx, kind, hashed)
        elif email and kind not in PHONE_TYPES:
            verified = by_otp(tx, kind, email, otp)
        else:
            # No SMS is ever sent here, so no phone user has a token: verifyUserAndToken finds none.
            raise GoTrueError(403, "otp_expired", "Token has expired or is invalid")
        verified = apply(tx, verified, hashed or token_hash(email, otp))
        if verified.half_confirmed:
            return jsonify({"msg": HALF_CONFIRMED, "code": "200"})
        return session_reply(state.tokens.sign_in(tx, verified.user, "otp"))


def _auth_code(tx: Tx, verified: Verified, method: str) -> str:
    """pkce.go, issueAuthCode: the code of the user's latest flow of this method, issued now."""
    flow = tx.one("issue_latest_flow_auth_code",
                  {"user_id": verified.user["id"], "authentication_method": method})
    if flow is None or not flow["code_challenge"]:
        detail = "No valid flow state found for user." if flow is None else \
            "Flow state does not have an auth code (not a PKCE flow)."
        raise GoTrueError(400, "flow_state_not_found", f"No associated flow state found. 422: {detail}")
    return str(flow["auth_code"])


@bp.get("/verify")
def verify_get() -> Response:
    """The link in an e-mail: 303 to `redirect_to` with tokens (implicit) or `?code=` (PKCE); bad parameters
    are a JSON 400 (VerifyParams.Validate runs before anything redirects)."""
    rate_limit("verify")
    kind, token = request.args.get("type", ""), request.args.get("token", "")
    target = redirect_target()
    if not kind:
        raise bad_request("Verify requires a verification type")
    if not token:
        raise bad_request("Verify requires a token or a token hash")
    is_pkce = token.startswith(PKCE_PREFIX)
    method = "email/signup" if kind.endswith("signup") else kind if kind in AUTH_METHODS else None
    if is_pkce and method is None:
        # ParseAuthenticationMethod's error is not an HTTPError: GoTrue answers its generic 500.
        raise GoTrueError(500, "unexpected_failure",
                          "Unexpected failure, please check server logs for more information")
    state = ctx()
    try:
        with state.store.transaction() as tx:
            verified = apply(tx, by_hash(tx, kind, token), token)
            if verified.half_confirmed:
                # verify.go, prepRedirectURL: the query encoded again (the message in it for PKCE), the
                # fragment replaced.
                in_query = with_query(target, {"message": HALF_CONFIRMED} if is_pkce else {})
                location = with_fragment(in_query, {"message": HALF_CONFIRMED, "sb": ""})
            elif is_pkce:
                location = with_query(target, {"code": _auth_code(tx, verified, method)})
            else:
                session = state.tokens.sign_in(tx, verified.user, "otp")
                location = session_fragment(target, session, type=verified.kind)
    except GoTrueError as error:
        location = error_redirect(target, error, in_query=is_pkce)
    return redirect(location, 303)
