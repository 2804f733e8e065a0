"""Moving windows shared through Redis: one script call per round trip, and per-process counting reconciled
with Redis in batches, so that a limited request costs well under one round trip on average.

`redis_windows.lua` (registered once, called with EVALSHA) updates a key's window and returns what the
answer and its headers need: allowed, the count in the window, the oldest hit. Before it, every limited
request made two round trips (the `limits` library's window update, then a read of the window for the
headers), and each cost more than the rest of the request (docs/architecture.md, "Rate limits").

Batching, per key and limit of `L` requests per window:
- A process may admit a request on its own, without asking Redis, while (a) it holds fewer than
  `B = batch_size(L)` admitted hits that Redis has not recorded yet, and (b) its last answer from Redis plus
  those hits leaves room. A flusher thread sends the held hits of every key in one call every
  `FLUSH_INTERVAL`; a request that finds (a) or (b) false asks Redis itself (one call, its held hits with it).
- So at any moment each process holds at most `B` admitted, unrecorded hits per key, and once Redis has
  recorded `L` hits in a window it admits no more: across `W` processes sharing one Redis, at most
  `L + W × B` requests are admitted per key in a window (tests/test_rate_limits_shared.py holds it to that).
- `B` is 2 % of the limit, at most `BATCH_MAX`; limits under 100 per window (`B` = 1) are never batched and
  stay exact: the credentials limit (5 per minute) is counted in Redis request by request.
- A window Redis reported full stays full until its oldest hit leaves it (nothing leaves earlier), so until
  then the process refuses on its own, exactly: a client over its limit costs no round trips.
- The X-RateLimit-Remaining of a request admitted locally is the last answer from Redis less the hits this
  process admitted since: it does not see the other processes' hits of the last `FLUSH_INTERVAL`.
- Hits are recorded with the time of the call that carries them (at most FLUSH_INTERVAL late while Redis
  answers), on the application's clock, as `limits` does.

A failed call (Redis down or hanging: the client's 0.3 s timeouts) raises from `hit`, the flusher's failure
at the next `hit`: the rate limiter then counts in its own memory for a back-off (rate_limits.py). Hits held
when a flush fails are lost, which only ever admits fewer requests later, never more.
"""
from __future__ import annotations

import threading
import time
from importlib import resources
from typing import TYPE_CHECKING, Callable

from limits import RateLimitItem, WindowStats

from .caches import BoundedCache

if TYPE_CHECKING:
    import redis

SCRIPT = resources.files(__package__).joinpath("redis_windows.lua").read_text()
BATCH_SHARE = 50  # B = L // 50: 2 % of the limit ...
BATCH_MAX = 64  # ... and at most this many held hits per key and process
# Seconds between two flushes while hits are held. A flush costs its process ~0.4 ms of CPU under load
# (redis-py's call, the flusher's wake-ups): every 10 ms the flusher threads took ~60 us per /auth/me request
# on a server of two workers, every 50 ms ~17 (README, "Where the time goes"). Fifty milliseconds late is
# nothing in a window of a minute, and the bound on what is admitted does not depend on it (B held hits per
# key and process, however long they are held).
FLUSH_INTERVAL = 0.05
FLUSH_CHUNK = 500  # keys per script call (one call must not block Redis for long)
# Keys whose last answer a process remembers. Losing one only costs a round trip; it holds far more keys than
# can be hit within one FLUSH_INTERVAL, so a key with held hits is never the least recently used.
MAX_KEYS = 10_000


