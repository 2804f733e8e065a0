"""`RecentRevocations`: every process's complete, in-memory copy of the revocation state that can still refuse
a token, so that a protected request needs no database read while the process is trusted.

Per-user caches made every new user a database read ("does this user have a cutoff?"), and held an entry
per user. But a logout cutoff older than the longest access-token lifetime cannot refuse any token that is
still unexpired, and a revoked session matters only until the last token of that session expires. So the
state that can change an answer is bounded by the logouts made within one token lifetime, not by the users:

- cutoffs: every `logout_at` set within `HORIZON` (Supabase caps an access token's lifetime at one week), by
  user id. A token whose `exp - iat` exceeds `HORIZON` is not covered: it is checked against Postgres.
- sessions: every revoked session whose row has not expired, by session id, with that expiry (the row is
  kept until the last access token of the session has expired: `Revocations.revoke_session`).

The set is loaded by the purge listener right after its LISTEN is established (on the same connection, so
a revocation committed later is announced to it, and one committed earlier is in what it reads), and kept
current by the broadcast messages, which carry the new cutoff (`user:<id>:<epoch>`) or the session's expiry
(`session:<id>:<epoch>`). It is complete only from the end of a load until the listener disconnects.

Bounded: at most `MAX_ENTRIES` of each kind. Beyond that the set declares itself incomplete (logged), and
every protected request reads Postgres, as it does while the process is untrusted.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..caches import register
from ..db import Connection, Database

log = logging.getLogger(__name__)

HORIZON = 7 * 24 * 3600  # seconds: Supabase's cap on an access token's lifetime (JWT expiry, one week)
# Cutoffs are loaded and kept this much longer than HORIZON: Postgres's clock and ours may differ a little.
MARGIN = 300
MAX_ENTRIES = 100_000
PRUNE_EVERY = 60.0


class RecentRevocations:
    """The recent cutoffs and the live revoked sessions; read by request threads, written by the listener."""

    def __init__(self, max_entries: int = MAX_ENTRIES, horizon: int = HORIZON) -> None:
        self.max_entries = max_entries
        self.horizon = horizon
        self.cutoffs: dict[str, float] = {}  # user id -> logout_at (epoch seconds)
        self.sessions: dict[str, float] = {}  # session id -> when its row expires (epoch seconds)
        self.complete = False
        # Revocation checks answered from this set (hits) or from Postgres (misses), for /metrics as the cache
        # "revocations". Counted without a lock: a thread switch inside `+= 1` may lose one, which a ratio
        # can bear and the hot path should not pay for.
        self.name, self.hits, self.misses = "revocations", 0, 0
        self._lock = threading.Lock()  # orders writers; readers see one dict operation at a time
        self._pruned_at = time.monotonic()
        register(self)

    def covers(self, iat: int, exp: int) -> bool:
        """Whether the set alone can decide about a token issued at `iat`, expiring at `exp`."""
        return self.complete and exp - iat <= self.horizon

    def load(self, db: Database, conn: Connection | None = None) -> None:
        """Read the whole set from Postgres (on `conn`, the listener's, when given) and mark it complete,
        unless it exceeds the cap."""
        limit = self.max_entries + 1
        cutoffs = db.fetch_all("recent_logout_cutoffs", {"seconds": self.horizon + MARGIN, "limit": limit}, conn)
        sessions = db.fetch_all("live_revoked_sessions", {"limit": limit}, conn)
        with self._lock:
            self.cutoffs = {str(row["user_id"]): row["logout_at"].timestamp() for row in cutoffs}
            self.sessions = {str(row["session_id"]): row["expires_at"].timestamp() for row in sessions}
            self.complete = self._within_cap()

    def clear(self) -> None:
        with self._lock:
            self.complete = False
            self.cutoffs, self.sessions = {}, {}

    def apply(self, message: str) -> bool:
        """Apply a broadcast message; False when it does not carry its value (a process of an older release
        sent it, or it says `all`): the caller must load the set again."""
        kind, _, rest = message.partition(":")
        key, _, value = rest.partition(":")
        try:
            at = float(value)
        except ValueError:
            return False
        with self._lock:
            if kind == "user":
                self.cutoffs[key] = max(at, self.cutoffs.get(key, at))
            elif kind == "session":
                self.sessions[key] = max(at, self.sessions.get(key, at))
            else:
                return False
            if time.monotonic() - self._pruned_at > PRUNE_EVERY:
                self._prune(time.time())
            if self.complete and not self._within_cap():
                self.complete = False
        return True

    def _within_cap(self) -> bool:
        within = len(self.cutoffs) <= self.max_entries and len(self.sessions) <= self.max_entries
        if not within:
            log.warning("more than %d recent logouts: this process reads Postgres on every protected request "
                        "until its purge listener reconnects", self.max_entries)
        return within

    def _prune(self, now: float) -> None:
        """Forget what can no longer refuse anything (with the lock held)."""
        self._pruned_at = time.monotonic()
        oldest = now - self.horizon - MARGIN
        self.cutoffs = {user: at for user, at in self.cutoffs.items() if at > oldest}
        self.sessions = {session: until for session, until in self.sessions.items() if until > now}

    def state(self, user_id: str, session_id: str | None) -> tuple[float | None, bool]:
        """The user's cutoff and whether the session is revoked, from the set (call `covers` first)."""
        return self.cutoffs.get(user_id), session_id is not None and session_id in self.sessions

    def __len__(self) -> int:
        return len(self.cutoffs) + len(self.sessions)

    def sizes(self) -> dict[str, Any]:
        return {"cutoffs": len(self.cutoffs), "sessions": len(self.sessions), "complete": self.complete}
