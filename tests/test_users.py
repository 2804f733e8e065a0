"""The /users routes: auth -> ensure profile -> handler, once-only setup, partial updates, isolation."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.profiles import VALID
from tests.support.servers import app_settings
from tests.support.users import SignedInUser, sign_up_user

LEGACY_KEYS = {"id", "display_name", "avatar_url", "email", "profession", "company", "bio", "skills",
               "work_style", "years_experience", "linkedin_url", "portfolio_url", "created_at", "updated_at",
               "last_seen_at", "is_deleted"}
PROFILE_KEYS = set(VALID)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ROUTES = [("get", "/users/me"), ("put", "/users/me"), ("get", "/users/profile"),
          ("put", "/users/profile-first"), ("patch", "/users/profile")]


def row(db_conn, user_id: str) -> dict | None:
    cursor = db_conn.execute(
        "SELECT xmin::text AS xmin, *, (SELECT count(*) FROM user_profiles WHERE user_id = %(id)s) AS n"
        " FROM user_profiles WHERE user_id = %(id)s", {"id": user_id})
    values = cursor.fetchone()
    return None if values is None else dict(zip([c.name for c in cursor.description], values))


# ------------------------------------------------------------------------------------------------ auth
@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
def test_every_route_needs_a_valid_token(client, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, json={"full_name": ""}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_row_is_created_for_a_refused_token(client, db_conn, new_user):
    user = new_user()
    client.get("/users/me", headers={"Authorization": f"Bearer {user.access_token}x"})
    assert row(db_conn, user.id) is None


# ---------------------------------------------------------------------------------------- ensure_profile
def test_first_request_creates_the_profile_row(client, db_conn, new_user):
    user = new_user()
    assert row(db_conn, user.id) is None
    response = client.get("/users/profile", headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == {key: None for key in PROFILE_KEYS}
    created = row(db_conn, user.id)
    assert created["n"] == 1 and created["email"] == user.email
    assert created["profile_initialized_at"] is None and created["is_deleted"] is False


def test_warm_requests_do_not_write_the_row(client, db_conn, new_user):
    user = new_user()
    assert client.get("/users/me", headers=user.headers).status_code == 200
    before = row(db_conn, user.id)
    for path in ("/users/me", "/users/profile", "/users/me"):
        assert client.get(path, headers=user.headers).status_code == 200
    after = row(db_conn, user.id)
    assert after["xmin"] == before["xmin"]
    assert after["last_seen_at"] == before["last_seen_at"] and after["updated_at"] == before["updated_at"]


def test_a_new_process_does_not_rewrite_a_fresh_row(make_app, migrated_database, auth_server, client, db_conn,
                                                    new_user):
    user = new_user()
    client.get("/users/me", headers=user.headers)
    before = row(db_conn, user.id)
    other_process = make_app(app_settings(migrated_database, auth_server)).test_client()
    assert other_process.get("/users/me", headers=user.headers).status_code == 200
    assert row(db_conn, user.id)["xmin"] == before["xmin"]


def test_last_seen_at_is_refreshed_once_it_is_a_minute_old(make_app, migrated_database, auth_server, client,
                                                           db_conn, new_user):
    user = new_user()
    client.get("/users/me", headers=user.headers)
    db_conn.execute("UPDATE user_profiles SET last_seen_at = now() - interval '2 minutes' WHERE user_id = %s",
                    (user.id,))
    stale = row(db_conn, user.id)
    # A process that has not touched the row within the minute (this one has, so it skips the database).
    other_process = make_app(app_settings(migrated_database, auth_server)).test_client()
    assert other_process.get("/users/me", headers=user.headers).status_code == 200
    refreshed = row(db_conn, user.id)
    assert refreshed["last_seen_at"] > stale["last_seen_at"]
    assert refreshed["updated_at"] == stale["updated_at"]  # being seen is not an update
    assert other_process.get("/users/me", headers=user.headers).status_code == 200
    assert row(db_conn, user.id)["xmin"] == refreshed["xmin"]


def test_a_deleted_profile_is_not_found_and_not_recreated(client, db_conn, new_user):
    user = new_user()
    client.get("/users/me", headers=user.headers)
    db_conn.execute("UPDATE user_profiles SET is_deleted = true WHERE user_id = %s", (user.id,))
    for method, path in [("get", "/users/me"), ("get", "/users/profile")]:
        response = getattr(client, method)(path, headers=user.headers)
        assert response.status_code == 404
        assert response.get_json() == {"error": "Profile not found", "code": "NOT_FOUND"}
    response = client.put("/users/profile-first", json=VALID, headers=user.headers)
    assert response.status_code == 404
    assert row(db_conn, user.id)["n"] == 1 and row(db_conn, user.id)["full_name"] is None


# --------------------------------------------------------------------------------------- legacy profile
def test_legacy_profile_has_the_contracts_keys(client, new_user):
    user = new_user()
    body = client.get("/users/me", headers=user.headers).get_json()
    assert set(body) == LEGACY_KEYS
    assert body["id"] == user.id and body["email"] == user.email and body["is_deleted"] is False
    for key in ("created_at", "updated_at", "last_seen_at"):
        assert TIMESTAMP.match(body[key]), body[key]


def test_legacy_update_changes_only_what_is_sent(client, db_conn, new_user):
    user = new_user()
    first = client.put("/users/me", json={"display_name": "Alice", "avatar_url": "https://cdn.example.com/a.png"},
                       headers=user.headers).get_json()
    db_conn.execute("UPDATE user_profiles SET profession = 'Engineer', skills = ARRAY['SQL', 'Python'],"
                    " years_experience = 5 WHERE user_id = %s", (user.id,))
    response = client.put("/users/me", json={"display_name": "Alice Smith"}, headers=user.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["display_name"] == "Alice Smith"
    assert body["avatar_url"] == "https://cdn.example.com/a.png"
    assert (body["profession"], body["skills"], body["years_experience"]) == ("Engineer", ["SQL", "Python"], 5)
    assert body["updated_at"] >= first["updated_at"] and body["created_at"] == first["created_at"]


# -------------------------------------------------------------------------------------- first-time setup
def test_the_contracts_profile_setup_flow(client, new_user):
    user = new_user()
    response = client.put("/users/profile-first", json=VALID, headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == VALID

    change = {"phone_number": "9876543210", "address": "456 Oak Ave, New York, NY 10001"}
    response = client.patch("/users/profile", json=change, headers=user.headers)
    assert response.status_code == 200
    assert response.get_json() == {**VALID, **change}
    assert client.get("/users/profile", headers=user.headers).get_json() == {**VALID, **change}


def test_setup_succeeds_only_once(client, db_conn, new_user):
    user = new_user()
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    stored = row(db_conn, user.id)
    response = client.put("/users/profile-first", json={**VALID, "full_name": "Mallory", "sex": "male"},
                          headers=user.headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Profile already initialized", "code": "PROFILE_ALREADY_INITIALIZED"}
    assert row(db_conn, user.id) == stored
    assert client.get("/users/profile", headers=user.headers).get_json() == VALID


def test_setup_records_when_it_happened(client, db_conn, new_user):
    user = new_user()
    client.put("/users/profile-first", json=VALID, headers=user.headers)
    stored = row(db_conn, user.id)
    assert stored["profile_initialized_at"] is not None
    assert stored["updated_at"] >= stored["created_at"]


# -------------------------------------------------------------------------------------------------- PATCH
def test_patch_before_setup_is_refused(client, db_conn, new_user):
    user = new_user()
    response = client.patch("/users/profile", json={"school": "MIT"}, headers=user.headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Profile not initialized", "code": "PROFILE_NOT_INITIALIZED"}
    assert row(db_conn, user.id)["school"] is None


def test_patch_leaves_omitted_fields_untouched(client, new_user):
    user = new_user()
    client.put("/users/profile-first", json=VALID, headers=user.headers)
    for change in ({"school": "MIT"}, {"dob": "1990-01-01"}, {"major": "Physics", "address": "1 Main St"}):
        expected = {**client.get("/users/profile", headers=user.headers).get_json(), **change}
        response = client.patch("/users/profile", json=change, headers=user.headers)
        assert response.status_code == 200
        assert response.get_json() == expected
    final = client.get("/users/profile", headers=user.headers).get_json()
    assert final == {**VALID, "school": "MIT", "dob": "1990-01-01", "major": "Physics", "address": "1 Main St"}


def test_concurrent_patches_of_different_fields_keep_both(app, new_user):
    user = new_user()
    client = app.test_client()
    client.put("/users/profile-first", json=VALID, headers=user.headers)

    def patch(change: dict) -> int:
        return app.test_client().patch("/users/profile", json=change, headers=user.headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_number in range(10):
            changes = [{"address": f"Address {round_number}"}, {"school": f"School {round_number}"},
                       {"major": f"Major {round_number}"}, {"phone_number": f"5550000{round_number:03d}"}]
            assert list(pool.map(patch, changes)) == [200] * 4
            profile = client.get("/users/profile", headers=user.headers).get_json()
            assert profile == {**VALID, **{k: v for change in changes for k, v in change.items()}}


# ------------------------------------------------------------------------------------------- isolation
def test_profiles_are_isolated_between_users(client, db_conn, auth_server):
    alice, bob = sign_up_user(auth_server), sign_up_user(auth_server)
    client.put("/users/profile-first", json=VALID, headers=alice.headers)
    alice_row = row(db_conn, alice.id)

    # Bob cannot aim his writes at Alice's row through the body, nor reach it through a path.
    for body in ({**VALID, "user_id": alice.id}, {**VALID, "id": alice.id}):
        response = client.put("/users/profile-first", json=body, headers=bob.headers)
        assert response.status_code == 400
    assert client.get(f"/users/{alice.id}", headers=bob.headers).status_code == 404
    assert client.get(f"/users/profile/{alice.id}", headers=bob.headers).status_code == 404

    bob_body = {**VALID, "full_name": "Bob", "sex": "male", "school": "MIT"}
    assert client.put("/users/profile-first", json=bob_body, headers=bob.headers).get_json() == bob_body
    client.patch("/users/profile", json={"address": "Bob's place"}, headers=bob.headers)
    client.put("/users/me", json={"display_name": "Bob"}, headers=bob.headers)

    assert client.get("/users/profile", headers=alice.headers).get_json() == VALID
    assert client.get("/users/me", headers=alice.headers).get_json()["display_name"] is None
    assert row(db_conn, alice.id) == alice_row
    assert client.get("/users/me", headers=bob.headers).get_json()["id"] == bob.id


# ------------------------------------------------------------------------------------------- OpenAPI
def test_the_users_routes_are_documented_with_their_errors(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for method, path in ROUTES:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"200", "401"} <= set(operation["responses"])
        if method != "get":
            assert "400" in operation["responses"] and "422" not in operation["responses"]
            assert "requestBody" in operation


# ------------------------------------------------------------------ once-only setup through real workers
@pytest.fixture(scope="module")
def gunicorn_url(module_api_server, migrated_database, auth_server) -> str:
    """The API served by gunicorn with three worker processes, as in production; shared by the module."""
    return module_api_server(app_settings(migrated_database, auth_server), workers=3).url


def _concurrently(requests: list[tuple[str, str, dict]], user: SignedInUser) -> list[httpx.Response]:
    """Send every request at the same moment, each on its own connection."""
    start = threading.Barrier(len(requests))

    def send(request: tuple[str, str, dict]) -> httpx.Response:
        method, url, body = request
        with httpx.Client(timeout=30) as http:
            start.wait()
            return http.request(method, url, json=body, headers=user.headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


@pytest.mark.slow
def test_concurrent_first_time_setups_succeed_exactly_once(gunicorn_url, auth_server, db_conn):
    user = sign_up_user(auth_server)
    bodies = [{**VALID, "full_name": f"Contender {n}", "phone_number": f"{10_000_000 + n}"} for n in range(24)]
    responses = _concurrently([("PUT", f"{gunicorn_url}/users/profile-first", body) for body in bodies], user)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 23, [r.text for r in responses if r.status_code not in (200, 400)]
    for response in responses:
        if response.status_code == 400:
            assert response.json() == {"error": "Profile already initialized",
                                       "code": "PROFILE_ALREADY_INITIALIZED"}
    winner = next(body for body, r in zip(bodies, responses) if r.status_code == 200)
    assert next(r for r in responses if r.status_code == 200).json() == winner
    assert httpx.get(f"{gunicorn_url}/users/profile", headers=user.headers).json() == winner
    assert row(db_conn, user.id)["n"] == 1


@pytest.mark.slow
def test_concurrent_patches_through_workers_lose_nothing(gunicorn_url, auth_server):
    user = sign_up_user(auth_server)
    assert httpx.put(f"{gunicorn_url}/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    changes = [{"address": "New address"}, {"school": "New school"}, {"major": "New major"},
               {"phone_number": "99999999"}, {"dob": "2001-01-01"}] * 4
    responses = _concurrently([("PATCH", f"{gunicorn_url}/users/profile", c) for c in changes], user)
    assert [r.status_code for r in responses] == [200] * len(changes)
    profile = httpx.get(f"{gunicorn_url}/users/profile", headers=user.headers).json()
    assert profile == {**VALID, **{k: v for change in changes for k, v in change.items()}}


@pytest.mark.slow
def test_first_requests_racing_create_one_row(gunicorn_url, auth_server, db_conn):
    user = sign_up_user(auth_server)
    responses = _concurrently([("GET", f"{gunicorn_url}/users/me", {})] * 12, user)
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["id"] for r in responses} == {user.id}
    assert row(db_conn, user.id)["n"] == 1
