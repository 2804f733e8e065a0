"""What the /auth routes accept and answer (docs/api.md, "Accounts")."""
from __future__ import annotations

from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate

from ..schemas import Body, EmailField, Text, Token, password_rules


class SignUpSchema(Body):
    email = EmailField()
    password = fields.String(required=True, validate=password_rules)
    displayName = Text(100)  # noqa: N815 - the contract's name


class SignInSchema(Body):
    email = EmailField()
    password = fields.String(required=True, validate=password_rules)


class RefreshSchema(Body):
    refresh_token = Token(512, required=True)


class EmailOnlySchema(Body):
    email = EmailField()


class VerifyEmailSchema(Body):
    email = EmailField()
    token = Token(128, required=True)


class PasswordResetSchema(Body):
    email = EmailField()
    token = Token(128, required=True)
    password = fields.String(required=True, validate=password_rules)


class GoogleUrlQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    redirect_to = fields.String(validate=validate.Length(min=1, max=2048))


class SignUpResponseSchema(Schema):
    userId = fields.UUID(required=True)  # noqa: N815 - the contract's name


class TokenResponseSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    expires_at = fields.Integer(required=True)
    token_type = fields.String(required=True, metadata={"example": "bearer"})
    mfa_required = fields.Boolean(metadata={"description": "present (true) when the user has a verified second "
                                                           "factor and this session has not used it yet: verify "
                                                           "a code with POST /auth/mfa/verify"})


class MeUserSchema(Schema):
    class Meta:
        # The contract: extra keys "may be added". Documented as allowed (additionalProperties: true), so a
        # client generated from the OpenAPI document does not refuse the next one.
        unknown = INCLUDE

    id = fields.UUID(required=True)
    email = fields.String(required=True, allow_none=True)  # null for a token without an e-mail
    roles = fields.List(fields.String())
    aal = fields.String(metadata={"example": "aal1", "description": "aal2 once a second factor was verified"})


class MeSchema(Schema):
    ok = fields.Boolean(required=True)
    user = fields.Nested(MeUserSchema, required=True)


class OkSchema(Schema):
    ok = fields.Boolean(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True)


class UrlSchema(Schema):
    url = fields.String(required=True)
