"""Every statement ends on our side too: a Postgres that stops reading its sockets (a frozen VM or container
whose kernel still acknowledges packets, a stopped process, a proxy gone silent) costs a request a 503, not
a hang. `PostgresProxy.black_hole` plays that server: the connections stay open, nothing comes back."""
from __future__ import annotations

import time

import psycopg
import pytest

from coner_api.query_deadlines import QueryDeadlines
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
    deadlines = QueryDeadlines(0.5, interval=0.05)
    deadlines.start()
    try:
        with psycopg.connect(proxy.url(migrated_database), application_name="stalled", autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            proxy.black_hole("stalled")
            with pytest.raises(psycopg.OperationalError), deadlines.watch(conn):
                conn.execute("SELECT 1")
            assert conn.closed or conn.broken  # the pool discards such a connection
        assert deadlines.ended == 1
    finally:
        deadlines.stop()


def test_a_statement_that_finished_in_time_is_never_ended_afterwards(migrated_database):
    """The connection goes back to the pool, maybe to another request: its end must not be charged for a
    statement that finished in time, however long the connection lives on after it."""
    deadlines = QueryDeadlines(0.5, interval=0.05)
    deadlines.start()
    try:
        with psycopg.connect(migrated_database, autocommit=True) as conn:
            for _ in range(20):
                with deadlines.watch(conn):
                    conn.execute("SELECT 1")
            time.sleep(1.0)  # twice the deadline: an entry left behind would have been ended by now
            assert deadlines.ended == 0
            assert conn.execute("SELECT 2").fetchone() == (2,)
    finally:
        deadlines.stop()


def test_an_outer_block_keeps_its_deadline_over_the_statements_inside_it(proxy, migrated_database):
    """A transaction's COMMIT is a round trip too: the block's deadline holds until the block ends, and a
    statement inside it neither replaces nor removes it."""
    deadlines = QueryDeadlines(0.5, interval=0.05)
    deadlines.start()
    try:
        with psycopg.connect(proxy.url(migrated_database), application_name="stalled-commit",
                             autocommit=True) as conn:
            with pytest.raises(psycopg.OperationalError), deadlines.watch(conn):
                with deadlines.watch(conn):
                    conn.execute("SELECT 1")
                proxy.black_hole("stalled-commit")
                conn.execute("SELECT 2")
        assert deadlines.ended == 1
    finally:
        deadlines.stop()


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
    assert app.extensions["coner.db"].deadlines.ended >= 1
