"""User profiles: creation on first use, the legacy profile, first-time setup and later partial updates.

The profile id is always the verified token's `sub`; nothing here takes it from a request body or path.
Every write is one SQL statement, so concurrent requests for one user cannot lose each other's changes. The
writes that change what GET /users/profile answers bump the user's write stamp shared by this server's
workers and carry their own cache purge for every other process, and return once every process of another
server has applied it (`_write_announced`; profiles/cache.py says why that keeps every read right).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from flask import Flask

from ..caches import BoundedCache
from ..context import extension
from ..db import get_db
from ..errors import NotFound, ProfileAlreadyInitialized, ProfileNotInitialized
from . import cache

# last_seen_at is refreshed at most this often per user (the SQL repeats the same interval).
TOUCH_INTERVAL_SECONDS = 60.0
# Bound on the in-process map (~230 bytes an entry); the least recently touched users are forgotten first. The
# users of one minute per worker, as the profile cache's default (5,000) counts them: a worker at 100,000
# users must stay within 120 MB (README, "Performance").
TOUCH_CACHE_SIZE = 5_000

LEGACY_FIELDS = ("display_name", "avatar_url")
PATCHABLE_FIELDS = ("dob", "phone_number", "address", "school", "major")
SETUP_FIELDS = ("full_name", "dob", "sex", "phone_number", "address", "school", "major")


class ProfileNotFound(NotFound):
    message = "Profile not found"


def init_app(app: Flask) -> None:
    # Per app (not a module global): each app, and each gunicorn worker, has its own. A user found here was
    # ensured less than TOUCH_INTERVAL_SECONDS ago: the row exists and last_seen_at is fresh, so the request
    # needs no database work at all, which keeps `ensure_profile` off the write path of nearly every request.
    app.extensions["coner.profile_touches"] = BoundedCache(TOUCH_CACHE_SIZE, TOUCH_INTERVAL_SECONDS,
                                                          name="profile_touches")
    cache.init_app(app)


def ensure_profile(user_id: str, email: str | None) -> None:
    """Create the user's row on first use; refresh last_seen_at at most once a minute (no write otherwise)."""
    touches = extension("coner.profile_touches")
    if touches.get(user_id):
        return
    get_db().execute("profile_ensure", {"user_id": user_id, "email": email or None})
    touches.put(user_id, True)


def create_profile(user_id: str, email: str | None, display_name: str | None, *, email_verified: bool) -> None:
    """The profile row of a new account; a repeated sign-up of an unconfirmed address keeps the existing row."""
    get_db().execute("create_profile_at_signup", {"user_id": user_id, "email": email,
                                                  "display_name": display_name, "email_verified": email_verified})


def mark_email_verified(user_id: str, email: str) -> None:
    get_db().execute("mark_email_verified", {"user_id": user_id, "email": email})


def follow_email(user_id: str, email: str | None, *, verified: bool = False) -> None:
    """The profile's e-mail becomes the account's (after an e-mail change; `verified` when this API saw its
    confirmation). No write when nothing differs; no row is created."""
    if email:
        get_db().execute("profile_follow_email", {"user_id": user_id, "email": email, "verified": verified})


def export_row(user_id: str) -> dict[str, Any] | None:
    """Every column of the user's row, deleted or not; None when there is none."""
    return get_db().fetch_one("profile_export", {"user_id": user_id})


def get_legacy_profile(user_id: str) -> dict[str, Any]:
    """The legacy profile (GET /users/me)."""
    row = get_db().fetch_one("profile_get_legacy", {"user_id": user_id})
    if row is None:
        raise ProfileNotFound()
    return row


def update_legacy_profile(user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Set the given legacy fields (display_name, avatar_url), leave the others; return the legacy profile."""
    row = get_db().fetch_one("profile_update_legacy", {"user_id": user_id, **_presence(changes, LEGACY_FIELDS)})
    if row is None:
        raise ProfileNotFound()
    return row


def get_profile(user_id: str) -> dict[str, Any]:
    """The seven first-time-setup fields, None where unset."""
    row = get_db().fetch_one("profile_get", {"user_id": user_id})
    if row is None:
        raise ProfileNotFound()
    return row


def first_time_setup(user_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Store every setup field, exactly once per user even under concurrent calls (one atomic UPDATE)."""
    row = _write_announced(user_id, "profile_first_time_setup",
                           {"user_id": user_id, **{name: fields[name] for name in SETUP_FIELDS}})
    if row is not None:
        return row
    state = get_db().fetch_one("profile_state", {"user_id": user_id})
    if state is None:
        raise ProfileNotFound()
    raise ProfileAlreadyInitialized()


def patch_profile(user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change only the given fields of an initialized profile, in one statement; return the seven fields."""
    row = _write_announced(user_id, "profile_patch", {"user_id": user_id, **_presence(changes, PATCHABLE_FIELDS)})
    if row is not None:
        return row
    require_initialized(user_id)
    raise ProfileNotInitialized()  # set up since the write looked: as the write saw it


def require_initialized(user_id: str) -> None:
    """Raise ProfileNotFound or ProfileNotInitialized unless the user's profile had its first-time setup."""
    state = get_db().fetch_one("profile_state", {"user_id": user_id})
    if state is None:
        raise ProfileNotFound()
    if not state["initialized"]:
        raise ProfileNotInitialized()


def _write_announced(user_id: str, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Run a write whose statement sends the user's profile-cache purge when it changes the row (parameters
    `purge_channel`, `purge_payload`), and wait until every process has applied it; the row it returns, or
    None when it changed nothing (and so sent nothing)."""
    db = get_db()
    profile_cache = cache.profile_cache()
    if not profile_cache.enabled:  # PROFILE_CACHE_SIZE 0 on every process: no cache anywhere to purge
        return db.fetch_one(query, {**params, "purge_channel": None, "purge_payload": None})

    def write(channel: str, payload: str) -> dict[str, Any] | None:
        try:
            return db.fetch_one(query, {**params, "purge_channel": channel, "purge_payload": payload})
        finally:  # committed or not (an error may hide a commit): siblings drop what they hold
            profile_cache.written(user_id)

    row, _ = profile_cache.listener.write_announced(cache.message(user_id), write, siblings_stamped=True)
    return row


def _presence(changes: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Each column's new value plus a `set_<name>` flag, so SQL can tell "omitted" from any value."""
    params: dict[str, Any] = {}
    for name in names:
        params[f"set_{name}"] = name in changes
        params[name] = changes.get(name)
    return params


# ----------------------------------------------------------------------------- as admins see profiles
def profiles_of(user_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The profile rows of some users by user id, deleted rows included (marked as such)."""
    ids = list(user_ids)
    if not ids:
        return {}
    rows = get_db().fetch_all("admin_profiles", {"user_ids": ids})
    return {str(row["id"]): row for row in rows}


def deletion_state(user_id: str) -> bool | None:
    """Whether the user's row is marked deleted; None when there is no row."""
    row = get_db().fetch_one("admin_profile_deleted", {"user_id": user_id})
    return None if row is None else row["is_deleted"]


def mark_deleted(user_id: str) -> None:
    """Keep the row and its id (for audit, and for the logout cutoff that keeps refusing the deleted user's
    tokens) and clear every personal field; no process serves the profile from its cache once this returns."""
    _write_announced(user_id, "admin_mark_profile_deleted", {"user_id": user_id})
