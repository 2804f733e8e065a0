"""The /auth routes: parse, call one account flow, shape the answer."""
from __future__ import annotations

import secrets

from flask import jsonify, make_response, redirect, render_template, request

from . import accounts, oauth
from .errors import ApiError
from .guard import auth_required, current_token, current_user
from .blueprint import Blueprint
from .schemas import (EmailOnlySchema, GoogleUrlQuerySchema, MeSchema, MessageSchema, OkSchema,
                      PasswordResetSchema, RefreshSchema, SignInSchema, SignUpResponseSchema, SignUpSchema,
                      TokenResponseSchema, UrlSchema, VerifyEmailSchema, error_responses)
from .supabase_auth import TokenSet

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sign-up, sessions, e-mail and passwords")

# RFC 6749 §5.1: responses carrying tokens must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BEARER = [{"bearerAuth": []}]
ACCEPTED = {"message": "If the address can receive it, an e-mail is on its way"}


def _token_body(tokens: TokenSet) -> dict:
    return {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
            "expires_in": tokens.expires_in, "expires_at": tokens.expires_at, "token_type": tokens.token_type}


@blp.route("/signup", methods=["POST"])
@blp.arguments(SignUpSchema)
@blp.response(201, SignUpResponseSchema)
@error_responses(blp, 400, 429, 503)
def signup(body):
    """Create an account (and its profile row)."""
    return {"userId": accounts.sign_up(body["email"], body["password"], body.get("displayName"))}


@blp.route("/signin", methods=["POST"])
@blp.arguments(SignInSchema)
@blp.response(200, TokenResponseSchema)
@error_responses(blp, 400, 403, 429, 503)
def signin(body):
    """Sign in with e-mail and password."""
    return _token_body(accounts.sign_in(body["email"], body["password"])), 200, NO_STORE


@blp.route("/refresh", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(200, TokenResponseSchema)
@error_responses(blp, 400, 401, 403, 429, 503)
def refresh(body):
    """Trade a refresh token for a new session (the refresh token rotates)."""
    return _token_body(accounts.refresh(body["refresh_token"])), 200, NO_STORE


@blp.route("/logout", methods=["POST"])
@blp.doc(security=BEARER)
@blp.response(204)
@error_responses(blp, 401, 503)
@auth_required
def logout():
    """End this session: its refresh token in Supabase, its access tokens here."""
    accounts.logout(current_user(), current_token())


@blp.route("/logout-all", methods=["POST"])
@blp.doc(security=BEARER)
@blp.response(204)
@error_responses(blp, 401, 503)
@auth_required
def logout_all():
    """End every session of this user, on every device, at once."""
    accounts.logout_everywhere(current_user(), current_token())


@blp.route("/me")
@blp.doc(security=BEARER)
@blp.built_response(200, MeSchema)
@error_responses(blp, 401, 503)
@auth_required
def me():
    """The signed-in user."""
    # Built to MeSchema's shape directly (the hot path; test_openapi and the fuzz run check the shape).
    return jsonify(accounts.me(current_user()))


@blp.route("/bootstrap", methods=["POST"])
@blp.doc(security=BEARER)
@blp.response(200, OkSchema)
@error_responses(blp, 401, 503)
@auth_required
def bootstrap():
    """Create the user's profile row if it is missing (idempotent)."""
    accounts.bootstrap(current_user())
    return {"ok": True}


@blp.route("/verify-email", methods=["POST"])
@blp.arguments(VerifyEmailSchema)
@blp.response(200, MessageSchema)
@error_responses(blp, 400, 401, 429, 503)
def verify_email(body):
    """Confirm an e-mail address with the code from the confirmation e-mail."""
    accounts.verify_email(body["email"], body["token"])
    return {"message": "Email verified successfully"}


@blp.route("/resend-verification", methods=["POST"])
@blp.arguments(EmailOnlySchema)
@blp.response(202, MessageSchema)
@error_responses(blp, 400, 429, 503)
def resend_verification(body):
    """Send the confirmation e-mail again (same answer whether or not the address is registered)."""
    accounts.resend_verification(body["email"])
    return ACCEPTED


@blp.route("/password/forgot", methods=["POST"])
@blp.arguments(EmailOnlySchema)
@blp.response(202, MessageSchema)
@error_responses(blp, 400, 429, 503)
def password_forgot(body):
    """Send a password-recovery code (same answer whether or not the address is registered)."""
    accounts.forgot_password(body["email"])
    return ACCEPTED


@blp.route("/password/reset", methods=["POST"])
@blp.arguments(PasswordResetSchema)
@blp.response(204)
@error_responses(blp, 400, 401, 429, 503)
def password_reset(body):
    """Set a new password with a recovery code; every older token is revoked."""
    accounts.reset_password(body["email"], body["token"], body["password"])


@blp.route("/google/url")
@blp.arguments(GoogleUrlQuerySchema, location="query")
@blp.response(200, UrlSchema)
@error_responses(blp, 400, 503)
def google_url(query):
    """A Google sign-in URL (PKCE) that ends on /auth/callback or an allow-listed `redirect_to`."""
    return {"url": oauth.start(query.get("redirect_to"))}


@blp.route("/callback")
@blp.doc(responses={"200": {"description": "HTML page showing the access token",
                            "content": {"text/html": {"schema": {"type": "string"}}}}})
def callback():
    """The page Google sign-in lands on: shows the access token, ready to copy."""
    args = request.args
    context = {"access_token": None, "expires_in": None, "error": None}
    status = 200
    if args.get("error"):
        context["error"], status = args.get("error_description") or args.get("error"), 400
    elif args.get("code"):
        try:
            tokens, final_redirect = oauth.finish(args["code"], args.get("flow", ""))
        except ApiError as exc:
            context["error"], status = exc.message, exc.status
        else:
            if not oauth.lands_here(final_redirect):
                return _no_store(redirect(oauth.fragment_redirect(final_redirect, tokens), 302))
            context.update(access_token=tokens.access_token, expires_in=tokens.expires_in)
    return _page(context, status)


def _page(context: dict, status: int):
    nonce = secrets.token_urlsafe(16)
    response = make_response(render_template("callback.html", nonce=nonce, **context), status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    return _no_store(response)


def _no_store(response):
    response.headers.update(NO_STORE)
    return response
