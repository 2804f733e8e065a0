"""The pool's check on checkout: a connection used a moment ago skips the round trip, yet one the server has
closed meanwhile is never handed out."""
from __future__ import annotations

import time

import pytest

from coner_api import db as db_module
from tests.conftest import app_settings


@pytest.fixture
def database(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server, DB_POOL_MIN="1", DB_POOL_MAX="1"))
    return app.extensions["coner.db"]


def backend_pid(database) -> int:
    with database.connection() as conn:
        return conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]


def test_a_connection_used_a_moment_ago_is_reused_without_a_new_backend(database):
    first = backend_pid(database)
    assert backend_pid(database) == first


def test_a_backend_the_server_terminated_just_after_use_is_not_handed_out(database, db_conn, monkeypatch):
    """Within the bypass window the only sign of trouble is the socket: the server's FATAL message and EOF.
    The check sees it, the pool discards the connection and hands out a fresh one: no error reaches us."""
    monkeypatch.setattr(db_module, "CHECK_BYPASS_SECONDS", 3600.0)  # however slow this machine is
    pid = backend_pid(database)
    assert db_conn.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0]
    deadline = time.monotonic() + 5
    while db_conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, "the backend did not exit"
        time.sleep(0.01)
    replacement = backend_pid(database)
    assert replacement != pid


def test_a_connection_idle_past_the_window_gets_the_full_check(database, monkeypatch):
    checked = []
    full_check = db_module.ConnectionPool.check_connection
    monkeypatch.setattr(db_module.ConnectionPool, "check_connection",
                        staticmethod(lambda conn: (checked.append(conn), full_check(conn))))
    monkeypatch.setattr(db_module, "CHECK_BYPASS_SECONDS", 3600.0)
    backend_pid(database)  # a connection the pool may just have opened: never used, so fully checked
    checked.clear()
    backend_pid(database)
    assert checked == []  # used a moment ago and quiet: no round trip
    monkeypatch.setattr(db_module, "CHECK_BYPASS_SECONDS", 0.0)
    backend_pid(database)
    assert len(checked) == 1
