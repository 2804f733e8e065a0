"""A deadline on the client's side for every round trip on the API's pooled Postgres connections.

Postgres ends a statement at its `statement_timeout` itself, but only while it runs: a server that stopped
reading its sockets (a frozen VM or container whose kernel still acknowledges every packet, a stopped process,
a proxy in between gone silent) left the request's thread blocked until the server came back. Measured before
this module: with Postgres stopped by SIGSTOP, a request on an open pooled connection answered after 128 s,
when Postgres was resumed; TCP keepalives and `tcp_user_timeout` cannot tell, the peer's kernel answers.

psycopg runs each operation on a connection (a statement's send and results, a COMMIT, the pool's check)
through `Connection.wait`, which takes a timeout since psycopg 3.3 (raising `errors._WaitTimeout`, an
`OperationalError`). `DeadlineConnection` gives every such wait that brings no timeout of its own the
deadline, per round trip, and closes the connection when it expires: stopped mid-protocol, nobody can trust
its state. A wait with a timeout of its own (`notifies(timeout=...)`, which ends its iteration on it) is left
to psycopg. One wait is one round trip for everything this API sends (single statements); an `executemany`
or a string of several statements would be one wait for the whole batch. psycopg then raises `OperationalError`, `db.translated_errors` answers 503 DB_UNAVAILABLE, and the
pool discards the closed connection. All of it in the request's own thread: no watcher, nothing shared.
tests/test_pinned_internals.py holds psycopg to the shape relied on here.
"""
from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import errors
from psycopg.connection import _WAIT_INTERVAL

log = logging.getLogger(__name__)

# Beyond the statement timeout: a live server ends a slow statement itself first, with its own error.
GRACE_SECONDS = 1.0


class DeadlineConnection(psycopg.Connection):
    """A connection whose every round trip ends within `deadline` seconds (a class attribute: see
    `with_deadline`), answered or not."""

    deadline: float | None = None

    def wait(self, gen: Any, interval: float = _WAIT_INTERVAL, timeout: float | None = None) -> Any:
        if timeout is not None or self.deadline is None:  # the caller's own bound: psycopg's semantics
            return super().wait(gen, interval, timeout)
        timeout = self.deadline
        try:
            return super().wait(gen, interval, timeout)
        except errors._WaitTimeout:  # noqa: SLF001 - psycopg's own signal for this timeout
            log.warning("no answer from Postgres within %g s; the connection is closed", timeout)
            self.pgconn.finish()
            raise psycopg.OperationalError(f"no answer from Postgres within {timeout:g} s") from None


def with_deadline(seconds: float | None) -> type[DeadlineConnection]:
    """A `DeadlineConnection` class whose round trips end within `seconds` (None: no deadline)."""
    return type("DeadlineConnection", (DeadlineConnection,), {"deadline": seconds})
