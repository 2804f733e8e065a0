"""The /dev/auth routes: test tokens and users in development, absent everywhere else."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from supabase_auth.errors import AuthApiError

from tests.support.servers import app_settings
from tests.support.users import supabase_sign_in, unique_email

TOKEN_KEYS = {"access_token", "refresh_token", "expires_in", "expires_at", "token_type", "user"}
NOT_FOUND = {"error": "Not found", "code": "NOT_FOUND"}
DEV_ROUTES = [("post", "/dev/auth/token"), ("post", "/dev/auth/tokens/batch"),
              ("delete", f"/dev/auth/user/{uuid.uuid4()}")]


def assert_token(data: dict, email: str, metadata: dict) -> None:
    assert set(data) == TOKEN_KEYS
    assert data["token_type"] == "bearer"
    assert isinstance(data["expires_in"], int) and data["expires_in"] > 0
    assert isinstance(data["expires_at"], int) and data["expires_at"] > 0
    assert data["access_token"].count(".") == 2 and data["refresh_token"]
    assert set(data["user"]) == {"id", "email", "user_metadata"}
    assert str(uuid.UUID(data["user"]["id"])) == data["user"]["id"]
    assert data["user"]["email"] == email
    # Supabase may add keys of its own (email_verified); ours are there as given.
    assert data["user"]["user_metadata"].items() >= metadata.items()


# -------------------------------------------------------------------------------------- POST /dev/auth/token
def test_token_creates_a_confirmed_user_and_signs_it_in(dev_client, client, auth_server):
    email = unique_email("dev")
    body = {"email": email, "password": "DevPassword123!",
            "metadata": {"full_name": "Backend Developer", "avatar_url": "https://example.com/avatar.png"}}
    response = dev_client.post("/dev/auth/token", json=body)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert set(answer) == {"success", "data", "message"}
    assert answer["success"] is True and answer["message"] == "Test token generated successfully"
    assert_token(answer["data"], email, body["metadata"])

    # The token is a real one: the protected routes accept it, and the user signs in with the password.
    me = client.get("/users/me", headers={"Authorization": f"Bearer {answer['data']['access_token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == answer["data"]["user"]["id"]
    assert str(supabase_sign_in(auth_server, email, "DevPassword123!").user.id) == answer["data"]["user"]["id"]


def test_token_signs_an_existing_user_in(dev_client):
    email = unique_email("dev")
    first = dev_client.post("/dev/auth/token", json={"email": email, "metadata": {"full_name": "First"}})
    second = dev_client.post("/dev/auth/token", json={"email": email, "metadata": {"full_name": "Ignored"}})
    assert second.status_code == 200
    assert second.get_json()["data"]["user"] == first.get_json()["data"]["user"]
    assert second.get_json()["data"]["user"]["user_metadata"]["full_name"] == "First"
    assert second.get_json()["data"]["access_token"] != first.get_json()["data"]["access_token"]


def test_tokens_for_one_new_address_asked_at_once_all_sign_the_one_user_in(dev_app):
    """Each made the user if missing: at once, GoTrue's second insert failed on its unique e-mail and three of
    four callers got 503. Made one after the other, the later ones find it made and sign in."""
    email = unique_email()
    start = threading.Barrier(4)

    def attempt(_: int):
        own = dev_app.test_client()  # an address of its own: the credentials budget is per address
        start.wait()
        return own.post("/dev/auth/token", json={"email": email, "password": "correct-horse-1"})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(attempt, range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4, [answer.get_json() for answer in answers]
    assert len({answer.get_json()["data"]["user"]["id"] for answer in answers}) == 1


def test_a_wrong_password_for_an_existing_user_creates_nothing(dev_client, auth_server):
    email = unique_email("dev")
    created = dev_client.post("/dev/auth/token", json={"email": email, "password": "Original-Pass-1"}).get_json()
    response = dev_client.post("/dev/auth/token", json={"email": email, "password": "Another-Pass-2"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "INVALID_CREDENTIALS"
    # Same user, password unchanged.
    assert str(supabase_sign_in(auth_server, email, "Original-Pass-1").user.id) == created["data"]["user"]["id"]
    with pytest.raises(AuthApiError):
        supabase_sign_in(auth_server, email, "Another-Pass-2")


@pytest.mark.parametrize("kwargs", [{}, {"json": {}}, {"data": "", "content_type": "application/json"}])
def test_token_without_a_body_uses_the_contracts_defaults(dev_client, auth_server, kwargs):
    response = dev_client.post("/dev/auth/token", **kwargs)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["data"]
    assert data["user"]["email"] == "test@coner.dev"
    assert data["user"]["user_metadata"]["full_name"] == "Test User"
    assert str(supabase_sign_in(auth_server, "test@coner.dev", "TestPassword123!").user.id) == data["user"]["id"]


@pytest.mark.parametrize("body,field", [
    ({"email": "not-an-email"}, "email"),
    ({"email": ""}, "email"),
    ({"email": None}, "email"),
    ({"password": ""}, "password"),
    ({"password": 12345678}, "password"),
    ({"metadata": "Test User"}, "metadata"),
    ({"metadata": None}, "metadata"),
    ({"role": "admin"}, "role"),
])
def test_token_refuses_bad_input(dev_client, body, field):
    response = dev_client.post("/dev/auth/token", json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "ValidationError" and answer["code"] == "VALIDATION_FAILED"
    assert field in answer["details"]


def test_token_email_message_is_the_contracts(dev_client):
    response = dev_client.post("/dev/auth/token", json={"email": "nope"})
    assert response.get_json()["details"] == {"email": ["Please provide a valid email address"]}


@pytest.mark.parametrize("data,content_type", [
    ('{"email": "x@example.com"}', "text/plain"), ('{"email": ', "application/json"), ("[]", "application/json")])
def test_token_refuses_a_body_that_is_not_a_json_object(dev_client, data, content_type):
    response = dev_client.post("/dev/auth/token", data=data, content_type=content_type)
    assert response.status_code == 400
    assert response.get_json()["code"] == "VALIDATION_FAILED"


# ----------------------------------------------------------------------------- POST /dev/auth/tokens/batch
def test_batch_makes_numbered_test_users(dev_client):
    response = dev_client.post("/dev/auth/tokens/batch", json={"count": 3})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["success"] is True and answer["message"] == "Generated 3 test tokens"
    assert len(answer["data"]) == 3
    for number, data in enumerate(answer["data"], start=1):
        assert_token(data, f"test{number}@coner.dev", {"full_name": f"Test User {number}"})
    assert len({data["user"]["id"] for data in answer["data"]}) == 3

    again = dev_client.post("/dev/auth/tokens/batch", json={"count": 3}).get_json()
    assert [d["user"]["id"] for d in again["data"]] == [d["user"]["id"] for d in answer["data"]]


def test_batch_defaults_to_five(dev_client):
    response = dev_client.post("/dev/auth/tokens/batch")
    assert response.status_code == 200
    assert response.get_json()["message"] == "Generated 5 test tokens"
    assert [d["user"]["email"] for d in response.get_json()["data"]] == [f"test{n}@coner.dev" for n in range(1, 6)]


@pytest.mark.parametrize("count", [1, 20])
def test_batch_accepts_1_to_20(dev_client, count):
    response = dev_client.post("/dev/auth/tokens/batch", json={"count": count})
    assert response.status_code == 200
    assert len(response.get_json()["data"]) == count
    assert response.get_json()["message"] == f"Generated {count} test tokens"


@pytest.mark.parametrize("count", [0, 21, -1, 100, "5", 5.5, True, None, [5]])
def test_batch_refuses_a_bad_count(dev_client, count):
    response = dev_client.post("/dev/auth/tokens/batch", json={"count": count})
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "ValidationError" and answer["code"] == "VALIDATION_FAILED"
    assert list(answer["details"]) == ["count"]


# ---------------------------------------------------------------------------------- DELETE /dev/auth/user
def test_delete_removes_the_user(dev_client, auth_server):
    email = unique_email("dev")
    issued = dev_client.post("/dev/auth/token", json={"email": email}).get_json()["data"]
    user_id, token = issued["user"]["id"], issued["access_token"]
    assert dev_client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    response = dev_client.delete(f"/dev/auth/user/{user_id}")
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "Test user deleted successfully"}
    with pytest.raises(AuthApiError):
        supabase_sign_in(auth_server, email, "TestPassword123!")
    # Its tokens go with it, as a deletion in production does (they outlived the user until the attacker audit).
    assert dev_client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    again = dev_client.delete(f"/dev/auth/user/{user_id}")
    assert again.status_code == 404
    assert again.get_json()["code"] == "NOT_FOUND"


def test_delete_of_an_unknown_user_is_404(dev_client):
    response = dev_client.delete(f"/dev/auth/user/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Test user not found", "code": "NOT_FOUND"}


@pytest.mark.parametrize("user_id", ["not-a-uuid", "123", "550e8400-e29b-41d4-a716-44665544000g",
                                     "{550e8400-e29b-41d4-a716-446655440000}",
                                     "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
                                     "550e8400e29b41d4a716446655440000"])
def test_delete_refuses_a_malformed_id(dev_client, user_id):
    response = dev_client.delete(f"/dev/auth/user/{user_id}")
    assert response.status_code == 400
    assert response.get_json() == {"error": "ValidationError", "code": "VALIDATION_FAILED",
                                   "details": {"user_id": ["Not a valid UUID."]}}


def test_dev_routes_are_documented_in_development(dev_client):
    paths = dev_client.get("/openapi.json").get_json()["paths"]
    assert {"/dev/auth/token", "/dev/auth/tokens/batch", "/dev/auth/user/{user_id}"} <= set(paths)
    parameters = paths["/dev/auth/user/{user_id}"]["delete"]["parameters"]
    assert [p["name"] for p in parameters if p["in"] == "path"] == ["user_id"]


# ------------------------------------------------------------------------------- absent outside development
@pytest.fixture(scope="module")
def production_app(make_module_app, migrated_database, auth_server):
    return make_module_app(app_settings(migrated_database, auth_server, APP_ENV="production", TRUSTED_PROXIES="0"))


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize("method,path", DEV_ROUTES)
def test_dev_routes_do_not_exist_outside_development(app, production_app, environment, method, path):
    client = (app if environment == "test" else production_app).test_client()
    response = getattr(client, method)(path, json={"count": 1})
    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND == client.get("/no/such/route").get_json()
    # Not even the method is known: a GET is the same 404, not a 405.
    assert client.get(path).status_code == 404
    assert not [p for p in client.get("/openapi.json").get_json()["paths"] if p.startswith("/dev")]
