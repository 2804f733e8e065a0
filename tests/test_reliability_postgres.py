"""Postgres faults on real processes: a restart while gunicorn serves, an exhausted pool, a graceful shutdown.

The restart and shutdown tests run the API against a private embedded Postgres (its own cluster, its own
databases), so that stopping the server or counting its connections never touches the session's database;
the Supabase Auth stand-in keeps using the session database.
"""
from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from coner_api.migrations import migrate
from coner_api.sessions.broadcast import ACK_TIMEOUT
from tests.support.faults import (DB_CHECKOUT_TIMEOUT, GENEROUS_LIMITS, SLACK, RowLock, call, call_all,
                                  child_pids, wait_until)
from tests.support.profiles import VALID
from tests.support.servers import REPO, EmbeddedPostgres, app_settings, unreachable_url
from tests.support.users import sign_up_user

pytestmark = pytest.mark.slow

API_APPLICATION_NAMES = ("coner-api", "coner-cache-listener")
# psycopg-pool retries a lost connection 1, 3, 7, 15, 31... s after the failure. A 20 s outage ends about
# 10 s before the next of those attempts: long enough to tell a pool that reconnects promptly from one
# that sleeps out its backoff (as it did with reconnect_timeout=60) or refuses everything (max_waiting).
OUTAGE_SECONDS = 20.0
RECOVERY_SECONDS = 5.0


@pytest.fixture(scope="module")
def private_pg(tmp_path_factory):
    """A Postgres cluster of this module's own, which its tests may stop and start."""
    try:
        server = EmbeddedPostgres(tmp_path_factory.mktemp("private-pg") / "data")
    except RuntimeError as exc:
        pytest.skip(f"needs the embedded Postgres of the `local` extra to stop a private server: {exc}")
    server.start()
    yield server
    server.destroy()


def private_database(server: EmbeddedPostgres, name: str) -> str:
    """A new, migrated database `name` in `server`."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = server.url(name)
    migrate(url, REPO / "sql")
    return url


def api_backends(server: EmbeddedPostgres, database: str) -> set[int]:
    """The backend pids of the connections the API processes (pools, cache listeners) hold to `database`."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = ANY(%s)"
        rows = conn.execute(query, [database, list(API_APPLICATION_NAMES)]).fetchall()
    return {pid for (pid,) in rows}


def dropped_backends(server: EmbeddedPostgres, pids: set[int]) -> set[int]:
    """Which of `pids` ended without the client closing the connection (a backend logs "unexpected EOF" at
    DEBUG1 when its client vanished, nothing when it said goodbye)."""
    log = (server.data_dir / "server.log").read_text(errors="replace")
    return {pid for pid in pids if f"[{pid}] DEBUG:  unexpected EOF on client connection" in log}


