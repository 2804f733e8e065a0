"""Every round trip ends on our side too: a Postgres that stops reading its sockets (a frozen VM or container
whose kernel still acknowledges packets, a stopped process, a proxy gone silent) costs a request a 503, not
a hang. `PostgresProxy.black_hole` plays that server: the connections stay open, nothing comes back."""
from __future__ import annotations

import time

import psycopg
import pytest

from coner_api.db import connect, translated_errors
from coner_api.errors import DbUnavailable
from coner_api.query_deadlines import with_deadline
from tests.support.faults import GENEROUS_LIMITS, PostgresProxy, upstream_of
from tests.support.servers import app_settings

# Without a deadline each of these tests would block for good: pytest-timeout turns that into a failure.
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def proxy(migrated_database):
    server = PostgresProxy(upstream_of(migrated_database))
    yield server
    server.close()


def test_a_statement_the_server_never_answers_ends_at_its_deadline(proxy, migrated_database):
    with with_deadline(0.5).connect(proxy.url(migrated_database), application_name="stalled",
                                    autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        proxy.black_hole("stalled")
        with pytest.raises(psycopg.OperationalError, match="no answer from Postgres within 0.5 s"):
            conn.execute("SELECT 1")
        assert conn.closed  # mid-protocol: closed, so the pool discards it


def test_the_deadline_is_per_round_trip_not_per_block(migrated_database):
    """Postgres times each statement apart (statement_timeout): three statements of a transaction, each well
    within the deadline, are never cut for their sum, nor is the COMMIT after them."""
    with with_deadline(2.0).connect(migrated_database, autocommit=True) as conn:
        with conn.transaction():
            for _ in range(3):
                conn.execute("SELECT pg_sleep(0.8)")
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_wait_with_a_timeout_of_its_own_keeps_psycopgs_meaning(migrated_database):
    """notifies(timeout=...) ends its iteration when its own timeout passes: that is no stalled server, and the
    connection stays open (the purge listener waits like this between heartbeats)."""
    with with_deadline(0.2).connect(migrated_database, autocommit=True) as conn:
        conn.execute("LISTEN coner_test_nothing")
        assert list(conn.notifies(timeout=0.5)) == []
        assert not conn.closed and conn.execute("SELECT 1").fetchone() == (1,)


def test_a_standalone_connection_can_have_the_deadline(proxy, migrated_database):
    """db.connect with the deadline's class (as the purge listener connects): a LISTEN on a link gone silent,
    its peer's kernel still answering, ends instead of holding the listener's thread for good."""
    with connect(proxy.url(migrated_database), with_deadline(0.5), application_name="silent-listener") as conn:
        proxy.black_hole("silent-listener")
        with pytest.raises(DbUnavailable):
            with translated_errors():
                conn.execute("LISTEN coner_test_nothing")


def test_a_request_on_an_open_pooled_connection_answers_when_postgres_stops_answering(
        proxy, make_app, migrated_database, auth_server):
    """Measured before the deadline: a request on a pooled connection answered after 128 s, when the stopped
    Postgres was resumed. Now it is the contract's DB_UNAVAILABLE (/health: a 500; every other route a 503)
    within the statement timeout (5 s), the grace (1 s) and a checkout's timeout for a replacement
    connection, well inside a router's 30 s."""
    app = make_app(app_settings(proxy.url(migrated_database), auth_server, **GENEROUS_LIMITS))
    client = app.test_client()
    assert client.get("/health").status_code == 200  # a pooled connection is open, just used
    proxy.black_hole("coner-api")
    started = time.monotonic()
    response = client.get("/health")
    assert response.status_code == 500, response.get_data(as_text=True)
    assert response.get_json()["code"] == "DB_UNAVAILABLE"
    assert time.monotonic() - started < 20
