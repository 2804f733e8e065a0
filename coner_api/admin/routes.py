"""The /admin routes: user listing, creation, roles, suspension, deletion (docs/api.md, "Admin").

Only callers whose token carries the admin or super_admin role (`app_metadata.roles`) get past the guard;
DELETE needs super_admin. Roles are read from the token, so a role change applies from the user's next
token. Who may change whom is decided in `service`.

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

from ..blueprint import BEARER, Blueprint
from ..sessions.guard import current_user, roles_required
from . import service
from .schemas import (AdminUserSchema, CreateUserSchema, PageQuerySchema, UpdateUserSchema, UserIdPathSchema,
                      UserPageSchema)

blp = Blueprint("admin", __name__, url_prefix="/admin",
                description="User management for admins; roles come from the token's app_metadata.roles "
                            "and apply from the user's next token")


@blp.route("/users", methods=["GET"])
@roles_required("admin")
@blp.arguments(PageQuerySchema, location="query")
@blp.response(200, UserPageSchema)
@blp.errors(400, 401, 403, 503)
@blp.doc(security=BEARER)
def list_users(query: dict[str, Any]):
    """List users, newest first (admin)."""
    return service.list_users(query["page"], query["per_page"])


@blp.route("/users", methods=["POST"])
@roles_required("admin")
@blp.arguments(CreateUserSchema)
@blp.response(201, AdminUserSchema)
@blp.errors(400, 401, 403, 503)
@blp.doc(security=BEARER)
def create_user(body: dict[str, Any]):
    """Create a confirmed user and its profile (admin; admin roles need a super_admin)."""
    return service.create_user(current_user(), body["email"], body["password"], body.get("displayName"),
                                   body.get("roles"))


@blp.route("/users/<user_id>", methods=["GET"])
@roles_required("admin")
@blp.arguments(UserIdPathSchema, location="path")
@blp.response(200, AdminUserSchema)
@blp.errors(400, 401, 403, 404, 503)
@blp.doc(security=BEARER)
def get_user(path: dict[str, Any], user_id: str):
    """Get a user with profile and roles (admin)."""
    return service.get_user(str(path["user_id"]))


@blp.route("/users/<user_id>", methods=["PATCH"])
@roles_required("admin")
@blp.arguments(UserIdPathSchema, location="path")
@blp.arguments(UpdateUserSchema)
@blp.response(200, AdminUserSchema)
@blp.errors(400, 401, 403, 404, 409, 503)
@blp.doc(security=BEARER)
def update_user(path: dict[str, Any], body: dict[str, Any], user_id: str):
    """Change roles (from the user's next token) or suspend / reactivate a user (admin).

    `is_active: false` bans the user in Supabase and refuses every token already issued, at once, on
    every worker. Only a super_admin may change an admin or super_admin account or grant those roles;
    nobody may suspend themselves or remove their own admin role (409)."""
    return service.update_user(current_user(), str(path["user_id"]), body)


@blp.route("/users/<user_id>", methods=["DELETE"])
@roles_required("super_admin")
@blp.arguments(UserIdPathSchema, location="path")
@blp.response(204)
@blp.errors(400, 401, 403, 404, 409, 503)
@blp.doc(security=BEARER)
def delete_user(path: dict[str, Any], user_id: str):
    """Delete a user (super_admin): gone from Supabase, every token refused, profile kept but cleared.

    Deleting yourself is refused (409)."""
    service.delete_user(current_user(), str(path["user_id"]))
