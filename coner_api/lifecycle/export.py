"""The data export (GET /users/me/export): everything Supabase Auth and this API hold about the caller, as
one document (`schemas.ExportSchema` is its shape; docs/api.md, "GET /users/me/export").

Decisions where the issue is silent:
- `account` is Supabase's user object as its admin API gives it (never a secret: no password hash or token),
  with the roles and every identity and MFA factor; `null` when Supabase no longer has the user.
- `profile` is every column of the profile row but the logout cutoff, which goes under `sessions` with the
  sessions ended by /auth/logout whose tokens are still refused; `null` when there is no row. Exporting
  creates nothing: no profile row, no Supabase session.
- Not exported, because they name nobody or are not kept: rate-limit counters (a minute's hit times per
  user id), cached token checks, Google sign-in flows (keyed by a random flow id, gone within 10 minutes).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..profiles import service as profiles
from ..sessions.export import revoked_sessions
from ..supabase_client.account import AccountRecord, get_supabase_account

if TYPE_CHECKING:
    from ..sessions import Claims


def export(claims: Claims) -> dict[str, Any]:
    """The caller's export document, in ExportSchema's shape."""
    user_id = claims.user_id
    try:
        account: AccountRecord | None = get_supabase_account().record(user_id)
    except NotFound:
        account = None
    row = profiles.export_row(user_id)
    profile = None if row is None else {name: value for name, value in row.items() if name != "logout_at"}
    return {
        "exported_at": dt.datetime.now(dt.timezone.utc),
        "user_id": user_id,
        "account": None if account is None else {**account.fields, "roles": account.roles,
                                                 "identities": list(account.identities),
                                                 "factors": list(account.factors)},
        "profile": profile,
        "sessions": {"logout_at": row["logout_at"] if row else None,
                     "revoked_sessions": revoked_sessions(user_id)},
    }


def filename(claims: Claims) -> str:
    return f"coner-export-{claims.user_id}.json"
