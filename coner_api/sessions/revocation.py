"""Token revocation beyond signature and expiry: the per-user global-logout cutoff (`logout_at`) and sessions
ended by `/auth/logout`, both cached in process and purged everywhere through `broadcast`.

Fail closed: if the cutoff cannot be read, the request is refused with 503, never let through.
"""
from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from ..caches import BoundedCache
from ..db import Database
from ..errors import SessionRevoked
from .broadcast import Listener
from .tokens import Claims

# A safety net only: purges are broadcast and acknowledged, so entries need not expire for correctness.
CACHE_TTL = 60.0
CACHE_SIZE = 100_000
NOT_CACHED = object()


class RevocationCache:
    """user_id -> cutoff (epoch seconds or None) and session_id -> revoked, each a bounded, expiring cache.

    A generation counter guards against a read that started before a purge and finishes after it: such a
    result is used for that request but not stored."""

    def __init__(self, size: int = CACHE_SIZE, ttl: float = CACHE_TTL) -> None:
        self.cutoffs: BoundedCache[str, float | None] = BoundedCache(size, ttl, name="logout_cutoffs")
        self.sessions: BoundedCache[str, bool] = BoundedCache(size, ttl, name="revoked_sessions")
        self._lock = threading.Lock()  # orders stores against purges
        self.generation = 0

    def lookup(self, user_id: str, session_id: str | None) -> tuple[Any, Any]:
        """The cached cutoff and session state, `NOT_CACHED` for what is not cached."""
        now = time.monotonic()
        return (self.cutoffs.get(user_id, NOT_CACHED, now),
                False if session_id is None else self.sessions.get(session_id, NOT_CACHED, now))

    def store(self, generation: int, user_id: str, cutoff: float | None,
              session_id: str | None, revoked: bool) -> None:
        with self._lock:
            if generation != self.generation:
                return
            self.cutoffs.put(user_id, cutoff)
            if session_id is not None:
                self.sessions.put(session_id, revoked)

    def purge(self, message: str) -> None:
        """Apply a broadcast message: `user:<id>`, `session:<id>` or `all`."""
        kind, _, key = message.partition(":")
        with self._lock:
            self.generation += 1
            if kind == "user":
                self.cutoffs.pop(key)
            elif kind == "session":
                self.sessions.pop(key)
            else:
                self.cutoffs.clear()
                self.sessions.clear()

    def clear(self) -> None:
        self.purge("all")


class Revocations:
    """The checks every protected request runs after the signature, and the two ways to revoke."""

    def __init__(self, db: Database, listen_url: str) -> None:
        self.db = db
        self.cache = RevocationCache()
        self.listener = Listener(listen_url, db, self.cache.purge, self.cache.clear)

    def start(self) -> None:
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()

    def check(self, claims: Claims) -> None:
        """Raise SessionRevoked if a global logout or a logout of this session came after the token."""
        cutoff, revoked = self.state(claims.user_id, claims.session_id)
        # `iat` has whole-second resolution: a token from the cutoff's own second may predate it, so it goes.
        if cutoff is not None and claims.iat <= math.floor(cutoff):
            raise SessionRevoked()
        if revoked:
            raise SessionRevoked()

    def state(self, user_id: str, session_id: str | None) -> tuple[float | None, bool]:
        trusted = self.listener.trusted
        if trusted:
            cutoff, revoked = self.cache.lookup(user_id, session_id)
            if cutoff is not NOT_CACHED and revoked is not NOT_CACHED:
                return cutoff, revoked
        generation = self.cache.generation
        row = self.db.fetch_one("revocation_state", {"user_id": user_id, "session_id": session_id})
        cutoff = row["logout_at"].timestamp() if row["logout_at"] is not None else None
        revoked = bool(row["session_revoked"])
        if trusted:
            self.cache.store(generation, user_id, cutoff, session_id, revoked)
        return cutoff, revoked

    def cutoff(self, user_id: str) -> float | None:
        return self.state(user_id, None)[0]

    def logout_everywhere(self, user_id: str, email: str) -> datetime:
        """Set the user's cutoff to now and purge it from every process before returning."""
        row = self.db.fetch_one("set_logout_cutoff", {"user_id": user_id, "email": email or None})
        self.listener.broadcast(f"user:{user_id}")
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
        self.listener.broadcast(f"session:{claims.session_id}")
