"""The admin API (service-role Bearer): `/admin/users[/{id}]`, `/admin/generate_link` and `/invite`."""
from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request
from psycopg import errors as pg_errors

from . import models
from .admin_links import generate_link, invite
from .api import ctx
from .apierrors import GoTrueError, bad_request, email_exists
from .callers import require_admin
from .durations import parse_go_duration
from .inputs import email_address, field, json_body, parse_uuid, phone_number
from .passwords import check_policy, hash_password
from .store import Tx

bp = Blueprint("admin", __name__, url_prefix="/auth/v1/admin")
invite_bp = Blueprint("invite", __name__, url_prefix="/auth/v1")
DEFAULT_PER_PAGE = 50


@bp.before_request
@invite_bp.before_request
def _admin_only() -> None:
    require_admin()


def _ban_until(raw: str) -> object:
    if raw == "none":
        return None
    try:
        return models.now() + parse_go_duration(raw)
    except (ValueError, OverflowError) as error:
        raise bad_request(f"invalid format for ban duration: {error}") from None


def _user_or_404(tx: Tx, raw_id: str) -> dict:
    user_id = parse_uuid(raw_id)
    if user_id is None:
        raise GoTrueError(404, "validation_failed", "user_id must be an UUID")
    user = models.find_user(tx, user_id)
    if user is None:
        raise GoTrueError(404, "user_not_found", "User not found")
    return user


def _reply(tx: Tx, user: dict) -> Response:
    return jsonify(models.user_json(user, models.identities(tx, user["id"])))


@bp.post("/users")
def create_user() -> Response:
    """Create a user (200, not 201); no e-mail is sent and the strength check is skipped."""
    body = json_body()
    raw_email, raw_phone, password = field(body, "email"), field(body, "phone"), field(body, "password")
    password_hash, raw_id, ban = field(body, "password_hash"), field(body, "id"), field(body, "ban_duration")
    user_metadata, app_metadata = field(body, "user_metadata", dict), field(body, "app_metadata", dict)
    email_confirm, phone_confirm = field(body, "email_confirm", bool), field(body, "phone_confirm", bool)
    role, aud = field(body, "role") or "authenticated", field(body, "aud") or "authenticated"
    if not raw_email and not raw_phone:
        raise bad_request("Cannot create a user without either an email or phone")
    email = email_address(raw_email) if raw_email else ""
    phone = phone_number(raw_phone) if raw_phone else ""
    if password and password_hash:
        raise bad_request("Only a password or a password hash should be provided")
    if password_hash:
        raise bad_request("Importing password hashes is not supported by the local stand-in")
    if len(password.encode()) > 72:
        raise bad_request("Password cannot be longer than 72 characters")
    user_id = uuid.uuid4()
    if raw_id:
        user_id = parse_uuid(raw_id)
        if user_id is None or user_id.int == 0:
            raise bad_request("ID must conform to the uuid v4 format")
    banned_until = _ban_until(ban) if ban else None
    metadata = dict(user_metadata or {})
    if email_confirm:
        metadata["email_verified"] = True
    with ctx().store.transaction() as tx:
        if email and models.find_user_by_email(tx, email) is not None:
            raise email_exists()
        if phone and tx.one("find_user_by_phone", {"phone": phone}) is not None:
            raise GoTrueError(422, "phone_exists", "Phone number already registered by another user")
        if models.find_user(tx, user_id) is not None:
            raise GoTrueError(422, "user_already_exists", "User already registered")
        user = models.create_user(tx, user_id=user_id, email=email, phone=phone, role=role, aud=aud,
                                  password_hash=hash_password(password or secrets.token_urlsafe(24)),
                                  user_metadata=metadata, app_metadata=app_metadata,
                                  email_confirmed=email_confirm, phone_confirmed=phone_confirm)
        if banned_until is not None:
            user = models.update_user(tx, user["id"], banned_until=banned_until)
        return _reply(tx, user)


