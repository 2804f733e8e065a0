"""Admin user management behind the /admin routes and the grant-role / revoke-role commands.

Users live in Supabase Auth, their profiles and logout cutoffs here. Each flow orders its steps so that a
step that fails leaves a state the same request can be retried from.

Who may do what (the route checks that the caller is an admin; super_admin counts as admin):
- An admin manages plain users only: suspending, reactivating or changing the roles of an account that holds
  admin or super_admin, and granting either role, need a super_admin (403 FORBIDDEN).
- Nobody may suspend or delete themselves, or take away their own admin or super_admin role (409 CONFLICT).
- Roles apply from the user's next token. Taking admin or super_admin away also sets the user's logout
  cutoff, so tokens that still carry the old role are refused at once; a refresh gets one without it.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping

from ..accounts.service import one_creation_at_a_time
from ..errors import ApiError, Conflict, Forbidden, NotFound
from ..lifecycle import service as lifecycle
from ..profiles import service as profiles
from ..sessions import Claims, get_revocations
from ..sessions.roles import PRIVILEGED_ROLES, has_role, normalized_roles
from ..supabase_client.admin import get_supabase_admin
from ..supabase_client import AuthUser

log = logging.getLogger(__name__)

# A ban needs a Go duration and Go has no "forever": 100 years.
SUSPENSION = "876000h"
DEFAULT_ROLES = ("user",)


class UserNotFound(NotFound):
    message = "User not found"


# ------------------------------------------------------------------------------------------- reading
def list_users(page: int, per_page: int) -> dict[str, Any]:
    """One page of users, newest first, with their profiles; page and total come from one Supabase answer."""
    users, total = get_supabase_admin().list_users(page, per_page)
    rows = profiles.profiles_of(user.id for user in users)
    return {"users": [_present(user, rows.get(user.id)) for user in users],
            "page": page, "per_page": per_page, "total": total}


def get_user(user_id: str) -> dict[str, Any]:
    return _present(_auth_user(user_id), profiles.profiles_of([user_id]).get(user_id))


# ------------------------------------------------------------------------------------------- writing
def create_user(caller: Claims, email: str, password: str, display_name: str | None,
                roles: Iterable[str] | None) -> dict[str, Any]:
    """A confirmed user with its profile row (display_name, email); roles default to ["user"]."""
    roles = normalized_roles(DEFAULT_ROLES if roles is None else roles)
    if PRIVILEGED_ROLES & set(roles) and not has_role(caller, "super_admin"):
        raise Forbidden("Only a super_admin can grant the admin or super_admin role")
    admin = get_supabase_admin()
    with one_creation_at_a_time(email):  # as a sign-up: a second at once is told EMAIL_EXISTS
        user = admin.create_user(email, password, app_metadata={"roles": roles},
                                 user_metadata={"display_name": display_name} if display_name else {})
        try:
            profiles.create_profile(user.id, user.email, display_name, email_verified=True)
        except ApiError:
            # Undo, so that repeating the request works instead of answering EMAIL_EXISTS.
            try:
                admin.delete_user(user.id)
            except ApiError as exc:
                log.error("user %s created without its profile row and not removed: %s", user.id, exc.code)
            raise
    return _present(user, profiles.profiles_of([user.id]).get(user.id))


def update_user(caller: Claims, user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change roles and/or suspend (`is_active` false) or reactivate (true) a user.

    Suspension: end the user's Supabase sessions, ban (sign-in and refresh refused), then set the logout
    cutoff, which refuses every token issued until then on every worker before this returns. The cutoff
    comes last so that a token minted while the ban was being set is refused too; a session opened in that
    instant survives in Supabase, but cannot refresh while the ban lasts. Repeating the request after a
    failure redoes what is missing."""
    admin = get_supabase_admin()
    user = _auth_user(user_id)
    roles = normalized_roles(changes["roles"]) if "roles" in changes else None
    suspend = changes.get("is_active") is False
    _check_may_change(caller, user, roles, suspend)
    attributes: dict[str, Any] = {}
    if roles is not None:
        attributes["app_metadata"] = {"roles": roles}  # Supabase merges per key: the list is replaced
    if "is_active" in changes:
        attributes["ban_duration"] = "none" if changes["is_active"] else SUSPENSION
    if suspend:
        try:
            admin.end_sessions(user)
        except ApiError as exc:
            # Not fatal: the ban refuses these sessions' refreshes; an outage fails the ban below anyway.
            log.warning("could not end the Supabase sessions of %s: %s", user.id, exc.code)
    updated = admin.update_user(user.id, attributes)
    demoted = roles is not None and bool(PRIVILEGED_ROLES & set(user.roles) - set(roles))
    if suspend or demoted:
        get_revocations().logout_everywhere(user.id, user.email)
    return _present(updated, profiles.profiles_of([user.id]).get(user.id))


