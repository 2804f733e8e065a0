"""What the account lifecycle routes accept and answer (docs/api.md, "Account lifecycle"), the data export's
document included."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

from ..profiles.schemas import LegacyProfileSchema, ProfileSchema
from ..schemas import Body, EmailField, Token, UtcDateTime, password_rules
from ..supabase_client.account import SAME_PASSWORD

PASSWORD_DOC = {"description": "8 characters to 72 bytes (UTF-8), checked exactly as sent"}


# ---------------------------------------------------------------------------------------------- requests
class PasswordChangeSchema(Body):
    current_password = fields.String(required=True, validate=password_rules, metadata=PASSWORD_DOC)
    new_password = fields.String(required=True, validate=password_rules, metadata=PASSWORD_DOC)

    @validates_schema
    def a_new_password(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("current_password") == data.get("new_password"):
            raise ValidationError(SAME_PASSWORD, "new_password")


class EmailChangeSchema(Body):
    new_email = EmailField()


class EmailChangeVerifySchema(Body):
    email = EmailField(metadata={"description": "the address the code was sent to"})
    token = Token(128, required=True)  # the code from that e-mail


class AccountDeletionSchema(Body):
    """The body is optional: an account without a password sends none (or `{}`)."""

    password = fields.String(validate=password_rules,
                             metadata={"description": "the account's password; required when it has one"})


# ------------------------------------------------------------------------------------- the data export
class IdentityExportSchema(Schema):
    identity_id = fields.String(required=True)
    id = fields.String(required=True, metadata={"description": "the user's id at the provider"})
    user_id = fields.String(required=True)
    provider = fields.String(required=True, metadata={"example": "google"})
    identity_data = fields.Dict(required=True, metadata={"description": "what the provider reported"})
    created_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    last_sign_in_at = fields.String(allow_none=True)


class FactorExportSchema(Schema):
    id = fields.String(required=True)
    friendly_name = fields.String(allow_none=True)
    factor_type = fields.String(required=True)
    status = fields.String(required=True)
    phone = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)


def _passed_through(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, **kwargs)


class AccountExportSchema(Schema):
    """Supabase Auth's user object (timestamps as Supabase gives them: microseconds and a Z)."""

    id = fields.String(required=True)
    aud = _passed_through()
    role = _passed_through()
    email = _passed_through()
    phone = _passed_through()
    new_email = _passed_through(metadata={"description": "an e-mail change waiting for its confirmation"})
    new_phone = _passed_through()
    created_at = _passed_through()
    updated_at = _passed_through()
    confirmed_at = _passed_through()
    email_confirmed_at = _passed_through()
    phone_confirmed_at = _passed_through()
    last_sign_in_at = _passed_through()
    invited_at = _passed_through()
    confirmation_sent_at = _passed_through()
    recovery_sent_at = _passed_through()
    email_change_sent_at = _passed_through()
    banned_until = _passed_through()
    deleted_at = _passed_through()
    is_anonymous = fields.Boolean(allow_none=True)
    is_sso_user = fields.Boolean(allow_none=True)
    roles = fields.List(fields.String(), required=True)
    app_metadata = fields.Dict(allow_none=True)
    user_metadata = fields.Dict(allow_none=True)
    identities = fields.List(fields.Nested(IdentityExportSchema), required=True)
    factors = fields.List(fields.Nested(FactorExportSchema), required=True)


class ProfileExportSchema(LegacyProfileSchema, ProfileSchema):
    """Every column of the profile row except `logout_at` (under `sessions`): the legacy and personal fields as
    the profile routes answer them, and the rest of the row, whose id column is `user_id`."""

    class Meta:
        exclude = ("id",)

    user_id = fields.UUID(required=True)
    is_email_verified = fields.Boolean(required=True)
    profile_initialized_at = UtcDateTime(allow_none=True)


class RevokedSessionSchema(Schema):
    session_id = fields.UUID(required=True)
    revoked_at = UtcDateTime(required=True)
    expires_at = UtcDateTime(required=True, metadata={"description": "when its last token expires"})


class SessionsExportSchema(Schema):
    logout_at = UtcDateTime(allow_none=True, metadata={"description": "the logout cutoff: tokens issued "
                                                                      "until then are refused"})
    revoked_sessions = fields.List(fields.Nested(RevokedSessionSchema), required=True)


class ExportSchema(Schema):
    exported_at = UtcDateTime(required=True)
    user_id = fields.UUID(required=True)
    account = fields.Nested(AccountExportSchema, required=True, allow_none=True,
                            metadata={"description": "null when Supabase Auth no longer has the user"})
    profile = fields.Nested(ProfileExportSchema, required=True, allow_none=True,
                            metadata={"description": "null when the user has no profile row"})
    sessions = fields.Nested(SessionsExportSchema, required=True)