def _page_number(name: str, default: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit():
        raise bad_request(f"Bad Pagination Parameters: {name} must be a non-negative integer")
    return int(raw) or default


def _link(page: int) -> str:
    query = request.args.to_dict()
    query["page"] = str(page)
    return f"</admin/users?{urlencode(sorted(query.items()))}>"


@bp.get("/users")
def list_users() -> Response:
    """A page of users (identities null), newest first, with `X-Total-Count` and `Link`."""
    page, per_page = _page_number("page", 1), _page_number("per_page", DEFAULT_PER_PAGE)
    pattern = f"%{request.args.get('filter', '')}%"
    ascending = request.args.get("sort", "").strip().lower().endswith("asc")
    with ctx().store.transaction() as tx:
        total = tx.one("count_users", {"filter": pattern})["n"]
        rows = tx.all("page_users_oldest_first" if ascending else "page_users_newest_first",
                      {"filter": pattern, "limit": per_page, "offset": (page - 1) * per_page})
    last_page = (total + per_page - 1) // per_page
    links = [f'{_link(page + 1)}; rel="next"'] if page < last_page else []
    links.append(f'{_link(last_page)}; rel="last"')
    response = jsonify({"users": [models.user_json(row, None) for row in rows], "aud": "authenticated"})
    response.headers["X-Total-Count"] = str(total)
    response.headers["Link"] = ", ".join(links)
    return response


@bp.get("/users/<raw_id>")
def get_user(raw_id: str) -> Response:
    """One user with identities."""
    with ctx().store.transaction() as tx:
        return _reply(tx, _user_or_404(tx, raw_id))


def _new_password(body: dict) -> str | None:
    # AdminUserParams.Password is a *string: absent or null is nil, "" is a (too short) password.
    return None if body.get("password") is None else field(body, "password")


@bp.put("/users/<raw_id>")
def update_user(raw_id: str) -> Response:
    """Update any attribute; metadata keys merge (null deletes); a new password ends all sessions; an empty
    password is weak (422, admin.go adminUserUpdate)."""
    body = json_body()
    raw_email, raw_phone, password = field(body, "email"), field(body, "phone"), _new_password(body)
    role, ban = field(body, "role"), field(body, "ban_duration")
    user_metadata, app_metadata = field(body, "user_metadata", dict), field(body, "app_metadata", dict)
    email_confirm, phone_confirm = field(body, "email_confirm", bool), field(body, "phone_confirm", bool)
    with ctx().store.transaction() as tx:
        user = _user_or_404(tx, raw_id)
        changes: dict = {}
        if role:
            changes["role"] = role
        if raw_email:
            changes["email"] = email_address(raw_email)
        if raw_phone:
            changes["phone"] = phone_number(raw_phone)
        if password is not None:
            check_policy(password)
        if user_metadata is not None:
            changes["user_metadata"] = models.merge(user["user_metadata"], user_metadata)
        if app_metadata is not None:
            changes["app_metadata"] = models.merge(user["app_metadata"], app_metadata)
        if ban:
            changes["banned_until"] = _ban_until(ban)
        if email_confirm:  # admin.go, adminUserUpdate: User.Confirm, confirmed or not
            user = models.confirm_email(tx, user)
            changes["user_metadata"] = models.merge(changes.get("user_metadata", user["user_metadata"]),
                                                    {"email_verified": True})
        if phone_confirm and user["phone_confirmed_at"] is None:
            tx.run("confirm_phone", {"user_id": user["id"]})
        try:
            with tx.conn.transaction():
                user = models.update_user(tx, user["id"], **changes)
        except pg_errors.UniqueViolation:
            # GoTrue has no duplicate pre-check here: the database conflict surfaces as its generic 500.
            raise GoTrueError(500, "unexpected_failure", "Error updating user") from None
        if "email" in changes:
            tx.run("set_email_identity_email", {"email": changes["email"], "user_id": user["id"]})
        if password is not None:  # User.UpdatePassword: tokens cleared, every session ended
            user = models.update_password(tx, user, hash_password(password), keep_session=None)
        return _reply(tx, user)


@bp.delete("/users/<raw_id>")
def delete_user(raw_id: str) -> Response:
    """Hard delete (cascading to identities, sessions, tokens) or soft delete; 200 `{}`."""
    body = json_body()
    soft = field(body, "should_soft_delete", bool)
    with ctx().store.transaction() as tx:
        user = _user_or_404(tx, raw_id)
        if soft:
            tx.run("delete_sessions_of_user", {"user_id": user["id"]})
            tx.run("delete_identities_of_user", {"user_id": user["id"]})
            models.update_user(tx, user["id"], deleted_at=models.now(), email=None, phone=None,
                               new_email=None, encrypted_password=None)
        else:
            tx.run("delete_user", {"user_id": user["id"]})
    return jsonify({})


bp.add_url_rule("/generate_link", view_func=generate_link, methods=["POST"])
invite_bp.add_url_rule("/invite", view_func=invite, methods=["POST"])
