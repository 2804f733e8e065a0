"""A deadline on the client's side for every statement the API sends on a pooled connection.

Postgres ends a statement at its `statement_timeout` itself, but only while it runs: a server that stopped
reading its sockets (a frozen VM or container whose kernel still acknowledges every packet, a stopped
process, a proxy in between that went silent) leaves the request's thread blocked in `recv` until the server
comes back. Measured before this module: with Postgres stopped by SIGSTOP, a request on an open pooled
connection answered after 128 s, when Postgres was resumed; TCP keepalives and `tcp_user_timeout` cannot tell,
because a kernel that still answers keeps the connection alive.

`QueryDeadlines` keeps the start of every statement in flight; a daemon thread shuts down the socket of any
that has run past its deadline (`shutdown`, not `close`: the descriptor stays the connection's, so no other
socket can take its number while psycopg still holds it). psycopg then raises `OperationalError`, which
`db.translated_errors` answers as 503 DB_UNAVAILABLE, and the pool discards the broken connection.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

# Beyond the statement timeout: a live server ends a slow statement itself first, with its own error.
GRACE_SECONDS = 1.0
# How often the thread looks: a stalled statement is ended between its deadline and this much later.
CHECK_INTERVAL = 0.5


class QueryDeadlines:
    """The statements in flight on this process's connections, and a thread that ends the overdue ones."""

    def __init__(self, seconds: float, interval: float = CHECK_INTERVAL) -> None:
        self.seconds = seconds
        self.interval = interval
        self.ended = 0  # statements ended by their deadline (tests, logs)
        # id(connection) -> (deadline, socket descriptor). Registration is a plain dict assignment; removal
        # and the thread's check-then-shutdown hold the lock, so a connection handed back to the pool (and
        # perhaps to another request) is never shut down for a statement that finished in time.
        self._running: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the watching thread (in each worker, after the fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="coner-query-deadlines", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def watch(self, conn: Any) -> "_Watch":
        """`with deadlines.watch(conn):` around a statement (or a block of them: the outermost block's
        deadline holds for everything inside it)."""
        return _Watch(self, conn)

    def _watch(self) -> None:
        while not self._stopping.wait(self.interval):
            now = time.monotonic()
            with self._lock:
                overdue = [(key, fd) for key, (deadline, fd) in self._running.items() if deadline <= now]
                for key, fd in overdue:
                    del self._running[key]
                    self._end(fd)

    def _end(self, fd: int) -> None:
        self.ended += 1
        log.warning("a database statement ran past its %.1f s deadline (the server no longer answers); its "
                    "connection is closed", self.seconds)
        try:
            # A duplicate of the descriptor, so that closing this socket object leaves the connection's own.
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError as error:  # closed meanwhile by psycopg itself: nothing left to end
            log.debug("could not shut down an overdue connection: %s", error)


class _Watch:
    """One registration; a class with slots rather than a generator-based context manager (every query)."""

    __slots__ = ("deadlines", "key", "added")

    def __init__(self, deadlines: QueryDeadlines, conn: Any) -> None:
        self.deadlines = deadlines
        self.key = conn
        self.added = False

    def __enter__(self) -> None:
        conn = self.key
        self.key = id(conn)
        running = self.deadlines._running  # noqa: SLF001 - this class is the dict's other half
        if self.key not in running:
            running[self.key] = (time.monotonic() + self.deadlines.seconds, conn.pgconn.socket)
            self.added = True

    def __exit__(self, *exc: object) -> None:
        if self.added:
            with self.deadlines._lock:  # noqa: SLF001
                self.deadlines._running.pop(self.key, None)  # noqa: SLF001
