"""The metrics that are read rather than recorded: the database pool's state and counts, and the named
caches' hits, misses and sizes. A thread of each process samples them every `SAMPLE_INTERVAL` seconds, and
the process that answers a scrape samples once more first, so nothing of this runs on the request path.

The pool and the caches keep their own counts (psycopg-pool's `get_stats()`, `BoundedCache.hits/misses`);
each sample adds what they counted since the previous one to the Prometheus counters.
"""
from __future__ import annotations

import logging
import threading
import weakref
from collections import defaultdict
from typing import Any

from . import metrics
from ..caches import BoundedCache, named_caches

log = logging.getLogger(__name__)

SAMPLE_INTERVAL = 5.0
# psycopg-pool statistic -> (counter, scale to the counter's unit)
POOL_COUNTS = {
    "requests_num": (metrics.POOL_CHECKOUTS, 1.0),
    "requests_wait_ms": (metrics.POOL_WAIT_SECONDS, 0.001),
    "requests_errors": (metrics.POOL_TIMEOUTS, 1.0),
    "connections_lost": (metrics.POOL_LOST, 1.0),
}

# A cache's counts already reported, whichever sampler reported them (a test process has several apps).
_reported: "weakref.WeakKeyDictionary[BoundedCache, tuple[int, int]]" = weakref.WeakKeyDictionary()
_reported_lock = threading.Lock()


def sample_caches() -> None:
    entries: dict[str, int] = defaultdict(int)
    with _reported_lock:
        for cache in named_caches():
            hits, misses = cache.hits, cache.misses
            old_hits, old_misses = _reported.get(cache, (0, 0))
            if hits > old_hits:
                metrics.CACHE_LOOKUPS.labels(cache.name, "hit").inc(hits - old_hits)
            if misses > old_misses:
                metrics.CACHE_LOOKUPS.labels(cache.name, "miss").inc(misses - old_misses)
            _reported[cache] = (hits, misses)
            entries[cache.name or ""] += len(cache)
    for name, count in entries.items():
        metrics.CACHE_ENTRIES.labels(name).set(count)


class Sampler:
    """Samples one app's pool and the process's named caches, on a daemon thread and on demand."""

    def __init__(self, pool: Any, interval: float = SAMPLE_INTERVAL) -> None:
        self.pool = pool
        self.interval = interval
        self._pool_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="coner-metrics-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)

    def sample(self) -> None:
        with self._lock:
            stats = self.pool.get_stats()  # never pop_stats(): other readers (tests) count on the totals
            size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
            metrics.POOL_CONNECTIONS.labels("in_use").set(max(size - available, 0))
            metrics.POOL_CONNECTIONS.labels("idle").set(available)
            metrics.POOL_MAX.set(stats.get("pool_max", 0))
            metrics.POOL_WAITING.set(stats.get("requests_waiting", 0))
            for name, (counter, scale) in POOL_COUNTS.items():
                value = stats.get(name, 0)
                if value > self._pool_counts.get(name, 0):
                    counter.inc((value - self._pool_counts.get(name, 0)) * scale)
                self._pool_counts[name] = value
        sample_caches()

    def _run(self) -> None:
        failed = False
        while not self._stopping.wait(self.interval):
            try:
                self.sample()
                failed = False
            except Exception:  # noqa: BLE001 - a metric must never take the process down; say so once
                if not failed:
                    log.exception("sampling the pool and cache metrics failed")
                failed = True
