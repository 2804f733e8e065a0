"""Postgres access: one connection pool per process, named queries, driver errors translated in one place.

The only product module that imports psycopg. Queries live beside the feature that runs them, in `.sql` files
of blocks headed `-- name: <query_name>` with `%(param)s` placeholders (`profiles/user_profiles.sql`,
`sessions/revocation.sql`, ...); callers name the query and pass a dict.
"""
from __future__ import annotations

import logging
import re
import select
import time
from contextlib import contextmanager, nullcontext
from importlib import resources
from typing import Any, Callable, Iterator, Mapping

import psycopg
from flask import Flask
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout, TooManyRequests

from .config import Config
from .context import extension
from .errors import DbUnavailable, InternalError
from .query_deadlines import GRACE_SECONDS, with_deadline

log = logging.getLogger(__name__)

Connection = psycopg.Connection


def load_queries() -> dict[str, str]:
    """Read every `-- name:` block of every `.sql` file in the package (names are unique package-wide)."""
    queries: dict[str, str] = {}
    pending = [resources.files(__package__)]
    while pending:
        folder = pending.pop()
        for resource in sorted(folder.iterdir(), key=lambda r: r.name):
            if resource.is_dir():
                pending.append(resource)
            elif resource.name.endswith(".sql"):
                for block in re.split(r"^-- name: ", resource.read_text(), flags=re.M)[1:]:
                    name, _, body = block.partition("\n")
                    name = name.strip()
                    if name in queries:
                        raise RuntimeError(f"query {name!r} is defined twice")
                    queries[name] = body.strip()
    return queries


QUERIES = load_queries()

# A connection handed out less than this long ago, whose socket is quiet, is handed out again without the
# check's round trip (HikariCP's "alive bypass window" does the same, with 500 ms). A server that restarted or
# killed the backend has written an error or closed the socket, which makes it readable; a connection idle
# for longer gets the full check, for the failures that leave a socket quiet (a dead network path). Timed
# from the checkout (stamped by the check itself), which is never later than the last use.
CHECK_BYPASS_SECONDS = 1.0
_CHECKED_OUT_AT = "_coner_checked_out_at"


