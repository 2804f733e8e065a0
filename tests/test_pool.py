"""The pool's check on checkout: a connection used a moment ago skips the round trip, yet one the server has
closed meanwhile is never handed out. Observed on the real server: `pg_stat_activity.query` holds the last
statement each backend ran, and psycopg-pool's full check runs the empty statement."""
from __future__ import annotations

import pytest

from tests.support.faults import wait_until
from tests.support.servers import app_settings


@pytest.fixture
def database(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server, DB_POOL_MIN="1", DB_POOL_MAX="1"))
    database = app.extensions["coner.db"]
    database.check_bypass_seconds = 3600.0  # however slow this machine is, "a moment ago" holds
    return database


def backend_pid(database) -> int:
    with database.connection() as conn:
        return conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]


def last_statement(db_conn, pid: int) -> str:
    return db_conn.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def test_a_connection_used_a_moment_ago_is_handed_out_without_a_round_trip(database, db_conn):
    pid = backend_pid(database)
    with database.connection() as conn:
        assert conn.pgconn.backend_pid == pid
        assert last_statement(db_conn, pid) == "SELECT pg_backend_pid() AS pid"  # no check ran in between


def test_a_connection_idle_past_the_window_gets_the_full_check(database, db_conn):
    pid = backend_pid(database)
    database.check_bypass_seconds = 0.0
    with database.connection() as conn:
        assert conn.pgconn.backend_pid == pid
        assert last_statement(db_conn, pid) == ""  # psycopg-pool's check: the empty statement


def test_a_backend_the_server_terminated_just_after_use_is_not_handed_out(database, db_conn):
    """Within the bypass window the only sign of trouble is the socket: the server's FATAL message and EOF.
    The check sees it, the pool discards the connection and hands out a fresh one: no error reaches us."""
    pid = backend_pid(database)
    assert db_conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    wait_until(lambda: not db_conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone(),
               timeout=5, what="the backend to exit")
    replacement = backend_pid(database)
    assert replacement != pid
