"""Two settings of each worker process's memory: at most two malloc arenas (glibc; gunicorn.conf.py's
`post_fork`), and the objects of the loaded app frozen out of the garbage collector's full collections (the
worker, serving/worker.py, once its app has loaded and before it listens).

Arenas: glibc's malloc gives threads that allocate at the same time arenas of their own, up to eight per
core, and memory freed in one arena serves only that arena. A worker's four request threads, its cache
listener, heartbeat and rate-limit flusher all allocate what outlives a request (cached tokens and profile
bodies, which Python hands to malloc above 512 bytes), so each arena keeps its own high-water mark. With
two, a worker at 100,000 users peaked 1 MB lower in `make bench` (117.8 against 118.8 MB), at the same
throughput: the GIL already lets one thread allocate at a time. `MALLOC_ARENA_MAX` in the environment
(read by glibc itself) is left to win.
"""
from __future__ import annotations

import ctypes
import gc
import os

M_ARENA_MAX = -8  # <malloc.h>
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap the arenas made from now on; False where there is no glibc `mallopt` (macOS) or it refused, and
    when the environment sets MALLOC_ARENA_MAX already."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt(M_ARENA_MAX, arenas) == 1


def freeze_loaded_app() -> int:
    """Move every object alive now (modules, the app, its routes and schemas: ~125,000 in a loaded worker) to
    the collector's permanent generation, after collecting what is already garbage; returns how many.

    A full collection walks every tracked object. With the caches churning at 100,000 users (new tokens,
    windows and claims replacing old ones), CPython 3.11 makes one every few seconds, and over ~180,000
    objects each held the GIL ~120 ms: every thread of the worker stopped, which set the p99 (83 ms for
    /auth/me in the many-users scenario). Over the ~55,000 made after loading it takes ~20 ms (p99 34 ms, and
    ~3 % less CPU per request; README, "Where the time goes"). What was loaded lives as long as the process
    anyway; a frozen object that is dropped later is still freed by its reference count, and only one caught
    in a reference cycle would stay. Without preload_app there is no copy-on-write to spare: this is about
    pauses, not memory."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
