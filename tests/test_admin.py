"""The /admin routes against the stand-in over HTTP and the real Postgres: roles, listing, creation,
role changes, suspension and deletion, in-process and on a multi-worker gunicorn."""
from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.faults import hammer, warm
from tests.support.servers import app_settings
from tests.support.users import (SignedInUser, bearer, sign_in, sign_up_user, supabase_admin, unique_email,
                                 user_with)

UNKNOWN = str(uuid.uuid4())
ROUTES = [("get", "/admin/users"), ("post", "/admin/users"), ("get", f"/admin/users/{UNKNOWN}"),
          ("patch", f"/admin/users/{UNKNOWN}"), ("delete", f"/admin/users/{UNKNOWN}")]
PROFILE_FIELDS = ("display_name", "avatar_url", "email", "full_name", "dob", "sex", "phone_number",
                  "address", "school", "major", "bio", "profession", "company", "skills", "linkedin_url",
                  "portfolio_url")


@pytest.fixture(scope="module")
def admin(auth_server) -> SignedInUser:
    """An admin the module's tests share: they act with it, none changes it (changing yourself is refused)."""
    return user_with(auth_server, "user", "admin")


@pytest.fixture(scope="module")
def super_admin(auth_server) -> SignedInUser:
    """A super_admin the module's tests share, like `admin`."""
    return user_with(auth_server, "super_admin")


@pytest.fixture(scope="module")
def plain(auth_server) -> SignedInUser:
    """A user without roles that no test changes."""
    return sign_up_user(auth_server)


def patch(client, caller: SignedInUser, user_id: str, **body):
    return client.patch(f"/admin/users/{user_id}", json=body, headers=caller.headers)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code
    return response.get_json()


