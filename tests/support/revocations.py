"""Revocation state without an app: the product's `Database` on the test Postgres, and `Claims` made by hand
(what the verifier would return), for tests of sessions/recent.py, revocation.py and broadcast.py that run
in-process and in well under a second each (mutation testing runs them once per mutant)."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from coner_api.config import Config
from coner_api.db import Database
from coner_api.sessions.tokens import Claims


def config_without_supabase(database_url: str, **settings: str) -> Config:
    """A `Config` for code that reads the database and settings but never calls Supabase."""
    return Config.from_env({"APP_ENV": "test", "DATABASE_URL": database_url,
                            "SUPABASE_URL": "http://127.0.0.1:9", "SUPABASE_ANON_KEY": "unused",
                            "SUPABASE_SERVICE_ROLE_KEY": "unused",
                            "OAUTH_REDIRECT_URL": "http://127.0.0.1:8080/auth/callback", **settings})


@contextmanager
def open_database(database_url: str) -> Iterator[Database]:
    """The product's pool on `database_url` (no app: the Supabase settings are never used)."""
    db = Database(config_without_supabase(database_url))
    db.open()
    try:
        yield db
    finally:
        db.close()


def make_claims(iat: int, exp: int, user_id: str | None = None, session_id: str | None = "new") -> Claims:
    """A verified token's claims for a fresh user (and a fresh session unless `session_id` is None)."""
    return Claims(user_id=user_id or str(uuid.uuid4()), email=None, role="authenticated",
                  session_id=str(uuid.uuid4()) if session_id == "new" else session_id, iat=iat, exp=exp,
                  roles=())


@contextmanager
def private_database(database_url: str, migrated: bool = False) -> Iterator[str]:
    """A database of its own on the server of `database_url` (empty, or with the product schema), dropped
    afterwards: LISTEN/NOTIFY is per database, so listeners there hear no other test process (mutation testing
    runs two at once, and a broadcast waits for every listener it heard)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"coner_private_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_conninfo(**{**conninfo_to_dict(database_url), "dbname": name})
        if migrated:
            from coner_api.migrations import migrate
            from tests.support.servers import REPO

            migrate(url, REPO / "sql")
        yield url
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
