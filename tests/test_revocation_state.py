"""`Revocations` in-process (sessions/revocation.py) on the test Postgres: when a token is refused, where the
answer comes from (memory only while the purge listener is trusted), and what the two ways to revoke write and
announce. The same across gunicorn workers: tests/test_revocation.py."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from coner_api.errors import SessionRevoked
from coner_api.sessions.broadcast import ACK_TIMEOUT, Listener
from coner_api.sessions.recent import HORIZON
from coner_api.sessions.revocation import Revocations
from tests.support.revocations import make_claims, open_database, private_database


@pytest.fixture(scope="module")
def migrated_database(database_url) -> Iterator[str]:
    """A migrated database that only this module's listeners use (a broadcast waits for whoever it hears)."""
    with private_database(database_url, migrated=True) as url:
        yield url


@pytest.fixture
def db(migrated_database):
    with open_database(migrated_database) as db:
        yield db


@pytest.fixture
def idle(db, migrated_database) -> Revocations:
    """Revocations whose listener never ran: untrusted, so every answer is read from Postgres (and a broadcast
    waits its whole timeout: revoke with `live`)."""
    return Revocations(db, migrated_database)


@pytest.fixture
def wire(db, migrated_database) -> Iterator[list[str]]:
    """Every purge message sent from now on, as another process's listener receives it."""
    received: list[str] = []
    listener = Listener(migrated_database, db, received.append, lambda: None)
    listener.start()
    try:
        assert listener.wait_trusted(10)
        yield received
    finally:
        listener.stop()


@pytest.fixture
def live(db, migrated_database) -> Iterator[Revocations]:
    """Revocations with a running, trusted purge listener."""
    revocations = Revocations(db, migrated_database)
    revocations.start()
    try:
        assert revocations.listener.wait_trusted(10)
        yield revocations
    finally:
        revocations.stop()


def set_cutoff(db_conn, user_id: str, epoch: float) -> None:
    """A logout-all written straight to Postgres, announced to no process."""
    db_conn.execute("INSERT INTO user_profiles (user_id, logout_at) VALUES (%s, to_timestamp(%s))",
                    (user_id, epoch))


def session_row(db_conn, session_id: str):
    return db_conn.execute("SELECT user_id, expires_at FROM revoked_sessions WHERE session_id = %s",
                           (session_id,)).fetchone()


def test_a_token_from_the_cutoffs_second_or_before_is_refused_a_later_one_passes(idle, db_conn):
    claims = make_claims(iat=1_000_000, exp=1_003_600)
    set_cutoff(db_conn, claims.user_id, 1_000_000.7)  # iat has whole seconds: this second's tokens may predate it
    for iat in (999_999, 1_000_000):
        with pytest.raises(SessionRevoked):
            idle.check(make_claims(iat=iat, exp=iat + 3600, user_id=claims.user_id))
    idle.check(make_claims(iat=1_000_001, exp=1_004_601, user_id=claims.user_id))


def test_no_cutoff_and_no_revoked_session_pass(idle):
    idle.check(make_claims(iat=1_000_000, exp=1_003_600))
    assert idle.state(make_claims(iat=1_000_000, exp=1_003_600)) == (None, False)


def test_a_revoked_session_is_refused_until_its_row_expires(idle, db_conn):
    claims = make_claims(iat=1_000_000, exp=1_003_600)
    db_conn.execute("INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES "
                    "(%s, %s, now() + interval '1 minute')", (claims.session_id, claims.user_id))
    with pytest.raises(SessionRevoked):
        idle.check(claims)
    other_session = make_claims(iat=1_000_000, exp=1_003_600, user_id=claims.user_id)
    idle.check(other_session)
    db_conn.execute("UPDATE revoked_sessions SET expires_at = now() - interval '1 second' WHERE session_id = %s",
                    (claims.session_id,))
    idle.check(claims)


def test_an_untrusted_process_reads_postgres(idle, db_conn):
    claims = make_claims(iat=int(time.time()) - 10, exp=int(time.time()) + 3600)
    cutoff = round(time.time(), 3)
    set_cutoff(db_conn, claims.user_id, cutoff)
    assert idle.cutoff(claims.user_id) == pytest.approx(cutoff, abs=0.001)
    for _ in range(2):
        with pytest.raises(SessionRevoked):
            idle.check(claims)
    assert (idle.recent.hits, idle.recent.misses) == (0, 2)


def test_a_trusted_process_answers_from_memory(live, db_conn):
    """What its listener was told: a cutoff written to Postgres behind every process's back is not seen."""
    now = int(time.time())
    claims = make_claims(iat=now - 10, exp=now + 3600)
    set_cutoff(db_conn, claims.user_id, time.time())
    live.check(claims)
    live.check(claims)
    assert live.cutoff(claims.user_id) is None
    assert (live.recent.hits, live.recent.misses) == (2, 0)
    live.recent.apply(f"user:{claims.user_id}:{time.time()!r}")
    with pytest.raises(SessionRevoked):
        live.check(claims)
    assert live.cutoff(claims.user_id) == live.recent.cutoffs[claims.user_id]


