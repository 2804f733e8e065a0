"""Each process holds the complete recent revocation state in memory (sessions/recent.py): a protected
request reads no database while the process is trusted, whoever the user; the state is loaded when the
purge listener connects and kept current by the broadcasts; beyond its bounds, Postgres is read."""
from __future__ import annotations

import time

from coner_api.sessions.recent import HORIZON, RecentRevocations
from tests.support.servers import app_settings
from tests.support.users import bearer


def count_reads(app) -> list:
    """Every revocation read from Postgres the app makes from now on (the heartbeats and acknowledgements
    use the pool too, so its own counters cannot tell)."""
    revocations, reads = app.extensions["coner.revocations"], []
    read = revocations._read
    revocations._read = lambda *args: (reads.append(args), read(*args))[1]
    return reads


def set_cutoff(db_conn, user_id: str) -> None:
    """A logout-all written straight to Postgres, announced to no process."""
    db_conn.execute("INSERT INTO user_profiles (user_id, logout_at) VALUES (%s, now()) "
                    "ON CONFLICT (user_id) DO UPDATE SET logout_at = now()", (user_id,))


def trusted_app(make_app, migrated_database, auth_server, **settings):
    app = make_app(app_settings(migrated_database, auth_server, **settings))
    assert app.extensions["coner.revocations"].listener.wait_trusted(10)
    return app


def test_a_new_user_costs_no_database_read(make_app, migrated_database, auth_server, new_user):
    app = trusted_app(make_app, migrated_database, auth_server)
    client = app.test_client()
    users = [new_user() for _ in range(3)]
    reads = count_reads(app)
    for user in users:
        assert client.get("/auth/me", headers=user.headers).status_code == 200
    assert reads == []


def test_a_cutoff_set_before_the_process_started_is_loaded(make_app, migrated_database, auth_server, new_user,
                                                           db_conn):
    user = new_user()
    set_cutoff(db_conn, user.id)
    app = trusted_app(make_app, migrated_database, auth_server)
    reads = count_reads(app)
    answer = app.test_client().get("/auth/me", headers=user.headers)
    assert answer.status_code == 401 and answer.get_json()["code"] == "SESSION_REVOKED"
    assert reads == []


def test_logouts_reach_another_process_with_their_values(make_app, migrated_database, auth_server, new_user):
    """Logout-all and a session logout on one process: the other refuses the old tokens at once, from memory."""
    one = trusted_app(make_app, migrated_database, auth_server)
    other = trusted_app(make_app, migrated_database, auth_server)
    everywhere, session = new_user(), new_user()
    for user in (everywhere, session):
        assert other.test_client().get("/auth/me", headers=user.headers).status_code == 200
    assert one.test_client().post("/auth/logout-all", headers=everywhere.headers).status_code == 204
    assert one.test_client().post("/auth/logout", headers=session.headers).status_code == 204
    reads = count_reads(other)
    for user in (everywhere, session):
        assert other.test_client().get("/auth/me", headers=user.headers).status_code == 401
    assert reads == []
    recent = other.extensions["coner.revocations"].recent
    assert recent.cutoffs[everywhere.id] <= time.time() and recent.sizes()["complete"]


def test_a_message_without_its_value_loads_the_set_again(make_app, migrated_database, auth_server, new_user,
                                                          db_conn):
    """A process of an older release announces `user:<id>` alone: the state is read again from Postgres."""
    app = trusted_app(make_app, migrated_database, auth_server)
    user = new_user()
    set_cutoff(db_conn, user.id)
    app.extensions["coner.revocations"].listener.broadcast(f"user:{user.id}")
    assert user.id in app.extensions["coner.revocations"].recent.cutoffs
    assert app.test_client().get("/auth/me", headers=user.headers).status_code == 401


def test_tokens_beyond_the_horizon_and_sets_beyond_the_cap_are_read_from_postgres():
    recent = RecentRevocations(max_entries=2)
    assert not recent.covers(0, 3600)  # not loaded yet
    recent.complete = True
    assert recent.covers(1_000, 1_000 + HORIZON) and not recent.covers(1_000, 1_001 + HORIZON)
    now = time.time()
    for n in range(3):
        assert recent.apply(f"session:00000000-0000-0000-0000-00000000000{n}:{now + 60!r}")
    assert not recent.complete  # three revoked sessions, a cap of two
    assert not recent.apply("all") and not recent.apply("user:someone")


def test_an_untrusted_process_reads_postgres(make_app, migrated_database, auth_server, new_user):
    app = trusted_app(make_app, migrated_database, auth_server)
    app.extensions["coner.revocations"].listener.stop()  # a stopped listener proves nothing: no trust
    assert not app.extensions["coner.revocations"].listener.trusted
    user = new_user()
    headers = bearer(user.access_token)
    reads = count_reads(app)
    assert app.test_client().get("/auth/me", headers=headers).status_code == 200
    assert len(reads) == 1
