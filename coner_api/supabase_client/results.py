"""What calls to Supabase Auth give back to the rest of the API: plain values (a session's tokens, a user),
read from the official client's models, so that no Supabase payload travels further."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenSet:
    """A session as our clients receive it."""

    access_token: str
    refresh_token: str
    expires_in: int
    expires_at: int
    user_id: str
    email: str
    token_type: str = "bearer"
    # Whether the user has a verified second factor (the answer's user object lists its factors), and whether
    # this session still has to prove it (set by mfa.status.note_session: an aal1 token of such a user).
    verified_factor: bool = False
    mfa_required: bool = False

    def answer(self) -> dict[str, Any]:
        """The session fields every route that hands out tokens answers with (docs/api.md, "Accounts")."""
        answer = {"access_token": self.access_token, "refresh_token": self.refresh_token,
                  "expires_in": self.expires_in, "expires_at": self.expires_at, "token_type": self.token_type}
        if self.mfa_required:
            answer["mfa_required"] = True
        return answer


@dataclass(frozen=True)
class AuthUser:
    id: str
    email: str
    email_confirmed: bool
    created_at: str | None = None
    last_sign_in_at: str | None = None
    banned_until: str | None = None
    app_metadata: Mapping[str, Any] = field(default_factory=dict)
    user_metadata: Mapping[str, Any] = field(default_factory=dict)
    # Supabase answers a sign-up for an already confirmed e-mail (confirmations on) with a fake user that has
    # no identities; that is the only way to tell, and the contract requires a 400 for it.
    has_identities: bool = True

    @property
    def roles(self) -> tuple[str, ...]:
        roles = self.app_metadata.get("roles") or ()
        return tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ()

    @property
    def is_active(self) -> bool:
        """False while a ban is in force (`banned_until` in the future)."""
        return not _in_future(self.banned_until)


def user_from(raw: Any) -> AuthUser:
    return AuthUser(
        id=str(raw.id), email=raw.email or "", email_confirmed=raw.email_confirmed_at is not None,
        created_at=iso_time(raw.created_at), last_sign_in_at=iso_time(raw.last_sign_in_at),
        banned_until=iso_time(getattr(raw, "banned_until", None)),
        app_metadata=dict(raw.app_metadata or {}), user_metadata=dict(raw.user_metadata or {}),
        has_identities=bool(raw.identities) if raw.identities is not None else True)


def iso_time(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)


def _in_future(timestamp: str | None) -> bool:
    if not timestamp:
        return False
    # Go prints up to nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", timestamp.replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        log.error("unreadable banned_until %r: treated as banned", timestamp)
        return True  # fail closed
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc) > datetime.now(timezone.utc)


def has_verified_factor(user: Any) -> bool:
    """Whether a user object of the official client lists a verified MFA factor (GoTrue's HasMFAEnabled)."""
    return any(factor.status == "verified" for factor in getattr(user, "factors", None) or ())


def session_tokens(session: Any) -> TokenSet:
    return TokenSet(access_token=session.access_token, refresh_token=session.refresh_token,
                    expires_in=int(session.expires_in), expires_at=int(session.expires_at),
                    user_id=str(session.user.id), email=session.user.email or "",
                    verified_factor=has_verified_factor(session.user))
