"""The admin API (service-role Bearer): `/admin/users[/{id}]`, `/admin/generate_link` and `/invite`.

GoTrue internal/api/admin.go (adminUserCreate, adminUserUpdate, adminUserDelete, loadUser), behind
middleware.go, requireAdminCredentials.
"""
from __future__ import annotations

import datetime as dt
import secrets
import uuid

from flask import Blueprint, Response, jsonify
from psycopg import errors as pg_errors

from . import models
from .admin_links import generate_link, invite
from .admin_pages import list_users
from .api import ctx
from .apierrors import GoTrueError, Panic, bad_request, email_exists
from .callers import request_aud, require_admin
from .durations import parse_go_duration
from .mfa_factors import factors_json
from .inputs import email_address, field, json_body, parse_uuid, phone_number
from .passwords import MAX_BYTES, check_policy, hash_password
from .store import Tx

bp = Blueprint("admin", __name__, url_prefix="/auth/v1/admin")
invite_bp = Blueprint("invite", __name__, url_prefix="/auth/v1")


@invite_bp.before_request  # the /admin routes are guarded for every path below them (create_app)
def _admin_only() -> None:
    require_admin()


def _ban_until(raw: str) -> object:
    """time.ParseDuration, then models.User.Ban: a zero duration (or "none") lifts the ban."""
    if raw == "none":
        return None
    try:
        duration = parse_go_duration(raw)
    except (ValueError, OverflowError) as error:
        raise bad_request(f"invalid format for ban duration: {error}") from None
    return None if duration == dt.timedelta(0) else models.now() + duration


def _user_or_404(tx: Tx, raw_id: str) -> dict:
    user_id = parse_uuid(raw_id)
    if user_id is None:
        raise GoTrueError(404, "validation_failed", "user_id must be an UUID")
    user = models.find_user(tx, user_id)
    if user is None:
        raise GoTrueError(404, "user_not_found", "User not found")
    return user


def _reply(tx: Tx, user: dict) -> Response:
    return jsonify(models.full_user_json(tx, user))


@bp.post("/users")
def create_user() -> Response:
    """Create a user (200, not 201); no e-mail is sent and the strength check is skipped."""
    body = json_body()
    raw_email, raw_phone, password = field(body, "email"), field(body, "phone"), field(body, "password")
    password_hash, raw_id, ban = field(body, "password_hash"), field(body, "id"), field(body, "ban_duration")
    user_metadata, app_metadata = field(body, "user_metadata", dict), field(body, "app_metadata", dict)
    email_confirm, phone_confirm = field(body, "email_confirm", bool), field(body, "phone_confirm", bool)
    # models.User.SetRole trims the role it is given (one of spaces only is given, and stored empty).
    raw_role, aud = field(body, "role"), field(body, "aud") or request_aud(None)
    role = raw_role.strip() if raw_role else "authenticated"
    if not raw_email and not raw_phone:
        raise bad_request("Cannot create a user without either an email or phone")
    with ctx().store.transaction() as tx:
        email = email_address(raw_email) if raw_email else ""
        # admin.go, adminUserCreate: models.IsDuplicatedEmail, so an address another user's identity still
        # carries (a Google sign-in, say, after an e-mail change) is taken too.
        if email and models.is_duplicated_email(tx, email, aud, None) is not None:
            raise email_exists()
        phone = phone_number(raw_phone) if raw_phone else ""
        if phone and tx.one("find_user_by_phone", {"phone": phone}) is not None:
            raise GoTrueError(422, "phone_exists", "Phone number already registered by another user")
        if body.get("password") is not None and password_hash:
            raise bad_request("Only a password or a password hash should be provided")
        if password_hash:
            raise bad_request("Importing password hashes is not supported by the local stand-in")
        if len(password.encode()) > MAX_BYTES:
            # models.NewUser -> crypto.GenerateFromPassword panics on bcrypt's 72-byte limit.
            raise Panic()
        user_id = uuid.uuid4()
        if raw_id:
            user_id = parse_uuid(raw_id)
            if user_id is None:
                raise bad_request("ID must conform to the uuid v4 format")
            if user_id.int == 0:
                raise bad_request("ID cannot be a nil uuid")
        banned_until = _ban_until(ban) if ban else None
        if models.find_user(tx, user_id) is not None:
            raise GoTrueError(500, "unexpected_failure", "Database error creating new user")
        user = models.create_user(tx, user_id=user_id, email=email, phone=phone, role=role, aud=aud,
                                  password_hash=hash_password(password or secrets.token_urlsafe(24)),
                                  user_metadata=user_metadata, app_metadata=app_metadata,
                                  phone_confirmed=phone_confirm)
        if email_confirm:
            user = models.confirm_email(tx, user)
        if banned_until is not None:
            user = models.update_user(tx, user["id"], banned_until=banned_until)
        return _reply(tx, user)


