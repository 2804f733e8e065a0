"""Revocation across processes, fail-closed cutoffs, and signing-key rotation, on real servers."""
from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from local_supabase.embedded_postgres import free_port
from tests.conftest import app_settings
from tests.test_auth import bearer, sign_in, sign_up, unique_email

pytestmark = pytest.mark.slow


def hammer(api_url: str, token: str, count: int = 90) -> list[int]:
    """`count` GET /auth/me on fresh connections, so the requests spread over every worker."""
    def one(_):
        with httpx.Client(timeout=10) as fresh:
            return fresh.get(f"{api_url}/auth/me", headers=bearer(token)).status_code

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        return list(pool.map(one, range(count)))


@pytest.fixture(scope="module")
def workers(api_server, migrated_database, auth_server):
    """The API under gunicorn with three worker processes."""
    return api_server(app_settings(migrated_database, auth_server), workers=3)


def api_sign_in(api_url: str, email: str) -> dict:
    response = httpx.post(f"{api_url}/auth/signin", json={"email": email, "password": "correct-horse-1"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def api_sign_up(api_url: str) -> str:
    email = unique_email("workers")
    response = httpx.post(f"{api_url}/auth/signup", json={"email": email, "password": "correct-horse-1"}, timeout=10)
    assert response.status_code == 201, response.text
    return email


def test_logout_all_reaches_every_worker_before_its_204(workers):
    email = api_sign_up(workers.url)
    sessions = [api_sign_in(workers.url, email) for _ in range(2)]
    for session in sessions:  # every worker verifies and caches the tokens
        assert set(hammer(workers.url, session["access_token"])) == {200}
    assert httpx.post(f"{workers.url}/auth/logout-all", headers=bearer(sessions[0]["access_token"]),
                      timeout=10).status_code == 204
    for session in sessions:
        assert set(hammer(workers.url, session["access_token"])) == {401}
    # A sign-in right after the global logout works at once, on every worker.
    fresh = api_sign_in(workers.url, email)
    assert set(hammer(workers.url, fresh["access_token"])) == {200}


def test_logout_reaches_every_worker_before_its_204(workers):
    email = api_sign_up(workers.url)
    ended, kept = api_sign_in(workers.url, email), api_sign_in(workers.url, email)
    assert set(hammer(workers.url, ended["access_token"])) == {200}
    assert httpx.post(f"{workers.url}/auth/logout", headers=bearer(ended["access_token"]),
                      timeout=10).status_code == 204
    assert set(hammer(workers.url, ended["access_token"])) == {401}
    assert set(hammer(workers.url, kept["access_token"], 30)) == {200}


def test_cutoff_that_cannot_be_read_fails_closed(make_app, migrated_database, auth_server, client):
    """A valid token must not pass when the revocation state is unknown (Postgres down): 503, never 200."""
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    broken = make_app(app_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/x", auth_server))
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
    import jwt

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