def test_a_token_beyond_the_horizon_is_read_from_postgres_even_when_trusted(live, db_conn):
    now = int(time.time())
    claims = make_claims(iat=now - 10, exp=now - 10 + HORIZON + 1)
    set_cutoff(db_conn, claims.user_id, time.time())
    with pytest.raises(SessionRevoked):
        live.check(claims)
    assert live.recent.misses == 1


def test_with_its_listener_down_a_process_stops_trusting_its_memory(live, db_conn):
    now = int(time.time())
    claims = make_claims(iat=now - 10, exp=now + 3600)
    live.stop()
    assert not live.listener.trusted
    set_cutoff(db_conn, claims.user_id, time.time())
    with pytest.raises(SessionRevoked):
        live.check(claims)
    assert live.cutoff(claims.user_id) is not None


def test_an_incomplete_set_answers_no_cutoff_question(live, db_conn):
    user = str(uuid.uuid4())
    set_cutoff(db_conn, user, time.time())
    live.recent.complete = False  # e.g. past its cap
    assert live.cutoff(user) is not None


def test_logout_everywhere_sets_the_cutoff_and_brings_it_to_the_listeners_before_returning(live, db_conn,
                                                                                         wire):
    user = str(uuid.uuid4())
    before = datetime.now(timezone.utc)
    started = time.monotonic()
    logout_at = live.logout_everywhere(user, "")
    assert time.monotonic() - started < ACK_TIMEOUT  # every listener acknowledged: no waiting for the timeout
    assert f"user:{user}:{logout_at.timestamp()!r}" in wire  # the message carries the value
    assert before - timedelta(seconds=5) <= logout_at <= datetime.now(timezone.utc) + timedelta(seconds=5)
    row = db_conn.execute("SELECT email, logout_at FROM user_profiles WHERE user_id = %s", (user,)).fetchone()
    assert row == (None, logout_at)  # no e-mail: NULL, not ""
    assert live.recent.cutoffs[user] == logout_at.timestamp()  # our own listener applied it already
    with pytest.raises(SessionRevoked):
        live.check(make_claims(iat=int(logout_at.timestamp()), exp=int(time.time()) + 3600, user_id=user))


def test_logout_everywhere_keeps_the_email(live, db_conn):
    user = str(uuid.uuid4())
    live.logout_everywhere(user, f"{user}@example.com")
    assert db_conn.execute("SELECT email FROM user_profiles WHERE user_id = %s", (user,)).fetchone() \
        == (f"{user}@example.com",)


def test_a_token_without_a_session_id_has_no_session_to_revoke(idle):
    with pytest.raises(ValueError):
        idle.revoke_session(make_claims(iat=1_000_000, exp=1_003_600, session_id=None))


def test_a_revoked_session_is_kept_until_its_last_token_can_have_expired(live, db_conn, wire):
    """Other tokens of the session were issued before now and live at most as long: its lifetime, plus a
    minute of clock difference, from now."""
    now = int(time.time())
    claims = make_claims(iat=now - 600, exp=now + 3000)
    before = time.time()
    live.revoke_session(claims)
    after = time.time()
    user_id, expires_at = session_row(db_conn, claims.session_id)
    assert str(user_id) == claims.user_id
    assert before + 3600 + 60 - 0.001 <= expires_at.timestamp() <= after + 3600 + 60 + 0.001
    assert f"session:{claims.session_id}:{expires_at.timestamp()!r}" in wire
    assert live.recent.sessions[claims.session_id] == expires_at.timestamp()
    with pytest.raises(SessionRevoked):
        live.check(claims)


def test_a_token_of_no_lifetime_keeps_its_session_revoked_for_the_margin(live, db_conn):
    now = int(time.time())
    claims = make_claims(iat=now - 5, exp=now - 5)
    before = time.time()
    live.revoke_session(claims)
    after = time.time()
    assert before + 60 - 0.001 <= session_row(db_conn, claims.session_id)[1].timestamp() <= after + 60 + 0.001


def test_a_revoked_session_is_kept_at_least_until_the_token_expires(live, db_conn):
    """A token issued ahead of our clock (skew) expires later than now + its lifetime + a minute."""
    now = int(time.time())
    claims = make_claims(iat=now + 1000, exp=now + 1100)
    live.revoke_session(claims)
    assert session_row(db_conn, claims.session_id)[1].timestamp() == claims.exp


def test_revoking_a_session_purges_the_expired_rows(live, db_conn):
    expired = str(uuid.uuid4())
    db_conn.execute("INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES "
                    "(%s, %s, now() - interval '1 second')", (expired, str(uuid.uuid4())))
    now = int(time.time())
    live.revoke_session(make_claims(iat=now, exp=now + 60))
    assert session_row(db_conn, expired) is None


def test_a_message_without_its_value_reloads_the_set(live, db_conn):
    user = str(uuid.uuid4())
    set_cutoff(db_conn, user, time.time())
    live._apply(f"user:{user}")
    assert user in live.recent.cutoffs and live.recent.complete
    live._apply(f"user:{uuid.uuid4()}:12.5")
    assert 12.5 in live.recent.cutoffs.values()