def delete_user(caller: Claims, user_id: str) -> None:
    """Delete the user in Supabase and keep its profile row, marked deleted with personal fields cleared,
    in the steps self-service deletion takes too (`lifecycle.service.erase`: the cutoff, the row, the
    Supabase delete, the cutoff again). The cutoff stays on the kept row, so the tokens stay refused although
    the user no longer exists in Supabase. If a step fails, repeating the request finishes the job: a user
    already gone from Supabase whose row is not marked yet is completed, not reported missing."""
    if user_id == caller.user_id:
        raise Conflict("You cannot delete your own account")
    in_supabase = True
    try:
        get_supabase_admin().get_user(user_id)
    except NotFound:
        if profiles.deletion_state(user_id) is not False:  # no row, or already marked deleted
            raise UserNotFound() from None
        in_supabase = False
    lifecycle.erase(user_id, in_supabase=in_supabase)


# ------------------------------------------------------------------------------ command-line tasks
def grant_role(email: str, role: str) -> AuthUser:
    """Add `role` to the user's app_metadata.roles (the first admin comes from here)."""
    user = _user_by_email(email)
    roles = normalized_roles([*user.roles, role])
    return get_supabase_admin().update_user(user.id, {"app_metadata": {"roles": roles}})


def revoke_role(email: str, role: str) -> AuthUser:
    """Remove `role`; taking admin or super_admin away also refuses the tokens that still carry it."""
    user = _user_by_email(email)
    roles = [r for r in normalized_roles(user.roles) if r != role]
    updated = get_supabase_admin().update_user(user.id, {"app_metadata": {"roles": roles}})
    if role in PRIVILEGED_ROLES and role in user.roles:
        get_revocations().logout_everywhere(user.id, user.email)
    return updated


# ------------------------------------------------------------------------------------------- helpers
def _check_may_change(caller: Claims, target: AuthUser, roles: list[str] | None, suspend: bool) -> None:
    held = PRIVILEGED_ROLES & set(target.roles)
    if target.id == caller.user_id:
        if suspend:
            raise Conflict("You cannot suspend your own account")
        if roles is not None and held - set(roles):
            raise Conflict("You cannot remove your own admin or super_admin role")
    if has_role(caller, "super_admin"):
        return
    if held:
        raise Forbidden("Only a super_admin can change an admin or super_admin account")
    if roles is not None and PRIVILEGED_ROLES & set(roles):
        raise Forbidden("Only a super_admin can grant the admin or super_admin role")


def _auth_user(user_id: str) -> AuthUser:
    try:
        return get_supabase_admin().get_user(user_id)
    except NotFound:
        raise UserNotFound() from None


def _user_by_email(email: str) -> AuthUser:
    user = get_supabase_admin().find_user_by_email(email)
    if user is None:
        raise UserNotFound(f"No user with e-mail {email}")
    return user


def _present(user: AuthUser, profile: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "email_confirmed": user.email_confirmed,
            "roles": list(user.roles), "is_active": user.is_active, "banned_until": user.banned_until,
            "created_at": user.created_at, "last_sign_in_at": user.last_sign_in_at, "profile": profile}
