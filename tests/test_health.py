"""Health routes: /health, /ready and the trivial /auth/health, with real outages."""
from __future__ import annotations

import time

import pytest

from tests.support.servers import app_settings, unreachable_url


def test_health_reports_database_and_redis(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "db": True, "redis": "disabled"}


def test_auth_health_is_trivial(client):
    response = client.get("/auth/health")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "service": "auth"}


def test_ready_when_every_service_answers(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready",
                                   "services": {"database": "ok", "auth": "ok", "redis": "disabled"}}


@pytest.fixture
def app_without_database(make_app, migrated_database, auth_server):
    return make_app(app_settings(unreachable_url("postgresql", "/nothing"), auth_server))


def test_health_is_500_in_the_contracts_shape_when_postgres_is_down(app_without_database):
    started = time.monotonic()
    response = app_without_database.test_client().get("/health")
    assert response.status_code == 500
    body = response.get_json()
    assert body["status"] == "error" and body["code"] == "DB_UNAVAILABLE" and body["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    # The pool's checkout timeout bounds the wait; far from a 30 s hang.
    assert time.monotonic() - started < 10


def test_ready_names_the_database_when_postgres_is_down(app_without_database):
    response = app_without_database.test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not_ready"
    assert body["services"]["database"] != "ok" and body["services"]["auth"] == "ok"
    assert body["code"] == "DB_UNAVAILABLE"


def test_ready_names_auth_when_supabase_auth_is_unreachable(make_app, migrated_database, auth_server):
    settings = app_settings(migrated_database, auth_server, SUPABASE_URL=unreachable_url())
    response = make_app(settings).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["services"]["auth"] != "ok" and body["services"]["database"] == "ok"
    assert body["code"] == "AUTH_UNAVAILABLE"


def test_health_ignores_query_strings_and_refuses_other_methods(client):
    assert client.get("/health?verbose=1&x=%00").status_code == 200
    response = client.post("/health", data="{}", content_type="application/json")
    assert response.status_code == 405
    assert response.get_json() == {"error": "Method not allowed", "code": "METHOD_NOT_ALLOWED"}
