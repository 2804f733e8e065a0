"""The /users routes: the legacy profile, first-time setup and later partial updates (docs/api.md,
"Profiles").

Every route runs the contract's chain `requireAuth -> ensureProfile -> handler` and acts only on the row of
the verified token's `sub`; no body or path can name another user.
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import Response, current_app, jsonify

from ..blueprint import BEARER, Blueprint
from ..errors import LockedField
from ..sessions.guard import auth_required, current_user
from . import cache
from . import service as profiles
from .schemas import (FirstTimeSetupSchema, LegacyProfileSchema, LegacyProfileUpdateSchema, ProfilePatchSchema,
                      ProfileSchema)

blp = Blueprint("users", __name__, url_prefix="/users", description="The signed-in user's profile")


def profile_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """`auth_required`, then make sure the caller's profile row exists (the contract's ensureProfile).

    Sits above `@blp.arguments` so that a request without a valid token is a 401 whatever its body."""

    @wraps(view)
    def with_profile(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        profiles.ensure_profile(user.user_id, user.email)
        return view(*args, **kwargs)

    # Both wrappers use functools.wraps, which carries flask-smorest's `_apidoc` up to the route.
    return auth_required(with_profile)


def _profile_answer(row: dict[str, Any]) -> Response:
    """The seven fields in ProfileSchema's shape, built directly: these are the hot routes, and marshmallow's
    per-field dump cost as much as a tenth of the request (test_openapi and the fuzz run check the shape)."""
    dob = row["dob"]
    return jsonify({**row, "dob": dob.isoformat() if dob is not None else None})


NO_TOKEN = (401, "Missing, invalid, expired or revoked token")
NO_PROFILE = (404, "Profile not found")


@blp.route("/me", methods=["GET"])
@profile_required
@blp.response(200, LegacyProfileSchema)
@blp.errors(NO_TOKEN, NO_PROFILE)
@blp.doc(security=BEARER)
def get_me():
    """Get the legacy profile."""
    return profiles.get_legacy_profile(current_user().user_id)


@blp.route("/me", methods=["PUT"])
@profile_required
@blp.arguments(LegacyProfileUpdateSchema)
@blp.response(200, LegacyProfileSchema)
@blp.errors((400, "Validation error (VALIDATION_FAILED)"), NO_TOKEN, NO_PROFILE)
@blp.doc(security=BEARER)
def put_me(changes: dict[str, Any]):
    """Update display_name and/or avatar_url of the legacy profile."""
    return profiles.update_legacy_profile(current_user().user_id, changes)


@blp.route("/profile", methods=["GET"])
@profile_required
@blp.built_response(200, ProfileSchema)
@blp.errors(NO_TOKEN, NO_PROFILE)
@blp.doc(security=BEARER)
def get_profile():
    """Get the profile's seven fields (null when unset)."""
    user_id = current_user().user_id
    body = cache.body(user_id, lambda: _profile_answer(profiles.get_profile(user_id)).get_data())
    return current_app.response_class(body, mimetype="application/json")


@blp.route("/profile-first", methods=["PUT"])
@profile_required
@blp.arguments(FirstTimeSetupSchema)
@blp.built_response(200, ProfileSchema)
@blp.errors((400, "Validation error (VALIDATION_FAILED) or PROFILE_ALREADY_INITIALIZED"), NO_TOKEN, NO_PROFILE)
@blp.doc(security=BEARER)
def put_profile_first(fields: dict[str, Any]):
    """First-time setup: every field required; succeeds once per user."""
    return _profile_answer(profiles.first_time_setup(current_user().user_id, fields))


def locked_after_setup(view: Callable[..., Any]) -> Callable[..., Any]:
    """A locked field (LOCKED_FIELD, which the schema raises before any other check) is locked only after
    first-time setup: before it the answer is PROFILE_NOT_INITIALIZED, as for any PATCH then. Sits between
    `profile_required` and `@blp.arguments`; costs a query only when a locked field was sent."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except LockedField:
            profiles.require_initialized(current_user().user_id)
            raise

    return checked


@blp.route("/profile", methods=["PATCH"])
@profile_required
@locked_after_setup
@blp.arguments(ProfilePatchSchema)
@blp.built_response(200, ProfileSchema)
@blp.errors((400, "VALIDATION_FAILED, LOCKED_FIELD (full_name, sex) or PROFILE_NOT_INITIALIZED"), NO_TOKEN,
            NO_PROFILE)
@blp.doc(security=BEARER)
def patch_profile(changes: dict[str, Any]):
    """Update some of dob, phone_number, address, school, major after first-time setup."""
    return _profile_answer(profiles.patch_profile(current_user().user_id, changes))