def test_postgres_restart_is_survived_without_restarting_the_api(private_pg, api_server, auth_server):
    """While Postgres is down (OUTAGE_SECONDS, under steady traffic) every request that needs it is a fast
    503 DB_UNAVAILABLE, bounded by the pool's 2 s checkout timeout; protected routes fail closed (the
    revocation state is unknown, so never a 200); /health is 500 and /ready 503. Once Postgres is back, the
    same gunicorn workers serve again within RECOVERY_SECONDS, with no worker restarted. Two pool settings
    failed this: a long reconnect_timeout (the pool slept out its backoff after Postgres was back) and a
    max_waiting cap (timed-out waiters filled the queue and every request was refused for good)."""
    url = private_database(private_pg, "restart")
    # Ten threads per worker: the (at most ten) requests of an outage round never queue in gunicorn.
    api = api_server(app_settings(url, auth_server, **GENEROUS_LIMITS), workers=2, threads=10)
    user = sign_up_user(auth_server)
    assert call(api.url, "PUT", "/users/profile-first", token=user.access_token, json=VALID).status == 200
    workers = child_pids(api.process.pid)
    assert len(workers) == 2
    protected = [("GET", "/users/profile"), ("PATCH", "/users/profile", {"school": "Outage"}),
                 ("GET", "/users/me"), ("GET", "/auth/me")] * 2

    private_pg.stop("fast")  # as a restart does: every backend, the cache listeners' too, is disconnected
    try:
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        health, ready, *answers = call_all(api.url, [("GET", "/health"), ("GET", "/ready"), *protected],
                                           token=user.access_token)
        while time.monotonic() < outage_ends:
            answers += call_all(api.url, protected, token=user.access_token)
        for answer in answers:
            assert (answer.status, answer.code) == (503, "DB_UNAVAILABLE"), answer
            assert answer.seconds < DB_CHECKOUT_TIMEOUT + SLACK, answer
        assert health.status == 500 and health.body["status"] == "error", health
        assert ready.status == 503 and ready.body["status"] == "not_ready", ready
        assert ready.body["services"]["auth"] == "ok" and ready.body["services"]["database"] != "ok"
        assert max(health.seconds, ready.seconds) < DB_CHECKOUT_TIMEOUT + SLACK
    finally:
        private_pg.start()
    back = time.monotonic()

    # A request waiting for a connection is served as soon as its worker's pool reconnects.
    wait_until(lambda: {a.status for a in call_all(api.url, [("GET", "/users/profile")] * 8,
                                                   token=user.access_token)} == {200},
               timeout=30, what="both workers serve again after Postgres restarted", interval=0)
    recovery = time.monotonic() - back
    assert recovery < RECOVERY_SECONDS, f"served again only {recovery:.1f} s after Postgres was back"
    answers = call_all(api.url, [("GET", "/users/profile"), ("GET", "/auth/me")] * 12,
                       token=user.access_token)
    assert {a.status for a in answers} == {200}, [a for a in answers if a.status != 200]
    patched = call(api.url, "PATCH", "/users/profile", token=user.access_token, json={"school": "Back U"})
    assert patched.status == 200 and patched.body["school"] == "Back U"
    # The cache listeners are back too (they retry every OUTAGE_BACKOFF while Postgres is away): a write is
    # acknowledged by every process again, rather than let go after ACK_TIMEOUT (up to 30 s of 3 s writes).
    wait_until(lambda: call(api.url, "PATCH", "/users/profile", token=user.access_token,
                            json={"school": "Acknowledged U"}).seconds < ACK_TIMEOUT,
               timeout=RECOVERY_SECONDS, what="profile writes acknowledged by every process again")
    assert call(api.url, "GET", "/health").status == 200
    assert call(api.url, "GET", "/ready").status == 200
    # The same processes: gunicorn neither restarted nor replaced a worker.
    assert api.process.poll() is None and child_pids(api.process.pid) == workers


def test_a_request_pays_the_checkout_timeout_once_and_the_next_fails_fast(make_app, auth_server):
    """With Postgres unreachable, a protected request waits out the 2 s checkout timeout once, in its
    revocation check, and answers 503. (It waited twice while the rate limiter's key function ran the whole
    authentication, revocation check included, before the route ran it again.) The requests after it do not
    wait the whole timeout again until a checkout succeeds: each held a thread for 2 s, so requests queued
    behind gunicorn's threads waited several timeouts (40 concurrent reads on 2 x 4 threads: up to 8 s)."""
    token = sign_up_user(auth_server).access_token
    unreachable = unreachable_url("postgresql", "/nothing")
    client = make_app(app_settings(unreachable, auth_server, **GENEROUS_LIMITS)).test_client()
    elapsed = []
    for _ in range(3):
        started = time.monotonic()
        response = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
        elapsed.append(time.monotonic() - started)
        assert (response.status_code, response.get_json()["code"]) == (503, "DB_UNAVAILABLE")
    assert elapsed[0] < 1.5 * DB_CHECKOUT_TIMEOUT, f"{elapsed[0]:.1f} s"
    assert max(elapsed[1:]) < DB_CHECKOUT_TIMEOUT / 2, elapsed


