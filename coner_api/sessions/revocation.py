"""Token revocation beyond signature and expiry: the per-user global-logout cutoff (`logout_at`) and sessions
ended by `/auth/logout`, kept complete in every process's memory (`recent.RecentRevocations`) and current
through `broadcast`.

Fail closed: if the state cannot be read, the request is refused with 503, never let through.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from .. import shared_stamps
from ..db import Database
from ..errors import SessionRevoked
from .broadcast import Listener
from .recent import RecentRevocations
from .tokens import Claims


class Revocations:
    """The checks every protected request runs after the signature, and the two ways to revoke."""

    def __init__(self, db: Database, listen_url: str) -> None:
        self.db = db
        self.recent = RecentRevocations()
        self.listener = Listener(listen_url, db, self._apply, self.recent.clear,
                                 on_connect=lambda conn: self.recent.load(db, conn),
                                 group=shared_stamps.get().group)

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()

    def check(self, claims: Claims) -> None:
        """Raise SessionRevoked if a global logout or a logout of this session came after the token."""
        cutoff, revoked = self.state(claims)
        # `iat` has whole-second resolution: a token from the cutoff's own second may predate it, so it goes.
        if cutoff is not None and claims.iat <= math.floor(cutoff):
            raise SessionRevoked()
        if revoked:
            raise SessionRevoked()

    def state(self, claims: Claims) -> tuple[float | None, bool]:
        """The user's cutoff and whether the token's session is revoked: from memory while this process is
        trusted and its set covers the token (no I/O), else from Postgres."""
        if self.listener.trusted and self.recent.covers(claims.iat, claims.exp):
            self.recent.hits += 1
            return self.recent.state(claims.user_id, claims.session_id)
        self.recent.misses += 1
        return self._read(claims.user_id, claims.session_id)

    def cutoff(self, user_id: str) -> float | None:
        """The user's cutoff as it matters to a token issued now."""
        if self.listener.trusted and self.recent.complete:
            return self.recent.cutoffs.get(user_id)
        return self._read(user_id, None)[0]

    def _read(self, user_id: str, session_id: str | None) -> tuple[float | None, bool]:
        row = self.db.fetch_one("revocation_state", {"user_id": user_id, "session_id": session_id})
        cutoff = row["logout_at"].timestamp() if row["logout_at"] is not None else None
        return cutoff, bool(row["session_revoked"])

    def _apply(self, message: str) -> None:
        """A broadcast message, on the listener's thread; one without its value means: read it all again."""
        if not self.recent.apply(message):
            self.recent.load(self.db)

    def logout_everywhere(self, user_id: str, email: str) -> datetime:
        """Set the user's cutoff to now and bring it to every process before returning."""
        row = self.db.fetch_one("set_logout_cutoff", {"user_id": user_id, "email": email or None})
        self.listener.broadcast(f"user:{user_id}:{row['logout_at'].timestamp()!r}")
        return row["logout_at"]

    def revoke_session(self, claims: Claims) -> None:
        """Refuse this token's session from now on, on every process (a token without a session id is logged
        out with `logout_everywhere` instead)."""
        if claims.session_id is None:
            raise ValueError("a token without a session_id has no session to revoke")
        # Other access tokens of this session were issued before now and live at most as long as this one.
        lifetime = max(claims.exp - claims.iat, 0)
        keep_until = datetime.now(timezone.utc) + timedelta(seconds=lifetime + 60)
        keep_until = max(keep_until, datetime.fromtimestamp(claims.exp, timezone.utc))
        self.db.execute("revoke_session", {"session_id": claims.session_id, "user_id": claims.user_id,
                                           "expires_at": keep_until})
        self.db.execute("purge_expired_revocations")
        self.listener.broadcast(f"session:{claims.session_id}:{keep_until.timestamp()!r}")
