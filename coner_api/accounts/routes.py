"""The /auth routes: parse, call one account flow, shape the answer (docs/api.md, "Accounts")."""
from __future__ import annotations

import re

from flask import jsonify, redirect, request

from ..observability import metrics
from ..blueprint import BEARER, NO_STORE, Blueprint
from ..errors import ApiError, InvalidOtp
from ..rate_limits import CODE_ATTEMPTS, CREDENTIALS, PUBLIC, count_code_attempt
from ..sessions.guard import auth_required, auth_required_aal1, current_token, current_user
from . import callback_page, oauth, service
from .schemas import (EmailOnlySchema, GoogleUrlQuerySchema, MeSchema, MessageSchema, OkSchema,
                      PasswordResetSchema, RefreshSchema, SignInSchema, SignUpResponseSchema, SignUpSchema,
                      TokenResponseSchema, UrlSchema, VerifyEmailSchema)

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sign-up, sessions, e-mail and passwords",
                template_folder="templates")

ACCEPTED = {"message": "If the address can receive it, an e-mail is on its way"}
# Supabase's PKCE authorization codes are UUIDs; anything that is not printable ASCII cannot be one, nor can a
# `%`: werkzeug leaves a percent-escape that is not UTF-8 (code=%FF) as its three characters.
_CODE = re.compile(r"[\x21-\x24\x26-\x7e]{1,512}")


