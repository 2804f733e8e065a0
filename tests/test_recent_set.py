"""`RecentRevocations` in-process (sessions/recent.py): what a broadcast message does to the set, what it
forgets and when, its bounds, and what a load from Postgres holds. The app-level behaviour (no read while
trusted, messages between processes) is tests/test_recent_revocations.py."""
from __future__ import annotations

import time
import uuid

import pytest

from coner_api.sessions.recent import HORIZON, MARGIN, MAX_ENTRIES, PRUNE_EVERY, RecentRevocations
from tests.support.revocations import open_database

SESSION = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
USER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"


def due_for_pruning(recent: RecentRevocations) -> None:
    """As if the last prune was longer ago than PRUNE_EVERY (the next message prunes)."""
    recent._pruned_at = time.monotonic() - PRUNE_EVERY - 1


def test_a_new_set_is_empty_incomplete_and_bounded_by_the_defaults():
    recent = RecentRevocations()
    assert (recent.max_entries, recent.horizon) == (MAX_ENTRIES, HORIZON)
    assert not recent.complete and len(recent) == 0
    assert recent.sizes() == {"cutoffs": 0, "sessions": 0, "complete": False}
    assert (recent.name, recent.hits, recent.misses) == ("revocations", 0, 0)  # its /metrics cache name


def test_covers_only_a_complete_set_and_tokens_within_the_horizon():
    recent = RecentRevocations(horizon=3600)
    assert not recent.covers(1_000, 2_000)
    recent.complete = True
    assert recent.covers(1_000, 2_000)
    assert recent.covers(1_000, 1_000 + 3600)  # a lifetime of exactly the horizon is covered
    assert not recent.covers(1_000, 1_001 + 3600)


def test_messages_carry_their_values_and_only_ever_move_them_later():
    recent = RecentRevocations()
    assert recent.apply(f"user:{USER}:1000.5") and recent.apply(f"session:{SESSION}:{time.time() + 600!r}")
    assert recent.cutoffs == {USER: 1000.5}
    assert recent.state(USER, SESSION) == (1000.5, True)
    assert recent.apply(f"user:{USER}:900.0")  # an older cutoff arriving late does not move it back
    assert recent.cutoffs[USER] == 1000.5
    assert recent.apply(f"user:{USER}:2000.0")
    assert recent.cutoffs[USER] == 2000.0
    until = recent.sessions[SESSION]
    assert recent.apply(f"session:{SESSION}:{until - 100!r}") and recent.sessions[SESSION] == until
    assert recent.apply(f"session:{SESSION}:{until + 100!r}") and recent.sessions[SESSION] == until + 100
    assert len(recent) == 2 and recent.sizes() == {"cutoffs": 1, "sessions": 1, "complete": False}


@pytest.mark.parametrize("message", ["all", f"user:{USER}", f"user:{USER}:", f"session:{SESSION}:soon",
                                     "mfa:someone:12.0", f"{USER}:12.0"])
def test_a_message_without_a_usable_value_asks_for_a_reload_and_changes_nothing(message):
    recent = RecentRevocations()
    assert recent.apply(message) is False
    assert len(recent) == 0


def test_state_answers_from_the_set():
    recent = RecentRevocations()
    recent.apply(f"user:{USER}:1000.0")
    recent.apply(f"session:{SESSION}:{time.time() + 600!r}")
    assert recent.state(USER, None) == (1000.0, False)  # a token without a session is never session-revoked
    assert recent.state(USER, str(uuid.uuid4())) == (1000.0, False)
    assert recent.state(str(uuid.uuid4()), SESSION) == (None, True)


def test_the_cap_holds_at_max_entries_and_is_passed_by_one_more(caplog):
    recent = RecentRevocations(max_entries=2)
    recent.complete = True
    soon = time.time() + 600
    for n in range(2):
        assert recent.apply(f"session:{uuid.uuid4()}:{soon!r}") and recent.apply(f"user:{uuid.uuid4()}:1.0")
    assert recent.complete  # exactly the cap of each kind: still complete
    assert "recent logouts" not in caplog.text
    assert recent.apply(f"user:{uuid.uuid4()}:1.0")
    assert recent.complete is False  # one cutoff too many: Postgres is read from now on
    assert recent.sizes()["complete"] is False
    assert "more than 2 recent logouts" in caplog.text  # the operator is told why
    recent.complete = True
    recent.cutoffs.clear()
    assert recent.apply(f"session:{uuid.uuid4()}:{soon!r}")
    assert not recent.complete  # one revoked session too many
    assert recent.apply(f"user:{uuid.uuid4()}:1.0") and not recent.complete  # never complete again by itself


