"""At most two malloc arenas per worker process (glibc), set in each worker as it starts (gunicorn.conf.py).

glibc's malloc gives threads that allocate at the same time arenas of their own, up to eight per core, and
memory freed in one arena serves only that arena. A worker's four request threads, its cache listener,
heartbeat and rate-limit flusher all allocate what outlives a request (cached tokens and profile bodies,
which Python hands to malloc above 512 bytes), so each arena keeps its own high-water mark. With two, a
worker at 100,000 users peaked 1 MB lower in `make bench` (117.8 against 118.8 MB), at the same
throughput: the GIL already lets one thread allocate at a time. `MALLOC_ARENA_MAX` in the environment (read
by glibc itself) is left to win.
"""
from __future__ import annotations

import ctypes
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
