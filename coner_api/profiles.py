"""User profiles: creation on first use, the legacy profile, first-time setup and later partial updates.

The profile id is always the verified token's `sub`; nothing here takes it from a request body or path.
Every write is one SQL statement, so concurrent requests for one user cannot lose each other's changes.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Mapping

from flask import Flask

from .context import extension
from .db import get_db
from .errors import NotFound, ProfileAlreadyInitialized, ProfileNotInitialized

# last_seen_at is refreshed at most this often per user (the SQL repeats the same interval).
TOUCH_INTERVAL_SECONDS = 60.0
# Bound on the in-process map; the least recently touched users are forgotten first.
TOUCH_CACHE_SIZE = 10_000

LEGACY_FIELDS = ("display_name", "avatar_url")
PATCHABLE_FIELDS = ("dob", "phone_number", "address", "school", "major")
SETUP_FIELDS = ("full_name", "dob", "sex", "phone_number", "address", "school", "major")


class ProfileNotFound(NotFound):
    message = "Profile not found"


class RecentTouches:
    """Thread-safe, bounded map user_id -> monotonic time this process last ensured the user's row.

    A hit means the row existed and last_seen_at was fresh less than a minute ago, so the request needs
    no database work at all; that keeps `ensure_profile` off the write path of nearly every request."""

    def __init__(self, max_size: int = TOUCH_CACHE_SIZE, interval: float = TOUCH_INTERVAL_SECONDS) -> None:
        self.max_size = max_size
        self.interval = interval
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()

    def is_fresh(self, user_id: str, now: float) -> bool:
        with self._lock:
            touched = self._seen.get(user_id)
            return touched is not None and now - touched < self.interval

    def record(self, user_id: str, now: float) -> None:
        with self._lock:
            self._seen[user_id] = now
            self._seen.move_to_end(user_id)
            while len(self._seen) > self.max_size:
                self._seen.popitem(last=False)


def init_app(app: Flask) -> None:
    # Per app (not a module global): each app, and each gunicorn worker, has its own.
    app.extensions["coner.profile_touches"] = RecentTouches()


def _touches() -> RecentTouches:
    return extension("coner.profile_touches")


def ensure_profile(user_id: str, email: str | None) -> None:
    """Create the user's row on first use; refresh last_seen_at at most once a minute (no write otherwise)."""
    touches = _touches()
    now = time.monotonic()
    if touches.is_fresh(user_id, now):
        return
    get_db().execute("profile_ensure", {"user_id": user_id, "email": email or None})
    touches.record(user_id, now)


def get_legacy_profile(user_id: str) -> dict[str, Any]:
    """000's legacy profile (GET /users/me)."""
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
    db = get_db()
    row = db.fetch_one("profile_first_time_setup",
                       {"user_id": user_id, **{name: fields[name] for name in SETUP_FIELDS}})
    if row is not None:
        return row
    state = db.fetch_one("profile_state", {"user_id": user_id})
    if state is None:
        raise ProfileNotFound()
    raise ProfileAlreadyInitialized()


def patch_profile(user_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change only the given fields of an initialized profile, in one statement; return the seven fields."""
    db = get_db()
    row = db.fetch_one("profile_patch", {"user_id": user_id, **_presence(changes, PATCHABLE_FIELDS)})
    if row is not None:
        return row
    state = db.fetch_one("profile_state", {"user_id": user_id})
    if state is None:
        raise ProfileNotFound()
    raise ProfileNotInitialized()


def _presence(changes: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Each column's new value plus a `set_<name>` flag, so SQL can tell "omitted" from any value."""
    params: dict[str, Any] = {}
    for name in names:
        params[f"set_{name}"] = name in changes
        params[name] = changes.get(name)
    return params
