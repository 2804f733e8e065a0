"""The answers of `GET /users/profile` kept in each process, so that a read needs no Postgres round trip
(docs/architecture.md, "Caches"), and the purges that keep them right on every process.

`ProfileCache` maps a user id to the JSON body the route answers with (the seven setup fields): a
`BoundedCache` ("profiles" in /metrics) of at most PROFILE_CACHE_SIZE entries, each kept at most `CACHE_TTL`.
A body rather than the row: half the memory an entry (~460 bytes against ~920 with the row's dict, key
included; tracemalloc), and a hit skips the JSON encoding too.

Every statement that changes what a body holds (the seven fields, or whether the row is deleted: first-time
setup, `PATCH /users/profile`, deletion) sends `profile:<user id>` through the cache-purge broadcast
(sessions/broadcast.py) in the statement itself (`pg_notify` beside the UPDATE), and the request waits, like a
logout, until every process has dropped its entry before it answers. So a read after a write, on any process,
sees the write:
- a process that acknowledged has no entry any more, and a read of Postgres that started before the purge
  is not stored (the generation counter of `caches.PurgedCache`, which the factor cache shares);
- a process that did not acknowledge in time has stopped trusting its listener by the time the write
  answers (the broadcast's proof of life), and a process that does not trust its listener answers from
  Postgres (`get`), however fresh its entries look; its listener clears the cache whenever it reconnects;
- a statement that failed sent nothing and changed nothing; one that committed sent its purge with it.

Statements that write other columns of the row (last_seen_at, e-mail, verification flag, logout cutoff,
the legacy display_name/avatar_url) and inserts of a new row (no entry can exist for a row that did not)
do not purge: nothing cached changes. tests/test_profile_cache_writers.py holds every user_profiles write of
the package to that rule.

Changes made outside the API (SQL by hand, the Supabase dashboard) are seen within `CACHE_TTL`.
"""
from __future__ import annotations

from typing import Callable

from flask import Flask

from ..caches import PurgedCache
from ..context import extension
from ..sessions.broadcast import Listener

KIND = "profile"  # broadcast messages `profile:<user id>`
# PROFILE_CACHE_SIZE, by default 10,000 entries of ~460 bytes, key and body included (tracemalloc, a typical
# profile): ~4.6 MB a worker when full.
CACHE_TTL = 60.0


class ProfileCache(PurgedCache[str, bytes]):
    """user id -> the body of GET /users/profile, used only while the purge listener is trusted; purged by
    broadcast (`profile:<user id>`)."""

    def __init__(self, listener: Listener, size: int, ttl: float = CACHE_TTL) -> None:
        super().__init__(size, ttl, name="profiles")
        self.listener = listener
        # Off (PROFILE_CACHE_SIZE 0, the default), writes neither send purges nor wait for them. The setting
        # must then be 0 on every process of the deployment, as a config change on Heroku makes it.
        self.enabled = size > 0

    def get(self, user_id: str) -> bytes | None:
        """The cached body, or None: also whenever this process cannot be sure it heard every purge."""
        if not self.listener.trusted:
            self.cache.misses += 1  # a read of Postgres all the same, counted as one
            return None
        return self.cache.get(user_id)


def init_app(app: Flask) -> None:
    """This process's profile cache, purged through the revocation store's broadcast listener; with
    PROFILE_CACHE_SIZE 0 (the default) it keeps nothing and purges nothing."""
    listener = app.extensions["coner.revocations"].listener
    cache = ProfileCache(listener, app.extensions["coner.config"].profile_cache_size, CACHE_TTL)
    app.extensions["coner.profile_cache"] = cache
    listener.subscribe(KIND, cache.purge, cache.clear)


def profile_cache() -> ProfileCache:
    return extension("coner.profile_cache")


def body(user_id: str, render: Callable[[], bytes]) -> bytes:
    """The user's GET /users/profile body: from the cache, else `render()` (which reads Postgres), kept."""
    cache = profile_cache()
    cached = cache.get(user_id)
    if cached is not None:
        return cached
    generation = cache.generation  # before the read: a purge during it keeps what it read out of the cache
    rendered = render()
    cache.store(generation, user_id, rendered)
    return rendered


def message(user_id: str) -> str:
    return f"{KIND}:{user_id}"