def _readable(fd: int) -> bool:
    """Whether an idle connection's socket has something to read: an error, EOF or a stray notification."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


_DRIVER_ERRORS = (PoolTimeout, TooManyRequests, psycopg.Error)
# How long a checkout waits once one has waited out the whole checkout timeout, until one succeeds again. While
# Postgres is unreachable every request that needs it would otherwise hold its thread for the full timeout, and
# the requests queued behind it for gunicorn's threads would wait several timeouts (measured: 40 concurrent
# profile reads on 2 workers x 4 threads, 503s after up to 8 s); now only the first waits. Long enough for a
# connection the pool has just made (a local connect ~5 ms; with TLS to a remote host ~50-100 ms), and the
# pool's reconnection runs in the background whatever a waiter's timeout.
FAIL_FAST_CHECKOUT_WAIT = 0.25


class translated_errors:  # noqa: N801 - used as a `with` statement, like contextlib's
    """`with translated_errors():` raises driver and pool errors as the API's: outages are 503
    DB_UNAVAILABLE, anything else a logged 500. A class rather than a generator: every query of every
    request enters one, and a generator-based context manager costs about a microsecond more. Given the
    `Database` whose pool the block checks out from, it tells it whether checkouts succeed (fail-fast)."""

    __slots__ = ("database",)

    def __init__(self, database: Database | None = None) -> None:
        self.database = database

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            database = self.database
            if database is not None and database.checkout_wait != database.checkout_timeout:
                database.checkout_wait = database.checkout_timeout  # a connection again: wait normally
            return False
        if not isinstance(exc, _DRIVER_ERRORS):
            return False
        if isinstance(exc, (PoolTimeout, TooManyRequests)):
            if self.database is not None:
                self.database.checkout_wait = FAIL_FAST_CHECKOUT_WAIT
            raise DbUnavailable() from exc
        if isinstance(exc, psycopg.OperationalError):  # connection lost, server down, statement timeout
            log.warning("database unavailable: %s", exc)
            raise DbUnavailable() from exc
        log.error("database error: %s", exc)
        raise InternalError() from exc


def connect(database_url: str, connection_class: type[Connection] = Connection, **kwargs: Any) -> Connection:
    """A standalone connection (migrations, LISTEN); dict rows, autocommit unless told otherwise."""
    kwargs.setdefault("autocommit", True)
    with translated_errors():
        return connection_class.connect(database_url, row_factory=dict_row, **kwargs)


class Database:
    """The process's pool plus helpers that run named queries."""

    def __init__(self, config: Config) -> None:
        self.check_bypass_seconds = CHECK_BYPASS_SECONDS
        self.checkout_timeout = config.db_checkout_timeout
        # What the next checkout waits: the timeout, or FAIL_FAST_CHECKOUT_WAIT after one timed out.
        self.checkout_wait = config.db_checkout_timeout
        # Every round trip ends within this on our side too, even when the server stops answering
        # (query_deadlines.py); a live server ends a slow statement first, at its statement_timeout.
        self.deadline = config.db_statement_timeout_ms / 1000 + GRACE_SECONDS
        connection_kwargs: dict[str, Any] = {
            "row_factory": dict_row,
            "autocommit": True,
            "connect_timeout": max(1, round(config.db_connect_timeout)),
            "options": f"-c statement_timeout={config.db_statement_timeout_ms}",
            "application_name": "coner-api",
        }
        if config.database_is_pooled:
            # Behind a transaction pooler (PgBouncer, Supabase's port 6543) each statement may run on another
            # server connection: one prepared on one is unknown on the next ("prepared statement _pg3_0 does
            # not exist", or "already exists" when a backend comes back to us), and PgBouncer refuses the
            # `options` startup parameter outright. So no server-side prepared statements, and the
            # statement timeout is the pooler's or the role's (docs/architecture.md, "Database").
            connection_kwargs["prepare_threshold"] = None
            del connection_kwargs["options"]
        self.pool = ConnectionPool(
            config.database_url,
            connection_class=with_deadline(self.deadline),
            kwargs=connection_kwargs,
            min_size=config.db_pool_min,
            max_size=config.db_pool_max,
            open=False,
            # A connection that died while idle (Postgres restarted) is replaced, not handed out.
            check=self._check_connection,
            timeout=config.db_checkout_timeout,
            # No cap on the queue of waiting requests: gunicorn's threads already bound the live waiters of
            # a process, and psycopg-pool (3.3) leaves every waiter that timed out in its queue until a
            # connection comes back. With a cap, an outage filled the queue with such dead waiters; from
            # then on every request was refused (TooManyRequests) before it could ask the pool to
            # reconnect, so the process answered 503 for good after Postgres had returned.
            max_waiting=0,
            # How long one reconnection attempt keeps retrying (after 1, 2, 4... s) before it gives up and
            # the next waiting request starts a fresh one: attempts stay less than 2 s apart, so the pool
            # reconnects promptly once Postgres is back (with 60 s, a 20 s outage left it waiting ~10 s
            # more for its next attempt), at the price of a logged warning per abandoned attempt.
            reconnect_timeout=5,
            name="coner",
        )

    def _check_connection(self, conn: Connection) -> None:
        """The pool's check on checkout: a round trip unless the connection was just in use and is quiet."""
        now = time.monotonic()
        last = getattr(conn, _CHECKED_OUT_AT, None)
        if not (last is not None and now - last < self.check_bypass_seconds
                and conn.pgconn.status == ConnStatus.OK and not _readable(conn.pgconn.socket)):
            ConnectionPool.check_connection(conn)
        setattr(conn, _CHECKED_OUT_AT, now)

    def open(self) -> None:
        """Start the pool without waiting: the app boots (and reports 503s) while Postgres is down."""
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close(timeout=5)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        with translated_errors(self), self.pool.connection(self.checkout_wait) as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One connection in one transaction: everything inside commits together or not at all."""
        with self.connection() as conn, conn.transaction():
            yield conn

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Run the block holding a lock on `key` for every process on the database: concurrent blocks on one
        key run one after the other. For the writes to Supabase Auth that race each other there (two
        sign-ups of one address, two password changes of one user), which no statement of ours can make
        atomic. Holds a pooled connection, idle in its transaction, for the block's length."""
        with self.transaction() as conn:
            self._run("advisory_xact_lock", {"key": key}, conn, _rowcount)
            yield

    def fetch_one(self, query: str, params: Mapping[str, Any] | None = None,
                  conn: Connection | None = None) -> dict[str, Any] | None:
        return self._run(query, params, conn, psycopg.Cursor.fetchone)

    def fetch_all(self, query: str, params: Mapping[str, Any] | None = None,
                  conn: Connection | None = None) -> list[dict[str, Any]]:
        return self._run(query, params, conn, psycopg.Cursor.fetchall)

    def execute(self, query: str, params: Mapping[str, Any] | None = None,
                conn: Connection | None = None) -> int:
        """Run a statement; return the number of rows it touched."""
        return self._run(query, params, conn, _rowcount)

    def _run(self, query: str, params: Mapping[str, Any] | None, conn: Connection | None,
             result: Callable[[psycopg.Cursor], Any]) -> Any:
        """Run a named query on `conn`, or on a pooled connection for this one statement, and return
        `result(cursor)`."""
        sql = QUERIES[query]
        with translated_errors(self), (self.pool.connection(self.checkout_wait) if conn is None
                                       else nullcontext(conn)) as used, \
                used.execute(sql, params or {}) as cursor:
            return result(cursor)

    def ping(self) -> None:
        """Raise DbUnavailable unless a pooled connection answers."""
        self.fetch_one("ping")


def init_app(app: Flask, config: Config) -> Database:
    database = Database(config)
    database.open()
    app.extensions["coner.db"] = database
    return database


def _rowcount(cursor: psycopg.Cursor) -> int:
    return cursor.rowcount


def get_db() -> Database:
    return extension("coner.db")
