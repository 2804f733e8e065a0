"""Safer defaults for deployers: IPv6 clients counted per /64, /ready answered from a short cache, the /dev
routes only in front of a local Supabase, and no sign-in code or flow id in the access log."""
from __future__ import annotations

import math
import time
import uuid

import httpx
import pytest

from coner_api import close_app, create_app
from tests.support.servers import app_settings


def sign_in_from(client, forwarded_for: str):
    return client.post("/auth/signin", json={"email": "nobody@example.com", "password": "wrong-password-1"},
                       headers={"X-Forwarded-For": forwarded_for})


@pytest.fixture(scope="module")
def limited(make_module_app, migrated_database, auth_server):
    return make_module_app(app_settings(migrated_database, auth_server, RATE_LIMIT_AUTH="2/minute", TRUSTED_PROXIES="1"))


def test_ipv6_clients_share_a_budget_per_64(limited):
    client = limited.test_client()
    prefix = f"2001:db8:{uuid.uuid4().int % 65536:x}:1"
    answers = [sign_in_from(client, f"{prefix}::{n:x}").status_code for n in range(1, 4)]
    assert answers == [400, 400, 429]  # three addresses of one /64: one budget
    assert sign_in_from(client, f"{prefix}:0:0:0:ffff").status_code == 429  # same /64, written in full
    other_64 = prefix[:-1] + "2"
    assert sign_in_from(client, f"{other_64}::1").status_code == 400  # the next /64 has its own


def test_ipv4_clients_and_mapped_addresses_count_per_address(limited):
    client = limited.test_client()
    base = f"198.51.{uuid.uuid4().int % 250}"
    assert [sign_in_from(client, f"{base}.7").status_code for _ in range(3)] == [400, 400, 429]
    assert sign_in_from(client, f"::ffff:{base}.7").status_code == 429  # the same IPv4 client
    assert sign_in_from(client, f"{base}.8").status_code == 400


def test_ready_is_answered_from_a_short_cache(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server))
    pool = app.extensions["coner.db"].pool
    client = app.test_client()
    before = pool.get_stats().get("requests_num", 0)
    started = time.monotonic()
    answers = [client.get("/ready") for _ in range(50)]
    elapsed = time.monotonic() - started
    assert {a.status_code for a in answers} == {200} and answers[-1].get_json()["status"] == "ready"
    checks = pool.get_stats().get("requests_num", 0) - before
    # One database check per 2 s window at most, however many requests came (bound by the time it took).
    assert 1 <= checks <= math.ceil(elapsed / 2.0) + 1, (checks, elapsed)


@pytest.mark.parametrize("supabase_url, present", [("http://127.0.0.1:54321", True), ("https://abc.supabase.co", False)])
def test_dev_routes_only_in_front_of_a_local_supabase(migrated_database, auth_server, supabase_url, present):
    settings = app_settings(migrated_database, auth_server, APP_ENV="development", SUPABASE_URL=supabase_url)
    app = create_app(settings)
    try:
        paths = app.test_client().get("/openapi.json").get_json()["paths"]
        assert ("/dev/auth/token" in paths) is present
        if not present:
            assert app.test_client().post("/dev/auth/token", json={}).status_code == 404
    finally:
        close_app(app)


def test_the_access_log_has_no_query_strings(api_server, migrated_database, auth_server):
    api = api_server(app_settings(migrated_database, auth_server), workers=1, GUNICORN_ACCESS_LOG="-")
    try:
        secret_code, flow = f"code-{uuid.uuid4().hex}", str(uuid.uuid4())
        response = httpx.get(f"{api.url}/auth/callback", params={"code": secret_code, "flow": flow}, timeout=10)
        assert response.status_code == 401
        deadline = time.monotonic() + 10
        # gunicorn writes its access line after the answer is sent (the app's own line names the route too).
        while '"GET /auth/callback HTTP/1.1"' not in api.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = api.log()
        assert '"GET /auth/callback HTTP/1.1" 401' in log
        assert secret_code not in log and flow not in log
    finally:
        api.stop()