def batch_size(item: RateLimitItem) -> int:
    """How many admitted hits a process may hold for one key before Redis records them (1: none)."""
    return max(1, min(BATCH_MAX, item.amount // BATCH_SHARE))


class _Window:
    """What this process knows of one key's window: Redis's count and oldest hit at its last answer, the hits
    admitted here since (`held`) and those on their way to Redis (`sending`)."""

    __slots__ = ("item", "count", "oldest", "held", "sending", "full_until")

    def __init__(self, item: RateLimitItem) -> None:
        self.item = item
        self.count = 0  # unknown until Redis answers: optimistic, within the bound
        self.oldest: float | None = None
        self.held = 0
        self.sending = 0
        self.full_until = 0.0


class RedisWindows:
    """Moving windows over Redis behind MemoryWindows' interface (`hit`), on the app's Redis client.
    Thread-safe; one per process."""

    def __init__(self, client: "redis.Redis", clock: Callable[[], float] = time.time,
                 max_keys: int = MAX_KEYS, flush_interval: float = FLUSH_INTERVAL) -> None:
        self._script = client.register_script(SCRIPT)  # EVALSHA; loaded again by redis-py if Redis forgot it
        self._clock = clock
        self._flush_interval = flush_interval
        self._windows: BoundedCache[str, _Window] = BoundedCache(max_keys)
        self._held: dict[str, _Window] = {}  # keys with held hits, for the next flush
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None
        self._failure: Exception | None = None
        self.calls = 0  # script calls made (tests, make bench)

    def hit(self, item: RateLimitItem, key: str) -> tuple[bool, WindowStats]:
        """Count a hit if the window has room; whether it did, and the window as this process knows it."""
        failure = self._failure
        if failure is not None:
            self._failure = None
            raise failure
        batch, amount, expiry = batch_size(item), item.amount, item.get_expiry()
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and window.full_until > now:
                return False, WindowStats(window.full_until, 0)
            if batch > 1:
                if window is None:
                    window = _Window(item)
                    self._windows.put(key, window)
                used = window.count + window.held + window.sending
                if window.held + window.sending < batch and used < amount:
                    window.held += 1
                    if not self._held:
                        self._wake.set()
                    self._held[key] = window
                    self._start_flusher()
                    oldest = window.oldest if window.oldest is not None else now
                    return True, WindowStats(oldest + expiry, amount - used - 1)
            forced = 0
            if window is not None:  # this request asks Redis itself, and takes the held hits along
                forced, window.held = window.held, 0
                window.sending += forced
                self._held.pop(key, None)
        try:
            [(allowed, count, oldest)] = self._call(now, [(key, item, forced, 1)])
        finally:
            if forced:
                with self._lock:
                    window.sending -= forced  # type: ignore[union-attr]
        with self._lock:
            window = self._learn(key, item, count, oldest, now, window)
        reset = (oldest if oldest is not None else now) + expiry
        return bool(allowed), WindowStats(reset, amount - count)

    def close(self) -> None:
        """Stop the flusher after one last flush."""
        self._stopping.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(5)

    # ------------------------------------------------------------------------------------------ internals
    def _call(self, now: float, keys: list[tuple[str, RateLimitItem, int, int]]) -> list[tuple[int, int, float | None]]:
        args: list[object] = [repr(now)]
        for _, item, forced, wanted in keys:
            args += [item.amount, item.get_expiry(), forced, wanted]
        self.calls += 1
        replies = self._script(keys=[key for key, *_ in keys], args=args)
        return [(allowed, count, float(oldest) if oldest is not None else None) for allowed, count, oldest in replies]

    def _learn(self, key: str, item: RateLimitItem, count: int, oldest: float | None, now: float,
               window: _Window | None) -> _Window | None:
        """Keep Redis's answer for the key (called with the lock held). A full window is remembered even for an
        unbatched limit: it refuses locally, and exactly, until its oldest hit leaves."""
        full = count >= item.amount and oldest is not None
        if not full and window is not None and window.full_until > now:
            # A reply computed before the one that found the window full (replies on different connections
            # arrive in any order): it must not reopen the window, or this process would admit a second
            # batch beyond the bound. A full window stays full until its oldest hit leaves.
            return window
        if window is None:
            if not full and batch_size(item) == 1:
                return None
            window = _Window(item)
            self._windows.put(key, window)
        window.count, window.oldest = count, oldest
        window.full_until = oldest + item.get_expiry() if full else 0.0  # type: ignore[operator]
        return window

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="coner-rate-flush", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._stopping.wait(self._flush_interval)  # let one interval's hits gather
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Send every held hit to Redis in as few calls as possible, and keep the answers."""
        with self._lock:
            held, self._held = self._held, {}
            batch = []
            for key, window in held.items():
                batch.append((key, window, window.held))
                window.sending += window.held
                window.held = 0
        now = self._clock()
        for start in range(0, len(batch), FLUSH_CHUNK):
            chunk = batch[start:start + FLUSH_CHUNK]
            try:
                replies = self._call(now, [(key, window.item, forced, 0) for key, window, forced in chunk])
            except Exception as exc:  # noqa: BLE001 - told to the next hit, which falls back to memory
                self._failure = exc
                replies = None
            with self._lock:
                for index, (key, window, forced) in enumerate(chunk):
                    window.sending -= forced
                    if replies is not None:
                        _, count, oldest = replies[index]
                        self._learn(key, window.item, count, oldest, now, window)