def test_a_message_prunes_what_can_no_longer_refuse_anything_once_per_interval():
    recent = RecentRevocations(horizon=3600)
    now = time.time()
    old, recent_enough = str(uuid.uuid4()), str(uuid.uuid4())
    ended, live = str(uuid.uuid4()), str(uuid.uuid4())
    recent.apply(f"user:{old}:{now - 3600 - MARGIN - 60!r}")
    recent.apply(f"user:{recent_enough}:{now - 3600 - MARGIN + 60!r}")
    recent.apply(f"session:{ended}:{now - 1!r}")
    recent.apply(f"session:{live}:{now + 60!r}")
    assert len(recent) == 4  # not pruned: the last prune (at creation) is less than PRUNE_EVERY ago
    due_for_pruning(recent)
    recent.apply(f"user:{USER}:{now!r}")
    assert set(recent.cutoffs) == {recent_enough, USER} and set(recent.sessions) == {live}
    recent.apply(f"session:{ended}:{now - 1!r}")  # pruned again only PRUNE_EVERY later
    assert ended in recent.sessions


def test_clear_forgets_everything_and_marks_the_set_incomplete():
    recent = RecentRevocations()
    recent.apply(f"user:{USER}:1.0")
    recent.apply(f"session:{SESSION}:{time.time() + 60!r}")
    recent.complete = True
    recent.clear()
    assert recent.complete is False and recent.cutoffs == {} and recent.sessions == {}


def test_load_reads_the_cutoffs_within_horizon_and_margin_and_the_live_sessions(migrated_database, db_conn):
    within, beyond = str(uuid.uuid4()), str(uuid.uuid4())
    live, ended = str(uuid.uuid4()), str(uuid.uuid4())
    # A horizon of one hour: a cutoff 62 min old is still within horizon + MARGIN (65 min), 70 min is not.
    db_conn.execute("INSERT INTO user_profiles (user_id, logout_at) VALUES "
                    "(%s, now() - interval '62 minutes'), (%s, now() - interval '70 minutes')", (within, beyond))
    db_conn.execute("INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES "
                    "(%s, %s, now() + interval '1 minute'), (%s, %s, now() - interval '1 second')",
                    (live, within, ended, within))
    recent = RecentRevocations(horizon=3600)
    with open_database(migrated_database) as db:
        recent.load(db)
        assert recent.complete
        assert within in recent.cutoffs and beyond not in recent.cutoffs
        assert live in recent.sessions and ended not in recent.sessions
        assert recent.sessions[live] > time.time()
        assert abs(recent.cutoffs[within] - (time.time() - 62 * 60)) < 30
        # On a connection of the caller's (the listener's own), the same.
        fresh = RecentRevocations(horizon=3600)
        with db.connection() as conn:
            fresh.load(db, conn)
        assert fresh.complete and within in fresh.cutoffs and live in fresh.sessions


def test_a_load_beyond_the_cap_leaves_the_set_incomplete(migrated_database, db_conn):
    user = str(uuid.uuid4())
    db_conn.execute("INSERT INTO user_profiles (user_id, logout_at) VALUES (%s, now())", (user,))
    db_conn.execute("INSERT INTO revoked_sessions (session_id, user_id, expires_at) VALUES "
                    "(%s, %s, now() + interval '1 minute')", (str(uuid.uuid4()), user))
    with open_database(migrated_database) as db:
        none_allowed = RecentRevocations(max_entries=0)
        none_allowed.load(db)
        assert not none_allowed.complete and len(none_allowed.cutoffs) == 1  # the cap plus one, no more
        plenty = RecentRevocations()
        plenty.load(db)
        assert plenty.complete
