"""Migrations: ordered, recorded, idempotent, atomic per file, and safe when two releases run at once."""
from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from coner_api.migrations import migrate
from tests.support.servers import REPO

REPO_SQL = REPO / "sql"


@pytest.fixture
def fresh_database(database_url):
    """An empty database of its own on the test server, dropped afterwards."""
    name = f"mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(database_url)
    params["dbname"] = name
    yield make_conninfo(**params)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def versions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_applies_every_file_in_order_and_records_it(fresh_database):
    expected = sorted(p.stem for p in REPO_SQL.glob("*.sql"))
    assert migrate(fresh_database, REPO_SQL) == expected
    assert versions(fresh_database) == expected
    with psycopg.connect(fresh_database) as conn:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'user_profiles'")}
        assert {"user_id", "display_name", "logout_at", "is_deleted", "profile_initialized_at"} <= columns
        assert conn.execute("SELECT to_regclass('revoked_sessions')").fetchone()[0] == "revoked_sessions"


def test_second_run_applies_nothing(fresh_database):
    migrate(fresh_database, REPO_SQL)
    assert migrate(fresh_database, REPO_SQL) == []


def test_two_concurrent_runs_apply_each_file_once(fresh_database):
    results, failures = [], []

    def run():
        try:
            results.append(migrate(fresh_database, REPO_SQL))
        except Exception as exc:  # surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    applied = [v for result in results for v in result]
    assert sorted(applied) == sorted(p.stem for p in REPO_SQL.glob("*.sql"))
    assert versions(fresh_database) == sorted(applied)


def test_a_failing_file_leaves_nothing_behind(fresh_database, tmp_path):
    (tmp_path / "001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM no_such_table;")
    with pytest.raises(Exception):
        migrate(fresh_database, tmp_path)
    assert versions(fresh_database) == ["001_good"]
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT to_regclass('half')").fetchone()[0] is None
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (id int);")
    assert migrate(fresh_database, tmp_path) == ["002_bad"]


def test_badly_named_files_are_refused(fresh_database, tmp_path):
    (tmp_path / "1-init.sql").write_text("SELECT 1;")
    with pytest.raises(RuntimeError, match="001_name.sql"):
        migrate(fresh_database, tmp_path)


def test_the_release_step_migrates_over_the_direct_connection_when_there_is_one(fresh_database, monkeypatch,
                                                                                capsys):
    """DATABASE_LISTEN_URL marks DATABASE_URL as a transaction pooler, through which a session's advisory lock
    may be taken and released on different server connections: the release step uses the direct one."""
    from coner_api import migrations

    monkeypatch.chdir(REPO)
    for name, value in RELEASE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/unreachable")
    monkeypatch.setenv("DATABASE_LISTEN_URL", fresh_database)
    assert migrations.main() == 0
    assert versions(fresh_database) == sorted(p.stem for p in REPO_SQL.glob("*.sql"))


RELEASE_ENV = {"APP_ENV": "production", "TRUSTED_PROXIES": "1", "SUPABASE_URL": "https://ref.supabase.co",
               "SUPABASE_ANON_KEY": "anon", "SUPABASE_SERVICE_ROLE_KEY": "service",
               "OAUTH_REDIRECT_URL": "https://api.example.com/auth/callback"}


def test_the_release_step_refuses_a_configuration_the_web_process_would_refuse(fresh_database, monkeypatch,
                                                                               capsys):
    """A release that passes goes live: with a configuration the app refuses, every web process would then
    crash-loop. Refused here in one line, and nothing migrated."""
    from coner_api import migrations

    for name, value in {**RELEASE_ENV, "DATABASE_URL": fresh_database, "TRUSTED_PROXIES": ""}.items():
        monkeypatch.setenv(name, value)
    assert migrations.main() == 3
    err = capsys.readouterr().err
    assert err.startswith("release refused: ") and "TRUSTED_PROXIES" in err and "Traceback" not in err
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None


def test_an_unreachable_database_is_said_in_its_own_words(monkeypatch, capsys):
    from coner_api import migrations

    for name, value in {**RELEASE_ENV, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}.items():
        monkeypatch.setenv(name, value)
    assert migrations.main() == 1
    err = capsys.readouterr().err
    assert "migrations failed: OperationalError" in err and "127.0.0.1" in err
