"""Revocation across processes, fail-closed cutoffs, and signing-key rotation, on real servers."""
from __future__ import annotations

import httpx
import jwt
import pytest

from tests.support.faults import hammer
from tests.support.servers import app_settings, unreachable_url
from tests.support.users import bearer, sign_in, sign_up, unique_email

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workers(module_api_server, migrated_database, auth_server):
    """The API under gunicorn with three worker processes, shared by the module's tests."""
    return module_api_server(app_settings(migrated_database, auth_server), workers=3)


def test_logout_all_reaches_every_worker_before_its_204(workers):
    email, _ = sign_up(workers.url, unique_email("workers"))
    sessions = [sign_in(workers.url, email) for _ in range(2)]
    for session in sessions:  # every worker verifies and caches the tokens
        assert set(hammer(workers.url, session["access_token"])) == {200}
    assert httpx.post(f"{workers.url}/auth/logout-all", headers=bearer(sessions[0]["access_token"]),
                      timeout=10).status_code == 204
    for session in sessions:
        assert set(hammer(workers.url, session["access_token"])) == {401}
    # A sign-in right after the global logout works at once, on every worker.
    fresh = sign_in(workers.url, email)
    assert set(hammer(workers.url, fresh["access_token"])) == {200}


def test_logout_reaches_every_worker_before_its_204(workers):
    email, _ = sign_up(workers.url, unique_email("workers"))
    ended, kept = sign_in(workers.url, email), sign_in(workers.url, email)
    assert set(hammer(workers.url, ended["access_token"])) == {200}
    assert httpx.post(f"{workers.url}/auth/logout", headers=bearer(ended["access_token"]),
                      timeout=10).status_code == 204
    assert set(hammer(workers.url, ended["access_token"])) == {401}
    assert set(hammer(workers.url, kept["access_token"], 30)) == {200}


def test_cutoff_that_cannot_be_read_fails_closed(make_app, migrated_database, auth_server, client):
    """A valid token must not pass when the revocation state is unknown (Postgres down): 503, never 200."""
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    broken = make_app(app_settings(unreachable_url("postgresql", "/x"), auth_server))
    response = broken.test_client().get("/auth/me", headers=bearer(token))
    assert response.status_code == 503
    assert response.get_json()["code"] == "DB_UNAVAILABLE"


def test_rotated_signing_key(start_auth_server, make_app, migrated_database):
    server = start_auth_server(fresh=True)
    client = make_app(app_settings(migrated_database, server)).test_client()
    email, _ = sign_up(client)
    old_token = sign_in(client, email)["access_token"]
    assert client.get("/auth/me", headers=bearer(old_token)).status_code == 200

    rotated = httpx.post(f"{server.url}/_local/keys/rotate", headers=bearer(server.service_role_key), timeout=5)
    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    new_token = sign_in(client, email)["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert client.get("/auth/me", headers=bearer(new_token)).status_code == 200   # after one refetch
    assert client.get("/auth/me", headers=bearer(old_token)).status_code == 200   # old key still listed

    old_kid = jwt.get_unverified_header(old_token)["kid"]
    revoked = httpx.post(f"{server.url}/_local/keys/revoke", json={"kid": old_kid},
                         headers=bearer(server.service_role_key), timeout=5)
    assert revoked.status_code == 200
    # A fresh process (no cached JWKS or verified tokens) no longer accepts the withdrawn key.
    cold = make_app(app_settings(migrated_database, server)).test_client()
    assert cold.get("/auth/me", headers=bearer(old_token)).status_code == 401
    assert cold.get("/auth/me", headers=bearer(new_token)).status_code == 200