@blp.route("/signup", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(SignUpSchema)
@blp.response(201, SignUpResponseSchema)
@blp.errors(400, 429, 503)
def signup(body):
    """Create an account (and its profile row)."""
    return {"userId": service.sign_up(body["email"], body["password"], body.get("displayName"))}


@blp.route("/signin", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(SignInSchema)
@blp.response(200, TokenResponseSchema)
@blp.errors(400, 403, 429, 503)
def signin(body):
    """Sign in with e-mail and password."""
    try:
        tokens = service.sign_in(body["email"], body["password"])
    except ApiError as exc:
        metrics.sign_in_failed("password", exc.code)
        raise
    return tokens.answer(), 200, NO_STORE


@blp.route("/refresh", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(RefreshSchema)
@blp.response(200, TokenResponseSchema)
@blp.errors(400, 401, 403, 429, 503)
def refresh(body):
    """Trade a refresh token for a new session (the refresh token rotates)."""
    return service.refresh(body["refresh_token"]).answer(), 200, NO_STORE


@blp.route("/logout", methods=["POST"])
@blp.rate_limited(PUBLIC)  # per IP, not per user: see logout_all
@blp.doc(security=BEARER)
@blp.response(204)
@blp.errors(401, (403, "MFA_REQUIRED: an aal1 token of a user with a verified second factor"), 503)
@auth_required
def logout():
    """End this session: its refresh token in Supabase, its access tokens here."""
    service.logout(current_user(), current_token())


@blp.route("/logout-all", methods=["POST"])
# Per IP, not per user: the user's budget is shared by every holder of a token of theirs, and a thief spending
# it (a hundred GET /auth/me a minute) would keep the owner from signing the thief out.
@blp.rate_limited(PUBLIC)
@blp.doc(security=BEARER)
@blp.response(204)
@blp.errors(401, 503)
@auth_required
def logout_all():
    """End every session of this user, on every device, at once."""
    service.logout_everywhere(current_user(), current_token())


@blp.route("/me")
@blp.doc(security=BEARER)
@blp.built_response(200, MeSchema)
@blp.errors(401, 503)
@auth_required_aal1
def me():
    """The signed-in user."""
    # Built to MeSchema's shape directly (the hot path; test_openapi and the fuzz run check the shape).
    return jsonify(service.me(current_user()))


@blp.route("/bootstrap", methods=["POST"])
@blp.doc(security=BEARER)
@blp.response(200, OkSchema)
@blp.errors(401, 503)
@auth_required
def bootstrap():
    """Create the user's profile row if it is missing (idempotent)."""
    service.bootstrap(current_user())
    return {"ok": True}


@blp.route("/verify-email", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(VerifyEmailSchema)
@blp.response(200, MessageSchema)
@blp.errors(400, 401, (429, CODE_ATTEMPTS), 503)
def verify_email(body):
    """Confirm an e-mail address with the code from the confirmation e-mail."""
    count_code_attempt(f"email:{body['email']}")
    service.verify_email(body["email"], body["token"])
    return {"message": "Email verified successfully"}


@blp.route("/resend-verification", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(EmailOnlySchema)
@blp.response(202, MessageSchema)
@blp.errors(400, 429, 503)
def resend_verification(body):
    """Send the confirmation e-mail again (same answer whether or not the address is registered)."""
    service.resend_verification(body["email"])
    return ACCEPTED


@blp.route("/password/forgot", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(EmailOnlySchema)
@blp.response(202, MessageSchema)
@blp.errors(400, 429, 503)
def password_forgot(body):
    """Send a password-recovery code (same answer whether or not the address is registered)."""
    service.forgot_password(body["email"])
    return ACCEPTED


@blp.route("/password/reset", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(PasswordResetSchema)
@blp.response(204)
@blp.errors(400, 401, (429, CODE_ATTEMPTS), 503)
def password_reset(body):
    """Set a new password with a recovery code; every older token is revoked."""
    count_code_attempt(f"email:{body['email']}")
    service.reset_password(body["email"], body["token"], body["password"])


@blp.route("/google/url")
@blp.rate_limited(PUBLIC)
@blp.arguments(GoogleUrlQuerySchema, location="query")
@blp.response(200, UrlSchema)
@blp.errors(400, 503)
def google_url(query):
    """A Google sign-in link, to open in the browser that should end up signed in; the sign-in ends on
    /auth/callback or an allow-listed `redirect_to`."""
    return {"url": oauth.start(query.get("redirect_to"))}


def _html_page(description: str) -> dict:
    return {"description": f"HTML page: {description}",
            "content": {"text/html": {"schema": {"type": "string"}}}}


@blp.route("/google/start")
@blp.rate_limited(PUBLIC)
@blp.doc(responses={"302": {"description": "On to Google (through Supabase Auth), with the cookie that binds "
                                           "the sign-in to this browser"},
                    "400": _html_page("the link has expired or was already opened")})
def google_start():
    """Open a sign-in link from /auth/google/url: binds the sign-in to this browser and goes on to Google."""
    flow = request.args.get("flow", "")
    try:
        authorize_url, cookie = oauth.bind(flow, request.cookies.get(oauth.browser_cookie(flow).name))
    except ApiError as exc:
        return callback_page.refused(exc, status=400)
    response = _no_store(redirect(authorize_url, 302))
    for path in cookie.paths:
        response.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, path=path, secure=cookie.secure,
                            httponly=True, samesite="Lax")
    return response


@blp.route("/callback")
@blp.rate_limited(PUBLIC)
@blp.doc(responses={
    "200": _html_page("who signed in, the tokens, their expiry, a call to /auth/me"),
    "302": {"description": "To the allow-listed redirect_to the sign-in was started with, the session in the "
                           "fragment"},
    "400": _html_page("the provider or Supabase reported an error (a cancelled consent), or a code that "
                      "cannot be Supabase's, in words"),
    "401": _html_page("an unknown, used or expired sign-in, a browser without the sign-in's cookie, or a "
                      "code Supabase refuses (INVALID_OTP), in words"),
    "503": _html_page("Supabase Auth or Postgres unavailable; try again shortly")})
def callback():
    """The page Google sign-in lands on: who signed in and the tokens, ready to copy and try."""
    args = request.args
    flow = args.get("flow", "")
    if args.get("error"):
        metrics.sign_in_failed("google", callback_page.provider_error_code(args["error"]))
        return callback_page.provider_failed(args["error"], args.get("error_code"),
                                             args.get("error_description"))
    code = args.get("code")
    if not code:
        return callback_page.waiting()
    if not _CODE.fullmatch(code):  # cannot be Supabase's: never sent there
        metrics.sign_in_failed("google", InvalidOtp.code)
        return callback_page.refused(InvalidOtp(oauth.EXPIRED), status=400)
    try:
        tokens, final_redirect = oauth.finish(code, flow, request.cookies.get(oauth.browser_cookie(flow).name))
    except ApiError as exc:
        metrics.sign_in_failed("google", exc.code)
        return callback_page.refused(exc)
    if not oauth.lands_here(final_redirect):
        return _forget_flow(_no_store(redirect(oauth.fragment_redirect(final_redirect, tokens), 302)), flow)
    return _forget_flow(callback_page.signed_in(tokens), flow)


def _no_store(response):
    response.headers.update(NO_STORE)
    return response


def _forget_flow(response, flow: str):
    """The flow is used up: its cookie goes too, wherever it was set."""
    cookie = oauth.browser_cookie(flow)
    for path in cookie.paths:
        response.delete_cookie(cookie.name, path=path, secure=cookie.secure, httponly=True, samesite="Lax")
    return response
