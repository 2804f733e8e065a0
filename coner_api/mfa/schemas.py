"""What the /auth/mfa routes accept and answer (docs/api.md, "Two-factor sign-in")."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields

from ..accounts.schemas import TokenResponseSchema
from ..schemas import Body, Text, Uuid


def _six_digits(code: str) -> None:
    # Supabase's TOTP codes are six digits (GoTrue mfa.go, verifyTOTPFactor: otp.DigitsSix).
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        raise ValidationError("Must be the 6-digit code from the authenticator app")


class EnrollSchema(Body):
    friendly_name = Text(100, metadata={"description": "a name for the factor, shown in GET /auth/mfa/factors"})


class VerifySchema(Body):
    factor_id = Uuid(required=True)
    code = fields.String(required=True, validate=_six_digits, metadata={"example": "482913",
                                                                         "pattern": "^[0-9]{6}$"})


class FactorIdPathSchema(Schema):
    factor_id = Uuid(required=True)


class EnrollmentSchema(Schema):
    factor_id = fields.UUID(required=True)
    type = fields.String(required=True, metadata={"example": "totp"})
    friendly_name = fields.String(required=True, allow_none=True)
    secret = fields.String(required=True, metadata={"description": "base32, for typing into the app by hand"})
    uri = fields.String(required=True, metadata={"example": "otpauth://totp/Coner:mai@example.com?..."})
    qr_code = fields.String(required=True,
                            metadata={"description": "the uri as a QR code: data:image/png;base64,..."})


class FactorSchema(Schema):
    id = fields.UUID(required=True)
    type = fields.String(required=True, metadata={"example": "totp"})
    friendly_name = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, metadata={"description": "verified or unverified"})
    created_at = fields.String(required=True, allow_none=True)


class FactorListSchema(Schema):
    factors = fields.List(fields.Nested(FactorSchema), required=True)


class MfaSessionSchema(TokenResponseSchema):
    """The sign-in answer's shape (its tokens are aal2, so it never has `mfa_required`)."""