def test_an_exhausted_pool_answers_503_fast(api_server, migrated_database, auth_server):
    """One worker with a one-connection pool (DB_POOL_MAX=1). The test locks the user's profile row, and a
    PATCH of that row then holds the only connection while it waits on the lock: deterministic, and
    visible in pg_stat_activity. Every further request that needs the database gets 503 DB_UNAVAILABLE
    after the pool's 2 s checkout timeout; none hangs. Released, the held PATCH finishes normally and the
    pool serves again."""
    settings = app_settings(migrated_database, auth_server, DB_POOL_MIN="1", DB_POOL_MAX="1",
                            **GENEROUS_LIMITS)
    api = api_server(settings, workers=1, threads=10)
    user = sign_up_user(auth_server)
    assert call(api.url, "PUT", "/users/profile-first", token=user.access_token, json=VALID).status == 200
    # Warm the worker's token, revocation and profile caches, so the PATCH's one query is the UPDATE.
    assert call(api.url, "GET", "/users/profile", token=user.access_token).status == 200

    with ThreadPoolExecutor(1) as background, RowLock(migrated_database, user.id) as lock:
        held = background.submit(call, api.url, "PATCH", "/users/profile", token=user.access_token,
                                 json={"school": "Held"})
        wait_until(lambda: lock.waiting() == 1, timeout=10, what="the PATCH waits on the row lock")
        # /users/me: the profile read (/users/profile) is answered from the worker's cache without a connection.
        starved = call_all(api.url, [("GET", "/users/me")] * 8, token=user.access_token)
        lock.release()
        held = held.result(timeout=10)

    for answer in starved:
        assert (answer.status, answer.code) == (503, "DB_UNAVAILABLE"), answer
        assert answer.seconds < DB_CHECKOUT_TIMEOUT + SLACK, answer
    assert held.status == 200 and held.body["school"] == "Held", held
    assert call(api.url, "GET", "/users/profile", token=user.access_token).body["school"] == "Held"
    # The starved checkouts put the pool in fail-fast mode; a free connection is handed out again at once.
    assert call(api.url, "GET", "/users/me", token=user.access_token).status == 200


def test_sigterm_lets_in_flight_requests_finish_and_closes_the_pool(private_pg, api_server, auth_server):
    """Three PATCHes are held in flight by a row lock the test owns; gunicorn gets SIGTERM; the lock is
    released only after the master has started shutting down. Each PATCH still gets its normal 200 and its
    write is stored, gunicorn exits 0 within its graceful timeout, and Postgres is left with no connection
    from the API's pools or cache listeners: worker_exit closed each one (none was merely dropped)."""
    url = private_database(private_pg, "shutdown")
    # Backends log at DEBUG1 a client that vanished: that tells closed connections from dropped ones.
    with psycopg.connect(private_pg.url(), autocommit=True) as conn:
        conn.execute('ALTER DATABASE "shutdown" SET log_min_messages = debug1')
    api = api_server(app_settings(url, auth_server, **GENEROUS_LIMITS), workers=2, threads=4)
    user = sign_up_user(auth_server)
    assert call(api.url, "PUT", "/users/profile-first", token=user.access_token, json=VALID).status == 200
    changes = [{"school": "Finished U"}, {"major": "Finishing"}, {"address": "1 Last St"}]

    with ThreadPoolExecutor(len(changes)) as background, RowLock(url, user.id) as lock:
        in_flight = [background.submit(call, api.url, "PATCH", "/users/profile", token=user.access_token,
                                       json=change) for change in changes]
        wait_until(lambda: lock.waiting() == len(changes), timeout=15, what="every PATCH waits on the lock")
        backends = api_backends(private_pg, "shutdown")
        assert len(backends) >= len(changes) + 2  # the PATCHes' connections and both workers' listeners
        api.process.send_signal(signal.SIGTERM)
        wait_until(lambda: "Handling signal: term" in api.log(), timeout=10, what="gunicorn handles SIGTERM")
        time.sleep(1.0)  # the workers get SIGTERM from the master and stop accepting
        assert api.process.poll() is None, "gunicorn must wait for the requests in flight"
        lock.release()
        answers = [future.result(timeout=20) for future in in_flight]

    for change, answer in zip(changes, answers):
        assert answer.status == 200, answer
        assert {k: answer.body[k] for k in change} == change
    assert api.process.wait(timeout=30) == 0
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT school, major, address FROM user_profiles WHERE user_id = %s",
                              [user.id]).fetchone()
    assert stored == ("Finished U", "Finishing", "1 Last St")
    wait_until(lambda: not api_backends(private_pg, "shutdown"), timeout=5,
               what="no API connection left in pg_stat_activity")
    assert dropped_backends(private_pg, backends) == set(), "connections dropped instead of closed"
    log = api.log()
    assert "Exception during worker exit" not in log and "Traceback" not in log, log[-3000:]
