"""The embedded Postgres launcher: starts from nothing, keeps data across restarts, reuses a live server."""
from __future__ import annotations

import psycopg
import pytest

from local_supabase.embedded_postgres import EmbeddedPostgres


@pytest.fixture
def server(tmp_path):
    pg = EmbeddedPostgres(tmp_path / "data")
    yield pg
    pg.destroy()


def test_start_stop_restart_keeps_data(server):
    server.start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    port = server.port
    server.stop()
    assert server.running_port() is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url(), connect_timeout=2)
    server.start()
    assert server.port == port
    with psycopg.connect(server.url()) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == ("still here",)


def test_a_second_launcher_reuses_the_running_server(server):
    server.start()
    again = EmbeddedPostgres(server.data_dir).start()
    assert again.port == server.port
    with psycopg.connect(again.url()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stop_when_not_running_is_harmless(server):
    server.stop()
    server.init()
    server.stop()
    assert server.running_port() is None