# ------------------------------------------------------------------------------------------ who may call
@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_a_token(client, method, path):
    assert_error(getattr(client, method)(path, json={"x": 1}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("method,path", ROUTES)
def test_a_plain_user_is_forbidden_whatever_the_body(client, plain, method, path):
    assert_error(getattr(client, method)(path, json={"x": 1}, headers=plain.headers), 403, "FORBIDDEN")


def test_delete_needs_super_admin(client, admin, plain):
    assert_error(client.delete(f"/admin/users/{plain.id}", headers=admin.headers), 403, "FORBIDDEN")


# ---------------------------------------------------------------------------------------------- reading
@pytest.mark.parametrize("caller", ["admin", "super_admin"])
def test_list_users(client, new_user, caller, request):
    fresh = new_user()
    body = client.get("/admin/users?per_page=100", headers=request.getfixturevalue(caller).headers).get_json()
    assert list(body) == ["users", "page", "per_page", "total"]
    assert (body["page"], body["per_page"]) == (1, 100) and body["total"] >= len(body["users"]) >= 1
    listed = {u["id"]: u for u in body["users"]}
    assert listed[fresh.id]["email"] == fresh.email and listed[fresh.id]["is_active"] is True


def test_pagination_edges(start_auth_server, make_app, migrated_database):
    server = start_auth_server(fresh=True)  # a stand-in of its own, so the total is known
    client = make_app(app_settings(migrated_database, server)).test_client()
    caller = user_with(server, "admin")
    everyone = {caller.id} | {sign_up_user(server).id for _ in range(4)}
    for query in ("page=0", "page=-1", "page=x", "page=1000001", "per_page=0", "per_page=101",
                  "per_page=2.5", "page=%2B1", "page=%201", "per_page=1_0", "page=%EF%BC%91", "page="):
        response = client.get(f"/admin/users?{query}", headers=caller.headers)
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert set(body["details"]) <= {"page", "per_page"}
    # A negative number is one: the answer names the range, not "Not a valid integer."
    negative = client.get("/admin/users?page=-1", headers=caller.headers).get_json()
    assert negative["details"] == {"page": ["Must be greater than or equal to 1 and less than or equal to 1000000."]}
    pages = [client.get(f"/admin/users?page={n}&per_page=2", headers=caller.headers).get_json()
             for n in (1, 2, 3, 4)]
    assert [len(p["users"]) for p in pages] == [2, 2, 1, 0]  # last page, then beyond it
    assert {p["total"] for p in pages} == {5} and [p["page"] for p in pages] == [1, 2, 3, 4]
    assert {u["id"] for p in pages for u in p["users"]} == everyone
    default = client.get("/admin/users", headers=caller.headers).get_json()
    assert (default["page"], default["per_page"], default["total"], len(default["users"])) == (1, 20, 5, 5)
    assert client.get("/admin/users?per_page=100&other=1", headers=caller.headers).status_code == 200


def test_get_user_with_profile_and_roles(client, admin, new_user):
    user = new_user()
    body = client.get(f"/admin/users/{user.id}", headers=admin.headers).get_json()
    assert body["id"] == user.id and body["roles"] == [] and body["profile"] is None  # no profile row yet
    client.put("/users/me", json={"display_name": "Zed"}, headers=user.headers)
    body = client.get(f"/admin/users/{user.id.upper()}", headers=admin.headers).get_json()
    assert (body["email"], body["is_active"], body["email_confirmed"]) == (user.email, True, True)
    assert body["profile"]["display_name"] == "Zed" and body["profile"]["is_deleted"] is False


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_and_malformed_ids(client, super_admin, method):
    call = getattr(client, method)
    unknown = call(f"/admin/users/{UNKNOWN}", json={"roles": []}, headers=super_admin.headers)
    assert_error(unknown, 404, "NOT_FOUND")
    # Only the 8-4-4-4-12 spelling: braces, urn:uuid: and no hyphens name the same id in other words.
    for malformed in ("not-a-uuid", f"%7B{UNKNOWN}%7D", f"urn:uuid:{UNKNOWN}", UNKNOWN.replace("-", "")):
        response = call(f"/admin/users/{malformed}", json={"roles": []}, headers=super_admin.headers)
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert body["details"] == {"user_id": ["Not a valid UUID."]}, malformed
    assert_error(call(f"/admin/users/{UNKNOWN.upper()}", json={"roles": []}, headers=super_admin.headers),
                 404, "NOT_FOUND")  # either case is the canonical spelling


# --------------------------------------------------------------------------------------------- creating
def test_create_user(client, admin, db_conn):
    email = unique_email("created")
    response = client.post("/admin/users", json={"email": email, "password": "correct-horse-1",
                                                 "displayName": "New Person"}, headers=admin.headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["email"], body["roles"]) == (email, ["user"])
    assert body["email_confirmed"] is True and body["is_active"] is True
    assert (body["profile"]["display_name"], body["profile"]["email"]) == ("New Person", email)
    assert db_conn.execute("SELECT display_name, email FROM user_profiles WHERE user_id = %s",
                           [body["id"]]).fetchone() == ("New Person", email)
    assert sign_in(client, email)["access_token"]  # confirmed: signs in at once
    again = client.post("/admin/users", json={"email": email, "password": "another-pass-2"},
                        headers=admin.headers)
    assert_error(again, 400, "EMAIL_EXISTS")


@pytest.mark.parametrize("body", [
    {"password": "correct-horse-1"}, {"email": "nope", "password": "correct-horse-1"},
    {"email": "a@example.com"}, {"email": "a@example.com", "password": "short"},
    {"email": "a@example.com", "password": "a" * 73},
    {"email": "a@example.com", "password": "\U0001F600" * 19},  # 76 bytes
    {"email": "a@example.com", "password": "correct-horse-1", "roles": ["root"]},
    {"email": "a@example.com", "password": "correct-horse-1", "roles": "admin"},
    {"email": "a@example.com", "password": "correct-horse-1", "displayName": ""},
    {"email": "a@example.com", "password": "correct-horse-1", "is_active": False},
])
def test_create_user_validation(client, admin, body):
    assert_error(client.post("/admin/users", json=body, headers=admin.headers), 400, "VALIDATION_FAILED")


def test_create_user_needs_a_json_body(client, admin):
    response = client.post("/admin/users", data='{"email": "a@example.com", "password": "correct-horse-1"}',
                           content_type="text/plain", headers=admin.headers)
    assert_error(response, 400, "VALIDATION_FAILED")


def test_only_a_super_admin_creates_admins(client, admin, super_admin):
    body = {"email": unique_email("boss"), "password": "correct-horse-1", "roles": ["admin", "user", "admin"]}
    assert_error(client.post("/admin/users", json=body, headers=admin.headers), 403, "FORBIDDEN")
    response = client.post("/admin/users", json=body, headers=super_admin.headers)
    assert response.status_code == 201 and response.get_json()["roles"] == ["user", "admin"]


# ------------------------------------------------------------------------------------------ changing
@pytest.mark.parametrize("body", [
    {}, {"nickname": "x"}, {"is_active": "no"}, {"is_active": None}, {"roles": ["root"]}, {"roles": None},
    {"roles": ["user"], "email": "x@y.z"},
    # JSON's true and false only (1 == True in Python: a plain Boolean field took these as true)
    {"is_active": 1}, {"is_active": 0}, {"is_active": 1.0}, {"is_active": "true"}])
def test_patch_validation(client, admin, plain, body):
    assert_error(patch(client, admin, plain.id, **body), 400, "VALIDATION_FAILED")


def test_role_changes_apply_from_the_next_token(client, super_admin, auth_server):
    user = sign_up_user(auth_server)
    response = patch(client, super_admin, user.id, roles=["user", "admin"])
    assert response.status_code == 200 and response.get_json()["roles"] == ["user", "admin"]
    assert_error(client.get("/admin/users", headers=user.headers), 403, "FORBIDDEN")  # the old token
    promoted = sign_in(client, user.email, user.password)["access_token"]
    assert client.get("/admin/users", headers=bearer(promoted)).status_code == 200
    assert patch(client, super_admin, user.id, roles=["user"]).status_code == 200
    # Taking admin rights away refuses the tokens that still carry them at once; the next one has none.
    assert_error(client.get("/admin/users", headers=bearer(promoted)), 401, "SESSION_REVOKED")
    demoted = sign_in(client, user.email, user.password)["access_token"]
    assert_error(client.get("/admin/users", headers=bearer(demoted)), 403, "FORBIDDEN")


def test_who_may_change_whom(client, admin, super_admin, auth_server):
    other_admin, plain = user_with(auth_server, "admin"), sign_up_user(auth_server)
    for target in (other_admin, super_admin):  # an admin manages plain users only
        assert_error(patch(client, admin, target.id, is_active=False), 403, "FORBIDDEN")
        assert_error(patch(client, admin, target.id, roles=["user"]), 403, "FORBIDDEN")
    assert_error(patch(client, admin, plain.id, roles=["user", "admin"]), 403, "FORBIDDEN")
    assert patch(client, admin, plain.id, roles=["user"]).get_json()["roles"] == ["user"]
    # Nobody locks themselves out.
    assert_error(patch(client, admin, admin.id, is_active=False), 409, "CONFLICT")
    assert_error(patch(client, super_admin, super_admin.id, is_active=False), 409, "CONFLICT")
    assert_error(patch(client, super_admin, super_admin.id, roles=["user"]), 409, "CONFLICT")
    assert patch(client, super_admin, other_admin.id, roles=["user"]).get_json()["roles"] == ["user"]


def test_suspend_then_reactivate(client, admin, auth_server):
    user = sign_up_user(auth_server)
    session = sign_in(client, user.email, user.password)
    suspended = patch(client, admin, user.id, is_active=False)
    assert suspended.status_code == 200 and suspended.get_json()["is_active"] is False
    for token in (user.access_token, session["access_token"]):
        assert_error(client.get("/auth/me", headers=bearer(token)), 401, "SESSION_REVOKED")
    assert_error(client.post("/auth/signin", json={"email": user.email, "password": user.password}),
                 403, "ACCOUNT_SUSPENDED")
    assert client.get(f"/admin/users/{user.id}", headers=admin.headers).get_json()["is_active"] is False
    assert patch(client, admin, user.id, is_active=True).get_json()["is_active"] is True
    fresh = sign_in(client, user.email, user.password)["access_token"]
    assert client.get("/auth/me", headers=bearer(fresh)).status_code == 200
    # The suspension ended the Supabase sessions too: a refresh token from before it stays dead.
    stale = client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert_error(stale, 401, "INVALID_REFRESH_TOKEN")


# --------------------------------------------------------------------------------------------- deleting
def deleted_row(db_conn, user_id: str) -> dict:
    cursor = db_conn.execute("SELECT * FROM user_profiles WHERE user_id = %s", [user_id])
    return dict(zip([c.name for c in cursor.description], cursor.fetchone()))


def test_delete_user_keeps_a_cleared_row(client, super_admin, auth_server, db_conn):
    user = sign_up_user(auth_server)
    client.put("/users/me", json={"display_name": "Gone Soon", "avatar_url": "https://x.example/a.png"},
               headers=user.headers)
    client.put("/users/profile-first", headers=user.headers, json={
        "full_name": "Gone Soon", "dob": "1990-01-01", "sex": "other", "phone_number": "12345678",
        "address": "1 Road", "school": "School", "major": "Major"})
    assert client.delete(f"/admin/users/{user.id}", headers=super_admin.headers).status_code == 204
    assert_error(client.get("/users/me", headers=user.headers), 401, "SESSION_REVOKED")
    row = deleted_row(db_conn, user.id)
    assert row["is_deleted"] is True and row["logout_at"] is not None
    assert all(row[name] is None for name in PROFILE_FIELDS), row
    assert_error(client.get(f"/admin/users/{user.id}", headers=super_admin.headers), 404, "NOT_FOUND")
    assert_error(client.delete(f"/admin/users/{user.id}", headers=super_admin.headers), 404, "NOT_FOUND")
    assert_error(client.post("/auth/signin", json={"email": user.email, "password": user.password}),
                 400, "INVALID_CREDENTIALS")


def test_delete_yourself_is_refused(client, super_admin):
    response = client.delete(f"/admin/users/{super_admin.id}", headers=super_admin.headers)
    assert_error(response, 409, "CONFLICT")


def test_delete_finishes_what_an_earlier_attempt_began(client, super_admin, auth_server, db_conn):
    """Supabase delete done, cutoff and row not: the token still passes; repeating DELETE completes it."""
    user = sign_up_user(auth_server)
    client.put("/users/me", json={"display_name": "Half Gone"}, headers=user.headers)
    supabase_admin(auth_server).delete_user(user.id)
    assert client.get("/auth/me", headers=user.headers).status_code == 200
    assert client.delete(f"/admin/users/{user.id}", headers=super_admin.headers).status_code == 204
    assert_error(client.get("/auth/me", headers=user.headers), 401, "SESSION_REVOKED")
    row = deleted_row(db_conn, user.id)
    assert row["is_deleted"] is True and row["display_name"] is None


# ---------------------------------------------------------------------------------- every worker at once
@pytest.fixture(scope="module")
def workers(module_api_server, migrated_database, auth_server):
    """The API under gunicorn with three worker processes, shared by the module's tests."""
    return module_api_server(app_settings(migrated_database, auth_server), workers=3)


def api(workers, method: str, path: str, caller: SignedInUser, **body) -> httpx.Response:
    return httpx.request(method, f"{workers.url}{path}", json=body or None, headers=caller.headers,
                         timeout=15)


@pytest.mark.slow
def test_suspension_reaches_every_worker_at_once(workers, admin, auth_server):
    user = sign_up_user(auth_server)
    warm(workers.url, user.access_token)
    assert api(workers, "PATCH", f"/admin/users/{user.id}", admin, is_active=False).status_code == 200
    assert set(hammer(workers.url, user.access_token, 45)) == {401}
    refused = httpx.post(f"{workers.url}/auth/signin", json={"email": user.email, "password": user.password},
                         timeout=15)
    assert refused.status_code == 403 and refused.json()["code"] == "ACCOUNT_SUSPENDED"
    assert api(workers, "PATCH", f"/admin/users/{user.id}", admin, is_active=True).status_code == 200
    fresh = sign_in(workers.url, user.email, user.password)["access_token"]
    assert set(hammer(workers.url, fresh, 45)) == {200}


@pytest.mark.slow
def test_deletion_reaches_every_worker_at_once(workers, super_admin, auth_server):
    user = sign_up_user(auth_server)
    warm(workers.url, user.access_token)
    assert api(workers, "DELETE", f"/admin/users/{user.id}", super_admin).status_code == 204
    assert set(hammer(workers.url, user.access_token, 45)) == {401}
