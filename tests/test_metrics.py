"""/metrics in one process: off without METRICS_TOKEN, Bearer-protected with it, and each metric the issue
names moving when its event happens. Values are global to the test process (prometheus_client's registry),
so every check is a difference. Across gunicorn's workers: tests/test_metrics_workers.py."""
from __future__ import annotations

import uuid

import pytest

from coner_api.observability.metrics_route import blp as metrics_blueprint
from tests.support.metrics import scrape, value
from tests.support.servers import app_settings, unreachable_url
from tests.support.users import PASSWORD

TOKEN = "metrics-test-token-" + uuid.uuid4().hex


@pytest.fixture
def metered(make_app, migrated_database, auth_server):
    return make_app(app_settings(migrated_database, auth_server, METRICS_TOKEN=TOKEN))


def test_without_a_token_setting_there_is_no_metrics_route(client):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404 and response.get_json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("header", [None, "", "Bearer", f"Basic {TOKEN}", "Bearer wrong-" + TOKEN, f"Bearer {TOKEN}x",
                                    f"Bearer {TOKEN[:-1]}"])
def test_the_route_wants_the_token(metered, header):
    response = metered.test_client().get("/metrics", headers={"Authorization": header} if header is not None else {})
    assert response.status_code == 401 and response.get_json()["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_answer_is_the_prometheus_text_format_unlimited_and_not_in_the_openapi_document(metered):
    client = metered.test_client()
    response = client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN}"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store" and "X-RateLimit-Limit" not in response.headers
    assert "# TYPE coner_http_request_duration_seconds histogram" in response.get_data(as_text=True)
    assert "/metrics" not in client.get("/openapi.json").get_json()["paths"]
    assert metrics_blueprint.name not in {bp for bp in metered.blueprints if bp.startswith("api")}


def test_requests_are_counted_by_method_route_template_and_status(metered, new_user):
    client, user = metered.test_client(), new_user()
    labels = {"method": "GET", "route": "/admin/users/{user_id}", "status": "403"}
    before = scrape(client.get, TOKEN)
    for _ in range(3):
        assert client.get(f"/admin/users/{uuid.uuid4()}", headers=user.headers).status_code == 403
    assert client.get(f"/nothing/here/{uuid.uuid4()}").status_code == 404
    after = scrape(client.get, TOKEN)
    name = "coner_http_request_duration_seconds_count"
    assert value(after, name, **labels) - value(before, name, **labels) == 3
    assert value(after, "coner_http_request_duration_seconds_bucket", le="+Inf", **labels) == value(after, name, **labels)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **unmatched) - value(before, name, **unmatched) == 1
    assert not any("nothing/here" in str(key) for key in after)


def test_sign_in_failures_429s_and_supabase_calls_are_counted(make_app, migrated_database, auth_server, new_user):
    app = make_app(app_settings(migrated_database, auth_server, METRICS_TOKEN=TOKEN, RATE_LIMIT_AUTH="2/minute"))
    client, user = app.test_client(), new_user()
    before = scrape(client.get, TOKEN)
    assert client.post("/auth/signin", json={"email": user.email, "password": PASSWORD}).status_code == 200
    assert client.post("/auth/signin", json={"email": user.email, "password": "wrong-" + PASSWORD}).status_code == 400
    assert client.post("/auth/signin", json={"email": user.email, "password": PASSWORD}).status_code == 429
    after = scrape(client.get, TOKEN)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("coner_signin_failures_total", method="password", code="INVALID_CREDENTIALS") == 1
    assert grew("coner_rate_limited_total", group="credentials") == 1
    assert grew("coner_supabase_auth_request_duration_seconds_count", operation="sign_in") == 2
    assert grew("coner_supabase_auth_errors_total", operation="sign_in", kind="unreachable") == 0


def test_supabase_outages_are_counted_by_operation_and_kind(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server, METRICS_TOKEN=TOKEN, SUPABASE_URL=unreachable_url()))
    client = app.test_client()
    before = scrape(client.get, TOKEN)
    assert client.post("/auth/refresh", json={"refresh_token": "r" * 12}).status_code == 503
    after = scrape(client.get, TOKEN)
    labels = {"operation": "refresh", "kind": "unreachable"}
    assert value(after, "coner_supabase_auth_errors_total", **labels) - \
        value(before, "coner_supabase_auth_errors_total", **labels) == 1


def test_pool_caches_and_purge_acknowledgements(metered, new_user):
    client, user = metered.test_client(), new_user()
    before = scrape(client.get, TOKEN)
    for _ in range(3):
        assert client.get("/auth/me", headers=user.headers).status_code == 200
    assert client.post("/auth/logout", headers=user.headers).status_code == 204
    after = scrape(client.get, TOKEN)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # The first /auth/me verifies the token (a miss), the next two find it; the logout's check finds it too.
    assert grew("coner_cache_lookups_total", cache="verified_tokens", result="hit") >= 2
    assert grew("coner_cache_lookups_total", cache="verified_tokens", result="miss") >= 1
    # Each of the four checked the revocations: from memory once the listener is trusted, else from Postgres.
    assert grew("coner_cache_lookups_total", cache="revocations", result="hit") + \
        grew("coner_cache_lookups_total", cache="revocations", result="miss") >= 4
    assert value(after, "coner_cache_entries", cache="revocations") >= 1  # the session just logged out
    assert value(after, "coner_cache_entries", cache="verified_tokens") >= 1
    assert grew("coner_cache_purge_ack_seconds_count", outcome="acknowledged") >= 1
    assert value(after, "coner_db_pool_max_connections") >= 10
    assert grew("coner_db_pool_checkouts_total") >= 1
    assert ("coner_db_pool_connections", frozenset({("state", "idle")})) in after
