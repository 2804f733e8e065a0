"""Marshmallow schemas: what every route accepts and returns; the OpenAPI document is built from them."""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    db = fields.Boolean(required=True)
    redis = fields.String(required=True, metadata={"description": '"ok", "disabled" or "error"'})


class HealthErrorSchema(Schema):
    status = fields.String(required=True, metadata={"example": "error"})
    error = fields.String(required=True)
    code = fields.String(required=True)


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"description": '"ready" or "not_ready"'})
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                           metadata={"description": 'database, auth, redis: "ok", "disabled" or an error'})
    error = fields.String(metadata={"description": "present when not ready"})
    code = fields.String(metadata={"description": "present when not ready"})


class AuthHealthSchema(Schema):
    ok = fields.Boolean(required=True)
    service = fields.String(required=True, metadata={"example": "auth"})


# ------------------------------------------------------------------------------------------------ auth
MAX_PASSWORD_BYTES = 72  # bcrypt's limit, enforced by Supabase Auth too


def _password_rules(value: str) -> None:
    # Checked as received: never trimmed or truncated (ASVS 6.2.8), counted in UTF-8 bytes like bcrypt.
    if len(value) < 8:
        raise ValidationError("Password must be at least 8 characters long")
    if len(value.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValidationError("Password must be at most 72 bytes (UTF-8)")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class EmailField(fields.Email):
    default_error_messages = {"invalid": "Please provide a valid email address"}

    def __init__(self, **kwargs):
        super().__init__(required=True, validate=validate.Length(max=254), **kwargs)


class SignUpSchema(StrictSchema):
    email = EmailField()
    password = fields.String(required=True, validate=_password_rules)
    displayName = fields.String(validate=validate.Length(min=1, max=100))  # noqa: N815 - 000's name


class SignInSchema(StrictSchema):
    email = EmailField()
    password = fields.String(required=True, validate=_password_rules)


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=512))


class EmailOnlySchema(StrictSchema):
    email = EmailField()


class VerifyEmailSchema(StrictSchema):
    email = EmailField()
    token = fields.String(required=True, validate=validate.Length(min=1, max=128))


class PasswordResetSchema(StrictSchema):
    email = EmailField()
    token = fields.String(required=True, validate=validate.Length(min=1, max=128))
    password = fields.String(required=True, validate=_password_rules)


class GoogleUrlQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    redirect_to = fields.String(validate=validate.Length(min=1, max=2048))


class SignUpResponseSchema(Schema):
    userId = fields.UUID(required=True)  # noqa: N815 - 000's name


class TokenResponseSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    expires_at = fields.Integer(required=True)
    token_type = fields.String(required=True, metadata={"example": "bearer"})


class MeUserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    roles = fields.List(fields.String())


class MeSchema(Schema):
    ok = fields.Boolean(required=True)
    user = fields.Nested(MeUserSchema, required=True)


class OkSchema(Schema):
    ok = fields.Boolean(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True)


class UrlSchema(Schema):
    url = fields.String(required=True)


class ErrorSchema(Schema):
    error = fields.String(required=True)
    code = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    request_id = fields.String()


ERROR_DESCRIPTIONS = {
    400: "Invalid input (VALIDATION_FAILED with details) or a rule of the operation refused it",
    401: "Missing, invalid, expired or revoked token (UNAUTHORIZED, TOKEN_EXPIRED, SESSION_REVOKED, ...)",
    403: "Not allowed (FORBIDDEN, EMAIL_NOT_CONFIRMED, ACCOUNT_SUSPENDED)",
    404: "Not found (NOT_FOUND)",
    409: "Conflict with the current state (CONFLICT)",
    429: "Rate limit reached (RATE_LIMITED); see Retry-After",
    503: "Supabase Auth or Postgres unavailable (AUTH_UNAVAILABLE, DB_UNAVAILABLE)",
}


def error_responses(blp, *statuses: int):
    """Document the error answers a route can give, all in the one error shape."""

    def decorate(view):
        for status in statuses:
            view = blp.alt_response(status, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[status])(view)
        return view

    return decorate