bp.add_url_rule("/users", view_func=list_users, methods=["GET"])


@bp.get("/users/<raw_id>")
def get_user(raw_id: str) -> Response:
    """One user with identities (soft-deleted ones too: loadUser does not look at deleted_at)."""
    with ctx().store.transaction() as tx:
        return _reply(tx, _user_or_404(tx, raw_id))


def _new_password(body: dict) -> str | None:
    # AdminUserParams.Password is a *string: absent or null is nil, "" is a (too short) password.
    return None if body.get("password") is None else field(body, "password")


def _apply_update(tx: Tx, user: dict, body: dict, email: str, phone: str, password: str | None) -> dict:
    """The transaction of adminUserUpdate, its steps in its order."""
    role, ban = field(body, "role"), field(body, "ban_duration")
    user_metadata, app_metadata = field(body, "user_metadata", dict), field(body, "app_metadata", dict)
    email_confirm, phone_confirm = field(body, "email_confirm", bool), field(body, "phone_confirm", bool)
    banned_until = _ban_until(ban) if ban else None
    if role:
        user = models.update_user(tx, user["id"], role=role.strip())
    if email_confirm:
        user = models.confirm_email(tx, user)
    if phone_confirm:
        tx.run("confirm_phone", {"user_id": user["id"]})
    if password is not None:
        user = models.update_password(tx, user, hash_password(password), keep_session=None)
    if email:
        if models.identities_of(tx, user["id"], "email"):
            models.set_email_identity_data(tx, user["id"], email=email, email_verified=email_confirm)
        else:
            data = {**models.email_identity_data(user["id"], email), "email_verified": email_confirm}
            models.add_identity(tx, user["id"], "email", str(user["id"]), data)
        user = models.update_user(tx, user["id"], email=email)
    if phone:  # the same for the phone identity; app_metadata.providers is left as it is (createNewIdentity)
        if models.identities_of(tx, user["id"], "phone"):
            models.set_identity_data(tx, user["id"], "phone", phone=phone, phone_verified=phone_confirm)
        else:
            data = models.phone_identity_data(user["id"], phone, verified=phone_confirm)
            models.add_identity(tx, user["id"], "phone", str(user["id"]), data)
        user = models.update_user(tx, user["id"], phone=phone)
    if app_metadata is not None:
        merged = models.merge(user["app_metadata"], app_metadata)
        user = models.update_user(tx, user["id"], app_metadata=merged)
    if user_metadata is not None:
        user = models.update_user(tx, user["id"],
                                  user_metadata=models.merge(user["user_metadata"], user_metadata))
    if ban:
        user = models.update_user(tx, user["id"], banned_until=banned_until)
    return models.find_user(tx, user["id"])


@bp.put("/users/<raw_id>")
def update_user(raw_id: str) -> Response:
    """Update any attribute; metadata keys merge (null deletes); a new password ends every session; an empty
    password is weak (422). The user is found before the body is read (api.go: the loadUser middleware)."""
    with ctx().store.transaction() as tx:
        user = _user_or_404(tx, raw_id)
        body = json_body()
        raw_email, raw_phone, password = field(body, "email"), field(body, "phone"), _new_password(body)
        email = email_address(raw_email) if raw_email else ""
        phone = phone_number(raw_phone) if raw_phone else ""
        if field(body, "ban_duration"):
            _ban_until(field(body, "ban_duration"))
        if password is not None:
            check_policy(password)
        # adminUserUpdate answers with the user loadUser loaded: its identities as they were, and the ones
        # this update made appended (an identity it changed shows its old data until the next read).
        loaded = models.identities(tx, user["id"])
        try:
            with tx.conn.transaction():
                user = _apply_update(tx, user, body, email, phone, password)
        except pg_errors.UniqueViolation:
            # GoTrue has no duplicate pre-check here: the database conflict surfaces as its generic 500.
            raise GoTrueError(500, "unexpected_failure", "Error updating user") from None
        known = {identity["id"] for identity in loaded}
        made = [identity for identity in models.identities(tx, user["id"]) if identity["id"] not in known]
        return jsonify(models.user_json(user, loaded + made, factors_json(tx, user["id"])))


@bp.delete("/users/<raw_id>")
def delete_user(raw_id: str) -> Response:
    """Hard delete (cascading to identities, sessions, tokens) or soft delete (once); 200 `{}`. The user is
    found before the body, which may be left out, is read."""
    with ctx().store.transaction() as tx:
        user = _user_or_404(tx, raw_id)
        soft = field(json_body(optional=True), "should_soft_delete", bool)
        if not soft:
            tx.run("delete_user", {"user_id": user["id"]})
        elif user["deleted_at"] is None:
            models.soft_delete(tx, user)
    return jsonify({})


bp.add_url_rule("/generate_link", view_func=generate_link, methods=["POST"])
invite_bp.add_url_rule("/invite", view_func=invite, methods=["POST"])
