"""What the /dev/auth routes accept and answer (docs/api.md, "Development routes")."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..accounts.schemas import TokenResponseSchema
from ..schemas import Body, EmailField, Uuid, max_password_bytes

DEFAULT_EMAIL = "test@coner.dev"
DEFAULT_PASSWORD = "TestPassword123!"
DEFAULT_FULL_NAME = "Test User"
MAX_BATCH = 20


class DevTokenRequestSchema(Body):
    email = EmailField(required=False, load_default=DEFAULT_EMAIL)
    password = fields.String(load_default=DEFAULT_PASSWORD, validate=[validate.Length(min=1), max_password_bytes],
                             metadata={"minLength": 1, "maxLength": 72})
    metadata = fields.Dict(keys=fields.String(), load_default=lambda: {"full_name": DEFAULT_FULL_NAME},
                           metadata={"description": "user_metadata for a newly created user"})


class DevBatchRequestSchema(Body):
    count = fields.Integer(strict=True, load_default=5, validate=validate.Range(min=1, max=MAX_BATCH),
                           metadata={"description": "1 to 20, default 5"})


class DevUserIdPathSchema(Schema):
    user_id = Uuid(required=True)


class DevUserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    user_metadata = fields.Dict(required=True)


class DevTokenSchema(TokenResponseSchema):
    """The session fields of /auth/signin plus the contract's `user`."""

    user = fields.Nested(DevUserSchema, required=True)


class DevTokenResponseSchema(Schema):
    success = fields.Boolean(required=True)
    data = fields.Nested(DevTokenSchema, required=True)
    message = fields.String(required=True)


class DevBatchResponseSchema(Schema):
    success = fields.Boolean(required=True)
    data = fields.List(fields.Nested(DevTokenSchema), required=True)
    message = fields.String(required=True)


class DevDeleteResponseSchema(Schema):
    success = fields.Boolean(required=True)
    message = fields.String(required=True)
