"""What the sessions feature keeps about one user, for their data export (GET /users/me/export), beside the
logout cutoff (a column of the profile row): the sessions ended by /auth/logout whose tokens are still
refused."""
from __future__ import annotations

from typing import Any

from ..db import get_db


def revoked_sessions(user_id: str) -> list[dict[str, Any]]:
    """session_id, revoked_at, expires_at of each, oldest first."""
    return get_db().fetch_all("revoked_sessions_of_user", {"user_id": user_id})
