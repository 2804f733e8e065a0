"""Users and identities (GoTrue's models.User and Identity): rows, JSON form, metadata, confirmation, bans."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

from psycopg.types.json import Jsonb

from .store import Tx

# What `update_user` may set: the columns of its query in queries/users.sql.
USER_COLUMNS = {"aud", "role", "email", "encrypted_password", "email_confirmed_at", "invited_at", "phone",
                "phone_confirmed_at", "confirmation_sent_at", "recovery_sent_at", "new_email",
                "email_change_sent_at", "last_sign_in_at", "app_metadata", "user_metadata", "banned_until",
                "deleted_at", "confirmation_token", "recovery_token", "email_change_token_current",
                "email_change_token_new", "email_change_confirm_status", "reauthentication_token",
                "reauthentication_sent_at"}


def now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


def iso(moment: dt.datetime | None) -> str | None:
    """RFC 3339 with microseconds and 'Z', as GoTrue prints timestamps."""
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def merge(base: dict, updates: dict) -> dict:
    """Merge `updates` into a copy of `base` key by key; a null value deletes the key."""
    merged = dict(base)
    for key, value in updates.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def is_banned(user: dict) -> bool:
    """True while `banned_until` is in the future."""
    return user["banned_until"] is not None and user["banned_until"] > now()


def find_user(tx: Tx, user_id: uuid.UUID | str, lock: bool = False) -> dict | None:
    """The user row by id (optionally locked for update), or None."""
    return tx.one("find_user_for_update" if lock else "find_user", {"user_id": user_id})


def find_user_by_email(tx: Tx, email: str) -> dict | None:
    """The live (not soft-deleted) user with this lower-cased e-mail, or None."""
    return tx.one("find_user_by_email", {"email": email})


def is_duplicated_email(tx: Tx, email: str, aud: str, current_user_id: uuid.UUID | None) -> dict | None:
    """GoTrue models.IsDuplicatedEmail: a user of audience `aud` who holds the lower-cased address through an
    identity in the default linking domain (any provider but `sso:...`, models/linking.go,
    GetAccountLinkingDomain), an identity of `current_user_id` excepted; failing that, whoever has it as
    users.email (that last lookup excepts nobody, as GoTrue's does). None when the address is free."""
    for identity in tx.all("identities_with_email", {"email": email.lower()}):
        if identity["user_id"] != current_user_id and not identity["provider"].startswith("sso:"):
            owner = find_user(tx, identity["user_id"])
            if owner is not None and owner["aud"] == aud:
                return owner
    return find_user_by_email(tx, email.lower())


def identities(tx: Tx, user_id: uuid.UUID) -> list[dict]:
    """The user's identity rows, oldest first."""
    return tx.all("identities_of_user", {"user_id": user_id})


def identities_of(tx: Tx, user_id: uuid.UUID, provider: str) -> list[dict]:
    """The user's identities of one provider."""
    return [identity for identity in identities(tx, user_id) if identity["provider"] == provider]


def update_user(tx: Tx, user_id: uuid.UUID, **values: Any) -> dict:
    """Set the given columns (a fixed whitelist) and updated_at; return the new row."""
    unknown = set(values) - USER_COLUMNS
    if unknown:
        raise ValueError(f"not user columns: {unknown}")
    params: dict[str, Any] = {"user_id": user_id}
    for column in USER_COLUMNS:
        value = values.get(column)
        params[column] = Jsonb(value) if isinstance(value, (dict, list)) else value
        params[f"set_{column}"] = column in values
    return tx.one("update_user", params)


def add_identity(tx: Tx, user_id: uuid.UUID, provider: str, provider_id: str, data: dict) -> dict:
    """Insert an identity row and return it."""
    return tx.one("insert_identity", {"id": uuid.uuid4(), "provider_id": provider_id, "user_id": user_id,
                                      "identity_data": Jsonb(data), "provider": provider})


def create_user(tx: Tx, *, email: str = "", phone: str = "", password_hash: str | None = None,
                user_metadata: dict | None = None, app_metadata: dict | None = None,
                role: str = "authenticated", aud: str = "authenticated", user_id: uuid.UUID | None = None,
                email_confirmed: bool = False, phone_confirmed: bool = False, invited: bool = False,
                identity_extra: dict | None = None) -> dict:
    """Insert a user with its email and/or phone identity; return the row."""
    user_id = user_id or uuid.uuid4()
    provider = "email" if email else "phone"
    providers = [name for name, value in (("email", email), ("phone", phone)) if value]
    app = merge({"provider": provider, "providers": providers}, app_metadata or {})
    stamp = now()
    user = tx.one("insert_user", {
        "id": user_id, "aud": aud, "role": role, "email": email, "phone": phone,
        "encrypted_password": password_hash, "email_confirmed_at": stamp if email_confirmed else None,
        "phone_confirmed_at": stamp if phone_confirmed else None, "invited_at": stamp if invited else None,
        "app_metadata": Jsonb(app), "user_metadata": Jsonb(user_metadata or {})})
    if email:
        # GoTrue's e-mail identity starts with email_verified false, confirmed or not (provider.Claims); the
        # sign-up's `data` only adds keys (signup.go, Signup): it can never name another sub or address.
        data = {**(identity_extra or {}), **email_identity_data(user_id, email)}
        add_identity(tx, user_id, "email", str(user_id), data)
    if phone:
        add_identity(tx, user_id, "phone", str(user_id), phone_identity_data(user_id, phone))
    return user


def email_identity_data(user_id: uuid.UUID, email: str, verified: bool = False) -> dict:
    """What GoTrue stores as an e-mail identity's identity_data (and copies into user_metadata at signup)."""
    return {"sub": str(user_id), "email": email, "email_verified": verified, "phone_verified": False}


def phone_identity_data(user_id: uuid.UUID, phone: str, verified: bool = False) -> dict:
    """What GoTrue stores as a phone identity's identity_data (provider.Claims with the phone)."""
    return {"sub": str(user_id), "phone": phone, "email_verified": False, "phone_verified": verified}


def set_email_identity_data(tx: Tx, user_id: uuid.UUID, **patch: Any) -> None:
    """Merge keys into the user's e-mail identity (GoTrue models.Identity.UpdateIdentityData)."""
    set_identity_data(tx, user_id, "email", **patch)


def set_identity_data(tx: Tx, user_id: uuid.UUID, provider: str, **patch: Any) -> None:
    """Merge keys into the user's identity of `provider` ("email" or "phone": their provider id is the user's)."""
    tx.run("merge_identity_data", {"patch": Jsonb(patch), "user_id": user_id, "provider": provider})


def clear_one_time_tokens(tx: Tx, user_id: uuid.UUID) -> None:
    """GoTrue models.ClearAllOneTimeTokensForUser: every pending token hash (link) of the user goes."""
    tx.run("delete_one_time_tokens_of_user", {"user_id": user_id})


def confirm_email(tx: Tx, user: dict) -> dict:
    """GoTrue models.User.Confirm: confirmed now (again, if it was), `email_verified` in user_metadata, the
    confirmation token and every pending token hash cleared. The recovery and e-mail-change OTP columns
    stay."""
    clear_one_time_tokens(tx, user["id"])
    return update_user(tx, user["id"], confirmation_token="", email_confirmed_at=now(),
                       user_metadata=merge(user["user_metadata"], {"email_verified": True}))


def recover(tx: Tx, user: dict) -> dict:
    """GoTrue models.User.Recover: the recovery token and every pending token hash cleared."""
    clear_one_time_tokens(tx, user["id"])
    return update_user(tx, user["id"], recovery_token="")


def update_password(tx: Tx, user: dict, password_hash: str | None, keep_session: uuid.UUID | None) -> dict:
    """GoTrue models.User.UpdatePassword: the new hash, every pending token and its sent-at time cleared, and
    the user's other sessions (all of them without `keep_session`) ended."""
    clear_one_time_tokens(tx, user["id"])
    user = update_user(tx, user["id"], encrypted_password=password_hash, confirmation_token="",
                       confirmation_sent_at=None, recovery_token="", recovery_sent_at=None,
                       email_change_token_current="", email_change_token_new="", email_change_sent_at=None,
                       reauthentication_token="", reauthentication_sent_at=None)
    if keep_session is None:
        tx.run("delete_sessions_of_user", {"user_id": user["id"]})
    else:
        tx.run("delete_other_sessions_of_user", {"user_id": user["id"], "session_id": keep_session})
    return user


def _obfuscate(user_id: uuid.UUID, value: str) -> str:
    """GoTrue models obfuscateValue: base64url, unpadded, of sha256(user id + value)."""
    digest = hashlib.sha256((str(user_id) + value).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def soft_delete(tx: Tx, user: dict) -> None:
    """GoTrue models.User.SoftDeleteUser and SoftDeleteUserIdentities: addresses obfuscated (so they are free
    again), password, tokens, metadata and sessions gone, identities emptied; the row stays, listed by
    admin."""
    user_id = user["id"]
    clear_one_time_tokens(tx, user_id)
    update_user(tx, user_id, email=_obfuscate(user_id, user["email"] or ""),
                phone=_obfuscate(user_id, user["phone"] or "")[:15],
                new_email=_obfuscate(user_id, user["new_email"] or ""), encrypted_password=None,
                confirmation_token="", recovery_token="", email_change_token_current="",
                email_change_token_new="", deleted_at=now(), user_metadata={}, app_metadata={})
    tx.run("delete_sessions_of_user", {"user_id": user_id})
    tx.run("delete_factors_of_user", {"user_id": user_id})  # admin.go, adminUserDelete: factors hard-deleted
    for identity in identities(tx, user_id):
        provider_id = _obfuscate(user_id, f"{identity['provider']}:{identity['provider_id']}")
        tx.run("soft_delete_identity", {"id": identity["id"], "provider_id": provider_id})


def identity_json(identity: dict) -> dict:
    """The identity object, in the key order GoTrue serialises `models.Identity`."""
    data = identity["identity_data"]
    body = {"identity_id": str(identity["id"]), "id": identity["provider_id"],
            "user_id": str(identity["user_id"])}
    if data:  # `identity_data,omitempty`: a soft-deleted user's identities have none
        body["identity_data"] = data
    body.update(provider=identity["provider"], last_sign_in_at=iso(identity["last_sign_in_at"]),
                created_at=iso(identity["created_at"]), updated_at=iso(identity["updated_at"]))
    if data.get("email"):
        body["email"] = data["email"]
    return body


def full_user_json(tx: Tx, user: dict) -> dict:
    """The user as GoTrue's FindUserByID loads it (tx.Eager): with its identities and its MFA factors."""
    from .mfa_factors import factors_json  # the factor model builds on this module

    return user_json(user, identities(tx, user["id"]), factors_json(tx, user["id"]))


def user_json(user: dict, user_identities: list[dict] | None, user_factors: list[dict] | None = None) -> dict:
    """The bare user object in GoTrue's key order; `None` identities serialise as null (admin list); factors
    only when there are some (`factors,omitempty`)."""
    confirmed = [moment for moment in (user["email_confirmed_at"], user["phone_confirmed_at"]) if moment]
    body: dict[str, Any] = {"id": str(user["id"]), "aud": user["aud"], "role": user["role"],
                            "email": user["email"] or ""}
    _stamps(body, email_confirmed_at=user["email_confirmed_at"], invited_at=user["invited_at"])
    body["phone"] = user["phone"] or ""
    _stamps(body, phone_confirmed_at=user["phone_confirmed_at"],
            confirmation_sent_at=user["confirmation_sent_at"], confirmed_at=min(confirmed, default=None),
            recovery_sent_at=user["recovery_sent_at"])
    if user["new_email"]:
        body["new_email"] = user["new_email"]
    _stamps(body, email_change_sent_at=user["email_change_sent_at"])
    if user["deleted_at"] is not None:
        # SoftDeleteUser obfuscates phone_change (`new_phone`) as well, empty or not: never empty after it.
        body["new_phone"] = _obfuscate(user["id"], "")[:15]
    _stamps(body, reauthentication_sent_at=user["reauthentication_sent_at"],
            last_sign_in_at=user["last_sign_in_at"])
    body["app_metadata"] = user["app_metadata"]
    body["user_metadata"] = user["user_metadata"]
    if user_factors:
        body["factors"] = user_factors
    body["identities"] = None if user_identities is None else [identity_json(i) for i in user_identities]
    body["created_at"] = iso(user["created_at"])
    body["updated_at"] = iso(user["updated_at"])
    _stamps(body, banned_until=user["banned_until"], deleted_at=user["deleted_at"])
    body["is_anonymous"] = user["is_anonymous"]
    return body


def _stamps(body: dict, **moments: dt.datetime | None) -> None:
    # GoTrue leaves out timestamps that are null (`omitempty`).
    body.update({key: iso(moment) for key, moment in moments.items() if moment is not None})


def sanitized_user_json(tx: Tx, user: dict, data: dict) -> dict:
    """signup.go, sanitizeUser: what a sign-up for a confirmed user's address answers with autoconfirm off,
    the real row with a new id, fresh times, the request's metadata and no identities. Only the fields
    sanitizeUser names are reset; the rest of the row shows (as on GoTrue: recovery_sent_at, invited_at,
    banned_until, the factors...)."""
    from .mfa_factors import factors_json  # the factor model builds on this module

    stamp = now()
    row = {**user, "id": uuid.uuid4(), "role": "", "new_email": None, "created_at": stamp,
           "updated_at": stamp, "confirmation_sent_at": stamp, "last_sign_in_at": None, "email_confirmed_at": None,
           "phone_confirmed_at": None, "email_change_sent_at": None, "user_metadata": data,
           "aud": "authenticated", "app_metadata": {"provider": "email", "providers": ["email"]}, "phone": ""}
    return user_json(row, [], factors_json(tx, user["id"]))


def unconfirmed_signup_json(tx: Tx, user: dict) -> dict:
    """signup.go, Signup for an address whose user is not confirmed yet: that user with its e-mail identity
    only; an invited user's metadata and identities are left out (user.HasBeenInvited)."""
    from .mfa_factors import factors_json

    if user["invited_at"] is not None:
        return user_json({**user, "user_metadata": {}}, [], factors_json(tx, user["id"]))
    return user_json(user, identities_of(tx, user["id"], "email"), factors_json(tx, user["id"]))
