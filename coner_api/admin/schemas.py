"""What the /admin routes accept and answer (docs/api.md, "Admin")."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from ..profiles.schemas import LegacyProfileSchema, ProfileSchema
from ..schemas import (Body, EmailField, NonEmptyBody, QueryInteger, StrictBoolean, Text, UtcDateTime, Uuid,
                       password_rules)
from ..sessions.roles import ROLES

MAX_PAGE = 1_000_000


def _roles_field(description: str = "replaces the user's roles") -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(ROLES)), validate=validate.Length(max=10),
                       metadata={"example": ["user"], "description": description})


class PageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = QueryInteger(load_default=20, validate=validate.Range(min=1, max=100))


class UserIdPathSchema(Schema):
    user_id = Uuid(required=True)


class CreateUserSchema(Body):
    email = EmailField()
    password = fields.String(required=True, validate=password_rules,
                             metadata={"description": "8 characters to 72 bytes (UTF-8)"})
    displayName = Text(100)  # noqa: N815 - as in signup
    roles = _roles_field('default ["user"]; admin roles need a super_admin')


class UpdateUserSchema(NonEmptyBody):
    """At least one of `roles` and `is_active`."""

    roles = _roles_field()
    is_active = StrictBoolean(metadata={"description": "false suspends the account, true reactivates it"})


class AdminProfileSchema(LegacyProfileSchema, ProfileSchema):
    is_email_verified = fields.Boolean(required=True)
    profile_initialized_at = UtcDateTime(allow_none=True)


class AdminUserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    email_confirmed = fields.Boolean(required=True)
    roles = fields.List(fields.String(), required=True)
    is_active = fields.Boolean(required=True, metadata={"description": "false while suspended"})
    banned_until = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    last_sign_in_at = fields.String(allow_none=True)
    profile = fields.Nested(AdminProfileSchema, allow_none=True, required=True,
                            metadata={"description": "null until the user has a profile row"})


class UserPageSchema(Schema):
    users = fields.List(fields.Nested(AdminUserSchema), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
