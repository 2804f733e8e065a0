"""The /admin routes (002, and 000's admin deletion): user listing, creation, roles, suspension, deletion.

Only callers whose token carries the admin or super_admin role (`app_metadata.roles`) get past the guard;
DELETE needs super_admin. Roles are read from the token, so a role change applies from the user's next
token. Who may change whom is decided in `admin_users`.

Decisions where the sources are silent:
- A malformed user id is a 400 VALIDATION_FAILED (as in /dev/auth/user/<id>); a well-formed unknown one is
  a 404 NOT_FOUND. A user deleted here is unknown from then on (a second DELETE is a 404).
- `page` runs from 1 to 1,000,000 (default 1), `per_page` from 1 to 100 (default 20); other query
  parameters are ignored. A page past the last one is an empty list with the same `total`.
- `roles` is a list of `user`, `admin`, `super_admin`; repeats are dropped and the stored order is by rank.
  A created user gets ["user"] unless `roles` says otherwise (an empty list means no role).
- `is_active` is the absence of a ban in Supabase: false suspends (ban for 100 years, every token refused
  at once), true lifts the ban. A suspended user signing in gets 403 ACCOUNT_SUSPENDED.
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from . import admin_users
from .guard import ROLES, current_user, roles_required
from .blueprint import Blueprint
from .profile_schemas import Body, LegacyProfileSchema, NonEmptyBody, ProfileSchema, UtcDateTime
from .schemas import EmailField, _password_rules, error_responses

blp = Blueprint("admin", __name__, url_prefix="/admin",
                description="User management for admins; roles come from the token's app_metadata.roles "
                            "and apply from the user's next token")

BEARER = [{"bearerAuth": []}]
MAX_PAGE = 1_000_000


# ------------------------------------------------------------------------------------------ schemas
def _roles_field(description: str = "replaces the user's roles") -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(ROLES)), validate=validate.Length(max=10),
                       metadata={"example": ["user"], "description": description})


class PageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class UserIdPathSchema(Schema):
    user_id = fields.UUID(required=True)


class CreateUserSchema(Body):
    email = EmailField()
    password = fields.String(required=True, validate=_password_rules,
                             metadata={"description": "8 characters to 72 bytes (UTF-8)"})
    displayName = fields.String(validate=validate.Length(min=1, max=100))  # noqa: N815 - as in signup
    roles = _roles_field('default ["user"]; admin roles need a super_admin')


class UpdateUserSchema(NonEmptyBody):
    """At least one of `roles` and `is_active`."""

    roles = _roles_field()
    is_active = fields.Boolean(truthy={True}, falsy={False},
                               metadata={"description": "false suspends the account, true reactivates it"})


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


# ------------------------------------------------------------------------------------------- routes
@blp.route("/users", methods=["GET"])
@roles_required("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, UserPageSchema)
@error_responses(blp, 400, 401, 403, 503)
@blp.doc(security=BEARER)
def list_users(query: dict[str, Any]):
    """List users, newest first (admin)."""
    return admin_users.list_users(query["page"], query["per_page"])


@blp.route("/users", methods=["POST"])
@roles_required("admin")
@blp.arguments(CreateUserSchema)
@blp.response(201, AdminUserSchema)
@error_responses(blp, 400, 401, 403, 503)
@blp.doc(security=BEARER)
def create_user(body: dict[str, Any]):
    """Create a confirmed user and its profile (admin; admin roles need a super_admin)."""
    return admin_users.create_user(current_user(), body["email"], body["password"], body.get("displayName"),
                                   body.get("roles"))


@blp.route("/users/<user_id>", methods=["GET"])
@roles_required("admin")
@blp.arguments(UserIdPathSchema, location="path")
@blp.response(200, AdminUserSchema)
@error_responses(blp, 400, 401, 403, 404, 503)
@blp.doc(security=BEARER)
def get_user(path: dict[str, Any], user_id: str):
    """Get a user with profile and roles (admin)."""
    return admin_users.get_user(str(path["user_id"]))


@blp.route("/users/<user_id>", methods=["PATCH"])
@roles_required("admin")
@blp.arguments(UserIdPathSchema, location="path")
@blp.arguments(UpdateUserSchema)
@blp.response(200, AdminUserSchema)
@error_responses(blp, 400, 401, 403, 404, 409, 503)
@blp.doc(security=BEARER)
def update_user(path: dict[str, Any], body: dict[str, Any], user_id: str):
    """Change roles (from the user's next token) or suspend / reactivate a user (admin).

    `is_active: false` bans the user in Supabase and refuses every token already issued, at once, on
    every worker. Only a super_admin may change an admin or super_admin account or grant those roles;
    nobody may suspend themselves or remove their own admin role (409)."""
    return admin_users.update_user(current_user(), str(path["user_id"]), body)


@blp.route("/users/<user_id>", methods=["DELETE"])
@roles_required("super_admin")
@blp.arguments(UserIdPathSchema, location="path")
@blp.response(204)
@error_responses(blp, 400, 401, 403, 404, 409, 503)
@blp.doc(security=BEARER)
def delete_user(path: dict[str, Any], user_id: str):
    """Delete a user (super_admin): gone from Supabase, every token refused, profile kept but cleared.

    Deleting yourself is refused (409)."""
    admin_users.delete_user(current_user(), str(path["user_id"]))
