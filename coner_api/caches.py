"""`BoundedCache`: the one in-process cache type: a size cap (least recently used entries go first) and an
expiry per entry. Every cache of the API is one: verified tokens, logout cutoffs and revoked sessions,
recent profile touches and in-memory rate-limit windows (docs/architecture.md, "Caches").

A cache given a `name` is listed by `named_caches()`, and its `get` counts hits and misses (two integers,
under the lock it takes anyway): /metrics reports them per name, off the request path. Something that is not
a `BoundedCache` but answers lookups from memory (the recent revocations) joins the list with `register`.

`PurgedCache` is a `BoundedCache` kept right by broadcast purges (the factor status, the profile bodies): a
value read before a purge is never stored after it.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterator, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_NAMED: "weakref.WeakSet[BoundedCache]" = weakref.WeakSet()


def named_caches() -> Iterator["BoundedCache"]:
    """Every live cache that was given a name (one per process in a server; several in a test process)."""
    return iter(list(_NAMED))


def register(counted: object) -> None:
    """List `counted` with the named caches: it has `name`, `hits`, `misses` and a length, as a cache has."""
    _NAMED.add(counted)  # type: ignore[arg-type]


class BoundedCache(Generic[K, V]):
    """A thread-safe map of at most `max_size` entries, each kept until its expiry time (by default `ttl`
    seconds after it was stored, on `clock`); reading an entry makes it the most recently used.

    A `max_size` of 0 keeps nothing. A `ttl` of None keeps entries until they are pushed out by newer ones.
    The lock is held for dictionary operations only, never across a caller's work."""

    def __init__(self, max_size: int, ttl: float | None = None,
                 clock: Callable[[], float] = time.monotonic, name: str | None = None) -> None:
        if max_size < 0 or (ttl is not None and ttl < 0):
            raise ValueError("max_size and ttl must be >= 0")
        self.max_size = max_size
        self.ttl = ttl
        self.clock = clock
        self.name = name
        self.hits = self.misses = 0  # lookups through `get`, for the hit ratio /metrics reports
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        if name is not None:
            _NAMED.add(self)

    def get(self, key: K, default: D = None, now: float | None = None) -> V | D:  # type: ignore[assignment]
        """The live value of `key`, or `default` (an expired entry is dropped on the way)."""
        if now is None:
            now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return default
            if now >= entry[0]:
                del self._entries[key]
                self.misses += 1
                return default
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: K, value: V, *, expires_at: float | None = None, now: float | None = None) -> None:
        """Store `value` until `expires_at` (at the latest `ttl` from now), evicting the least recently used
        entries beyond `max_size`."""
        if self.max_size == 0:
            return
        if now is None:
            now = self.clock()
        if self.ttl is not None:
            expires_at = now + self.ttl if expires_at is None else min(expires_at, now + self.ttl)
        elif expires_at is None:
            expires_at = float("inf")
        with self._lock:
            self._entries[key] = (expires_at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def get_or_put(self, key: K, make: Callable[[], V], now: float | None = None) -> V:
        """The live value of `key`, or `make()` stored under it (one lock round; `make` must be cheap)."""
        if now is None:
            now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now < entry[0]:
                self._entries.move_to_end(key)
                return entry[1]
            value = make()
            expires_at = float("inf") if self.ttl is None else now + self.ttl
            self._entries[key] = (expires_at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)
            return value

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, int]:
        return {"size": len(self._entries), "max_size": self.max_size, "hits": self.hits, "misses": self.misses}


class PurgedCache(Generic[K, V]):
    """A named `BoundedCache` (`cache`) emptied entry by entry by broadcast messages `<kind>:<key>` (`purge`, on
    the listener's thread) and wholly when the listener reconnects (`clear`). A reader takes `generation`
    before it reads the source and `store`s what it read with it: a purge that came in between keeps the
    read, which may predate the change the purge announced, out of the cache."""

    def __init__(self, max_size: int, ttl: float, name: str) -> None:
        self.cache: BoundedCache[K, V] = BoundedCache(max_size, ttl, name=name)
        self._lock = threading.Lock()  # orders stores against purges
        self.generation = 0

    def store(self, generation: int, key: K, value: V) -> None:
        """Keep what was read at `generation`, unless a purge came after the read started."""
        with self._lock:
            if generation == self.generation:
                self.cache.put(key, value)

    def purge(self, message: str) -> None:
        """A broadcast message `<kind>:<key>`."""
        with self._lock:
            self.generation += 1
            self.cache.pop(message.partition(":")[2])  # type: ignore[arg-type]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self.cache.clear()
