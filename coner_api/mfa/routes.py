"""The /auth/mfa routes: enrol a TOTP factor, verify a code, list and remove factors (docs/api.md, "Two-factor
sign-in").

A user who still has to verify a code (an aal1 token, a verified factor) may call all of them: they are how
such a user gets to aal2. Removing a verified factor takes aal2 (`service.unenroll`).
"""
from __future__ import annotations

from typing import Any

from ..blueprint import BEARER, NO_STORE, Blueprint
from ..rate_limits import CODE_ATTEMPTS, CREDENTIALS, count_code_attempt
from ..sessions.guard import auth_required_aal1, current_token, current_user
from . import service
from .schemas import (EnrollmentSchema, EnrollSchema, FactorIdPathSchema, FactorListSchema, MfaSessionSchema,
                      VerifySchema)

blp = Blueprint("mfa", __name__, url_prefix="/auth/mfa",
                description="Two-factor sign-in with an authenticator app (TOTP); factors live in Supabase Auth")

MFA_REQUIRED = (403, "MFA_REQUIRED: adding a factor next to a verified one, or removing a verified one, takes "
                     "an aal2 token")
NO_FACTOR = (404, "No factor with this id among the caller's (NOT_FOUND)")


@blp.route("/enroll", methods=["POST"])
@auth_required_aal1
@blp.arguments(EnrollSchema, required=False)
@blp.response(201, EnrollmentSchema)
@blp.errors(400, 401, MFA_REQUIRED, (409, "The factor limit or a factor of the same name (CONFLICT)"), 503)
@blp.doc(security=BEARER)
def enroll(body: dict[str, Any]):
    """Start enrolling an authenticator app: its secret, otpauth:// URI and QR code. Verify a first code to
    finish."""
    return service.enroll(current_user(), current_token(), body.get("friendly_name")), 201, NO_STORE


@blp.route("/verify", methods=["POST"])
@blp.rate_limited(CREDENTIALS)
@auth_required_aal1
@blp.arguments(VerifySchema)
@blp.response(200, MfaSessionSchema)
@blp.errors(400, (401, "Token refused, or a wrong, expired or already used code (INVALID_OTP)"), NO_FACTOR,
            (429, CODE_ATTEMPTS), 503)
@blp.doc(security=BEARER)
def verify(body: dict[str, Any]):
    """Verify a code from the authenticator app: a new aal2 session, in the sign-in answer's shape."""
    count_code_attempt(f"user:{current_user().user_id}")
    tokens = service.verify(current_user(), current_token(), str(body["factor_id"]), body["code"])
    return tokens.answer(), 200, NO_STORE


@blp.route("/factors", methods=["GET"])
@auth_required_aal1
@blp.response(200, FactorListSchema)
@blp.errors(401, 503)
@blp.doc(security=BEARER)
def list_factors():
    """The caller's factors, verified or not."""
    return {"factors": service.list_factors(current_user(), current_token())}


@blp.route("/factors/<factor_id>", methods=["DELETE"])
@auth_required_aal1
@blp.arguments(FactorIdPathSchema, location="path")
@blp.response(204)
@blp.errors(400, 401, MFA_REQUIRED, NO_FACTOR, 503)
@blp.doc(security=BEARER)
def unenroll(path: dict[str, Any], factor_id: str):
    """Remove a factor. Removing a verified one takes aal2 and ends the user's other sessions."""
    service.unenroll(current_user(), current_token(), str(path["factor_id"]))
