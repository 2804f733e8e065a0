"""The account lifecycle routes: change the password, change the e-mail address, delete the account, export
its data (docs/api.md, "Account lifecycle"). The paths sit beside the routes they belong with (/auth,
/users); the flows are in `service` and `export`.

Rate limits (decided here, where the issue is silent): the routes that check a password or a code, or make
Supabase send mail, count against the credentials budget per client IP, shared with sign-in, as the issue
asks, rather than per user as other routes behind a token do: a stolen token must not buy more password
guesses than sign-in gives. The limiter takes one group a route; Supabase's own per-IP limits on sign-in
and PUT /user count these calls too. The export, which checks nothing, is protected (per user).
"""
from __future__ import annotations

from typing import Any

from ..accounts.schemas import MessageSchema, TokenResponseSchema
from ..blueprint import BEARER, NO_STORE, Blueprint
from ..rate_limits import CODE_ATTEMPTS, CREDENTIALS, count_code_attempt
from ..sessions.guard import auth_required, current_token, current_user
from . import export, service
from .schemas import (AccountDeletionSchema, EmailChangeSchema, EmailChangeVerifySchema, ExportSchema,
                      PasswordChangeSchema)

blp = Blueprint("account", __name__, description="The signed-in user's own account: password, e-mail "
                                                 "address, deletion, data export")

EMAIL_CHANGE_REQUESTED = {"message": "If the new address can be used, confirmation codes are on their way to "
                                     "it and to the current address"}
EMAIL_CHANGED = {"message": "Email address changed"}
EMAIL_HALF_CONFIRMED = {"message": "Confirmed; now confirm with the code sent to the other address"}
NO_TOKEN = (401, "Missing, invalid, expired or revoked token")
MFA = (403, "FORBIDDEN: the account has multi-factor authentication and the session is not verified with it")
DOWNLOAD = {"Content-Disposition": {"description": 'attachment; filename="coner-export-<user id>.json"',
                                    "schema": {"type": "string"}},
            "Cache-Control": {"description": "no-store", "schema": {"type": "string"}}}


@blp.route("/auth/password/change", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@auth_required
@blp.arguments(PasswordChangeSchema)
@blp.response(200, TokenResponseSchema)
@blp.errors((400, "VALIDATION_FAILED, or INVALID_CREDENTIALS for a wrong current password"), NO_TOKEN, MFA,
            503)
@blp.doc(security=BEARER)
def change_password(body: dict[str, Any]):
    """Change the password; every other session and every older token is refused, and the caller gets a
    new session."""
    tokens = service.change_password(current_user(), current_token(), body["current_password"],
                                     body["new_password"])
    return tokens.answer(), 200, NO_STORE


@blp.route("/auth/email/change", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@auth_required
@blp.arguments(EmailChangeSchema)
@blp.response(202, MessageSchema)
@blp.errors(400, NO_TOKEN, MFA, 503)
@blp.doc(security=BEARER)
def change_email(body: dict[str, Any]):
    """Ask to change the e-mail address: codes go to the new and the current address (the same answer
    whether or not the new one is free)."""
    service.request_email_change(current_token(), body["new_email"])
    return EMAIL_CHANGE_REQUESTED


@blp.route("/auth/email/verify", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@blp.arguments(EmailChangeVerifySchema)
@blp.response(200, MessageSchema, description="The change is complete")
@blp.alt_response(202, schema=MessageSchema, description="Confirmed; the other address's code is awaited")
@blp.errors(400, (401, "INVALID_OTP: a wrong or expired code"), (429, CODE_ATTEMPTS), 503)
def verify_email_change(body: dict[str, Any]):
    """Confirm an e-mail change with a code from one of its e-mails."""
    count_code_attempt(f"email:{body['email']}")
    if service.confirm_email_change(body["email"], body["token"]):
        return EMAIL_CHANGED
    return EMAIL_HALF_CONFIRMED, 202


@blp.route("/users/me", methods=["DELETE"])
@blp.rate_limited(CREDENTIALS)
@auth_required
@blp.arguments(AccountDeletionSchema, required=False)
@blp.response(204)
@blp.errors((400, "VALIDATION_FAILED, or INVALID_CREDENTIALS for a wrong password"), NO_TOKEN,
            (403, "REAUTHENTICATION_REQUIRED: an account without a password needs a sign-in at most 5 "
                  "minutes old"), 503)
@blp.doc(security=BEARER)
def delete_account(body: dict[str, Any]):
    """Delete your account: gone from Supabase, every token refused, the profile kept but cleared."""
    service.delete_account(current_user(), body.get("password"))


@blp.route("/users/me/export", methods=["GET"])
@auth_required
@blp.response(200, ExportSchema, headers=DOWNLOAD)
@blp.errors(NO_TOKEN, 503)
@blp.doc(security=BEARER)
def export_data():
    """Everything Supabase Auth and this API hold about you, as a JSON file to download."""
    claims = current_user()
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{export.filename(claims)}"'}
    return export.export(claims), 200, headers
