"""Write stamps in memory shared by the worker processes of one server, so that a cache kept in each worker
can tell at once whether a sibling has written what it holds, without waiting for the sibling to hear about
it (docs/architecture.md, "Caches").

A table of 64-bit slots in an anonymous shared mapping, made in the gunicorn master before it forks
(`prepare`, called from gunicorn.conf.py) and inherited by every worker; `get` makes a private one in a
process that was not forked from a prepared master (tests, `flask run`): its siblings are then only itself.

- A writer, once its statement has returned (or failed), stores a fresh random number in the key's slot
  (`bump`).
- A reader takes the slot's value before it reads the source, keeps it beside what it read, and trusts what
  it kept only while the slot still holds that value (`current`).

So a read that started before a sibling's write committed is never served after that write has answered:
the write's `bump` came between. Keys share slots by hash: a write to one key makes a reader of another in
the same slot read again, never serve stale data. A random stamp rather than a counter: two processes
bumping one slot at once cannot put back a value a reader kept (an increment could lose one and repeat an
old number); drawn from `secrets`, not `random`, so that siblings forked from one master never draw the
same numbers. An aligned 8-byte store or load is a single instruction on the machines we run on, so a
reader never sees half of a stamp; and a torn value would only differ from what it kept.

`group` names the table: processes with the same group read the same slots. A broadcast that a stamped
write sends need not wait for the acknowledgement of a process of its own group (sessions/broadcast.py).
"""
from __future__ import annotations

import mmap
import secrets
import uuid
import zlib

# 128 KB shared by all workers (each worker's RSS counts the pages it touched). A write makes the cached
# entries of the other keys of its slot read again: with 5,000 entries, one in three writes costs one re-read.
SLOTS = 1 << 14


class SharedStamps:
    def __init__(self, slots: int = SLOTS) -> None:
        self._memory = mmap.mmap(-1, slots * 8)  # MAP_SHARED | MAP_ANONYMOUS: shared with forked children
        self._slots = memoryview(self._memory).cast("q")
        self._mask = slots - 1
        self.group = uuid.uuid4().hex

    def _slot(self, key: str) -> int:
        # crc32 rather than hash(): str hashes are salted per interpreter, and a table may outlive the
        # process that made it in a child started some other way than fork.
        # surrogatepass: any str has a slot (a user id is a UUID, but a cache must not fail on any key)
        return zlib.crc32(key.encode("utf-8", "surrogatepass")) & self._mask

    def current(self, key: str) -> int:
        return self._slots[self._slot(key)]

    def bump(self, key: str) -> None:
        self._slots[self._slot(key)] = secrets.randbits(63)


_shared: SharedStamps | None = None


def prepare() -> SharedStamps:
    """Make this process's table, to be inherited by the processes it forks; a second call (gunicorn reads
    its configuration again on SIGHUP) keeps the first table, which running workers still use."""
    global _shared
    if _shared is None:
        _shared = SharedStamps()
    return _shared


def get() -> SharedStamps:
    """The table this process shares with its siblings (its own if none was prepared before the fork)."""
    return prepare()
