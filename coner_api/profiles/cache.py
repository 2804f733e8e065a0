"""The answers of `GET /users/profile` kept in each process, so that a read needs no Postgres round trip
(docs/architecture.md, "Caches"), and the purges that keep them right on every process.

`ProfileCache` maps a user id to the JSON body the route answers with (the seven setup fields): a
`BoundedCache` ("profiles" in /metrics) of at most PROFILE_CACHE_SIZE entries, each kept at most `CACHE_TTL`.
A body rather than the row: half the memory an entry (~460 bytes against ~920 with the row's dict, key
included; tracemalloc), and a hit skips the JSON encoding too.

Every statement that changes what a body holds (the seven fields, or whether the row is deleted: first-time
setup, `PATCH /users/profile`, deletion) does two things before the request answers, so that a read after
a write, on any process, sees the write:

- Among the workers of one server: it bumps the user's write stamp in memory they share
  (shared_stamps.py), and an entry is served only while the stamp is the one taken before its body was
  read from Postgres. A sibling's entry is thus stale the moment the write returns, without a message.
- To every other process (other servers, other dynos): it sends `profile:<user id>` through the
  cache-purge broadcast (sessions/broadcast.py) in the statement itself (`pg_notify` beside the UPDATE),
  and the request waits, like a logout, until every process of another group has dropped its entry
  (siblings apply the purge too, but nobody waits for them). A process that acknowledged has no entry any
  more, and a read of Postgres that started before the purge is not stored (the generation counter of
  `caches.PurgedCache`, which the factor cache shares); one that did not acknowledge in time has stopped
  trusting its listener by the time the write answers (the broadcast's proof of life), and a process that
  does not trust its listener answers from Postgres (`get`), however fresh its entries look; its listener
  clears the cache whenever it reconnects.
- A statement that failed sent nothing and changed nothing; one that committed sent its purge with it, and
  the stamp is bumped whether it returned or failed.

On one server (a dyno, `make run`, the benchmark) a profile write therefore waits for nobody: before the
stamps, it waited for the other worker's acknowledgement (three thread wake-ups across two processes and
a notification back through Postgres), which cost `PATCH /users/profile` a third of its throughput.

Statements that write other columns of the row (last_seen_at, e-mail, verification flag, logout cutoff,
the legacy display_name/avatar_url) and inserts of a new row (no entry can exist for a row that did not)
do not purge: nothing cached changes. tests/test_profile_cache_writers.py holds every user_profiles write of
the package to that rule.

Changes made outside the API (SQL by hand, the Supabase dashboard) are seen within `CACHE_TTL`.
"""
from __future__ import annotations

from typing import Callable

from flask import Flask

from .. import shared_stamps
from ..caches import PurgedCache
from ..context import extension
from ..sessions.broadcast import Listener
from ..shared_stamps import SharedStamps

KIND = "profile"  # broadcast messages `profile:<user id>`
# PROFILE_CACHE_SIZE, by default 5,000 entries of ~460 bytes, key, stamp and body included (tracemalloc, a
# typical profile): ~2.3 MB a worker when full.
CACHE_TTL = 60.0


class ProfileCache(PurgedCache[str, tuple[int, bytes]]):
    """user id -> (the user's write stamp when the read began, the body of GET /users/profile), used only
    while the purge listener is trusted and the stamp is unchanged; purged by broadcast
    (`profile:<user id>`)."""

    def __init__(self, listener: Listener, size: int, ttl: float = CACHE_TTL,
                 stamps: SharedStamps | None = None) -> None:
        super().__init__(size, ttl, name="profiles")
        self.listener = listener
        self.stamps = stamps or shared_stamps.get()
        # Off (PROFILE_CACHE_SIZE 0), writes neither send purges nor wait for them. The setting must then be 0
        # on every process of the deployment, as a config change on Heroku makes it.
        self.enabled = size > 0

    def get(self, user_id: str) -> bytes | None:
        """The cached body, or None: also whenever this process cannot be sure it heard every purge, and when
        a sibling process wrote the user's profile after the body was read."""
        if not self.listener.trusted:
            self.cache.misses += 1  # a read of Postgres all the same, counted as one
            return None
        entry = self.cache.get(user_id)
        if entry is None:
            return None
        if entry[0] != self.stamps.current(user_id):
            self.cache.hits -= 1  # counted as a hit by the lookup; a read of Postgres all the same
            self.cache.misses += 1
            return None
        return entry[1]

    def read_stamp(self, user_id: str) -> tuple[int, int]:
        """Take before reading Postgres: (generation, write stamp), to `keep` what was read with."""
        return self.generation, self.stamps.current(user_id)

    def keep(self, taken: tuple[int, int], user_id: str, body: bytes) -> None:
        generation, stamp = taken
        self.store(generation, user_id, (stamp, body))

    def written(self, user_id: str) -> None:
        """A write of the user's profile returned (or failed): siblings stop serving what they hold."""
        self.stamps.bump(user_id)


def init_app(app: Flask) -> None:
    """This process's profile cache, purged through the revocation store's broadcast listener; with
    PROFILE_CACHE_SIZE 0 it keeps nothing and purges nothing."""
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
    taken = cache.read_stamp(user_id)  # before the read: a write or purge during it keeps the read out
    rendered = render()
    cache.keep(taken, user_id, rendered)
    return rendered


def message(user_id: str) -> str:
    return f"{KIND}:{user_id}"
