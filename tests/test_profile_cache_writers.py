"""Every statement of the package that writes `user_profiles` either sends the profile-cache purge with its
change or changes nothing a cached GET /users/profile body holds (coner_api/profiles/cache.py). A new write
fails here until it is put on one side or the other; tests/test_profile_cache.py shows the purging ones
reach every process."""
from __future__ import annotations

import re

from coner_api.db import QUERIES

# What a cached body holds: the seven setup fields, and that the row is not deleted.
CACHED_COLUMNS = {"full_name", "dob", "sex", "phone_number", "address", "school", "major", "is_deleted"}
PURGING = {"profile_first_time_setup", "profile_patch", "admin_mark_profile_deleted"}
PURGE = "pg_notify(%(purge_channel)s, %(purge_payload)s)"
WRITE = re.compile(r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(public\.)?user_profiles\b", re.I)


def writes() -> dict[str, str]:
    return {name: sql for name, sql in QUERIES.items() if WRITE.search(sql)}


def assigned(sql: str) -> set[str]:
    """The columns a statement sets (`column = ...` in SET or DO UPDATE SET; comparisons look alike and
    count too, which errs towards a purge)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return set(re.findall(r"\b(\w+)\s*=(?!=)", body)) & CACHED_COLUMNS


def test_the_writes_found_are_the_known_ones():
    assert PURGING <= set(writes())
    assert {"profile_ensure", "profile_update_legacy", "create_profile_at_signup", "mark_email_verified",
            "profile_follow_email", "set_logout_cutoff"} <= set(writes())


def test_every_write_of_a_cached_column_sends_its_purge_in_the_statement():
    for name, sql in writes().items():
        if name in PURGING:
            assert PURGE in sql, f"{name} changes what the profile cache holds but sends no purge"
        else:
            assert not assigned(sql), (f"{name} writes {assigned(sql)}, which the profile cache holds: send "
                                       "the purge in the statement (profiles/cache.py) and list it in PURGING")


def test_no_statement_removes_a_row():
    """The cache keeps no 'no such row' answers, so a row that appears needs no purge; one that vanished and
    came back would."""
    for name, sql in QUERIES.items():
        assert not re.search(r"\bDELETE\s+FROM\s+(public\.)?user_profiles\b", sql, re.I), name
