"""The stand-in's plumbing: start-up values, gateway answers, error shapes, JWKS, health and settings."""
from __future__ import annotations

import uuid

import httpx
import pytest
from supabase import create_client
from supabase_auth.errors import AuthApiError

from tests.support.users import unique_email


@pytest.mark.standin_only("reads the stand-in's supabase.env")
def test_env_file_lists_url_and_keys(auth_server):
    assert auth_server.url.startswith("http://127.0.0.1:")
    assert auth_server.anon_key.count(".") == 2
    assert auth_server.service_role_key != auth_server.anon_key
    assert auth_server.jwt_secret is None  # ES256: no secret printed


def test_health_needs_apikey(auth_server):
    response = httpx.get(f"{auth_server.url}/auth/v1/health")
    assert response.status_code == 401
    assert response.json() == {"message": "No API key found in request",
                               "hint": "No `apikey` request header or url param was found."}
    assert "x-sb-error-code" not in response.headers


def test_wrong_apikey_gets_gateway_401(auth_server):
    response = httpx.get(f"{auth_server.url}/auth/v1/health", headers={"apikey": "nope"})
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid API key",
                               "hint": "Double check your Supabase `anon` or `service_role` API key."}


@pytest.mark.standin_only("expects the stand-in's providers (Google on, GitHub off)")
def test_health_and_settings_with_apikey(auth_server):
    headers = {"apiKey": auth_server.anon_key}
    health = httpx.get(f"{auth_server.url}/auth/v1/health", headers=headers)
    assert health.status_code == 200 and health.json()["name"] == "GoTrue"
    settings = httpx.get(f"{auth_server.url}/auth/v1/settings", params={"apikey": auth_server.anon_key})
    settings = settings.json()
    assert settings["external"]["google"] is True and settings["external"]["github"] is False
    assert settings["external"]["email"] is True and settings["mailer_autoconfirm"] is True


@pytest.mark.standin_only("expects the stand-in's ES256 key")
def test_jwks_is_open_and_cacheable(auth_server):
    response = httpx.get(f"{auth_server.url}/auth/v1/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=600"
    (key,) = [k for k in response.json()["keys"]][:1]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and key["kid"]
    assert key["use"] == "sig" and key["key_ops"] == ["verify"] and "d" not in key


def test_error_shape_2024_with_version_header(auth_server):
    response = httpx.post(f"{auth_server.url}/auth/v1/token", params={"grant_type": "password"},
                          headers={"apikey": auth_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"},
                          json={"email": unique_email(), "password": "whatever"})
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    assert response.headers["X-Supabase-Api-Version"] == "2024-01-01"
    assert response.headers["x-sb-error-code"] == "invalid_credentials"


def test_legacy_error_shape_without_version_header(auth_server):
    response = httpx.post(f"{auth_server.url}/auth/v1/token", params={"grant_type": "password"},
                          headers={"apikey": auth_server.anon_key}, json={"email": unique_email(), "password": "x"})
    assert response.status_code == 400
    assert response.json() == {"code": 400, "error_code": "invalid_credentials",
                               "msg": "Invalid login credentials"}
    assert "X-Supabase-Api-Version" not in response.headers
    assert response.headers["x-sb-error-code"] == "invalid_credentials"


def test_success_does_not_echo_version_header(auth_server):
    response = httpx.get(f"{auth_server.url}/auth/v1/health",
                         headers={"apikey": auth_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 200 and "X-Supabase-Api-Version" not in response.headers


def test_bad_json_is_400(auth_server):
    response = httpx.post(f"{auth_server.url}/auth/v1/signup", content=b"{not json",
                          headers={"apikey": auth_server.anon_key, "Content-Type": "application/json",
                                   "X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_json"
    assert response.json()["message"].startswith("Could not parse request body as JSON")


def test_body_over_one_megabyte_is_413(auth_server):
    response = httpx.post(f"{auth_server.url}/auth/v1/signup", content=b"x" * (1024 * 1024 + 10),
                          headers={"apikey": auth_server.anon_key, "Content-Type": "application/json",
                                   "X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 413
    assert response.json()["code"] == "request_entity_too_large"


@pytest.mark.parametrize("body", [
    [1, 2], "text", 5, {"email": 5, "password": "secret123"}, {"email": "a@b.co", "password": ["x"]},
    {"email": "a@b.co", "password": "secret1", "data": "x"}, {"email": "\u0000@x", "password": "secret1"},
    {"email": "a" * 5000 + "@x.io", "password": "secret1"}, {"refresh_token": 7, "auth_code": [],
                                                            "type": {}, "token_hash": 1.5}])
def test_bad_input_never_500(auth_server, body):
    headers = {"apikey": auth_server.anon_key}
    for method, path in [("POST", "signup"), ("POST", "token?grant_type=password"), ("POST", "recover"),
                         ("POST", "otp"), ("POST", "resend"), ("POST", "verify"),
                         ("POST", "token?grant_type=refresh_token"), ("POST", "token?grant_type=pkce")]:
        response = httpx.request(method, f"{auth_server.url}/auth/v1/{path}", json=body, headers=headers)
        assert response.status_code < 500, (path, body, response.text)


def test_unknown_route_is_404_json(auth_server):
    response = httpx.get(f"{auth_server.url}/auth/v1/nope", headers={"apikey": auth_server.anon_key})
    assert response.status_code == 404 and response.headers["x-sb-error-code"] == "not_found"


def test_client_sign_up_and_sign_in(auth_server):
    client = create_client(auth_server.url, auth_server.anon_key)
    email = unique_email()
    signed_up = client.auth.sign_up({"email": email, "password": "secret123"})
    assert signed_up.session is not None and signed_up.user.email == email
    signed_in = client.auth.sign_in_with_password({"email": email, "password": "secret123"})
    assert signed_in.user.id == signed_up.user.id
    with pytest.raises(AuthApiError) as caught:
        client.auth.sign_in_with_password({"email": email, "password": "wrong-one"})
    assert caught.value.code == "invalid_credentials" and caught.value.status == 400


@pytest.mark.standin_only("the local gateway's CORS answers")
def test_the_stand_ins_own_pages_are_not_readable_from_other_origins(auth_server):
    """Kong's CORS covers Supabase's API; the mailbox is the stand-in's own, and it holds every code: a web
    page on another origin (any site a developer has open) must not read it."""
    mail = httpx.get(f"{auth_server.url}/_local/mail", headers={"Origin": "https://evil.example"})
    assert mail.status_code == 200 and "Access-Control-Allow-Origin" not in mail.headers
    api = httpx.get(f"{auth_server.url}/auth/v1/health", headers={"Origin": "https://app.example"})
    assert api.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_cors_preflight_and_headers(auth_server):
    preflight = httpx.options(f"{auth_server.url}/auth/v1/token", headers={
        "Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "apikey, content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080"
    assert preflight.headers["Access-Control-Allow-Headers"] == "apikey, content-type"
    response = httpx.get(f"{auth_server.url}/auth/v1/health", headers={"apikey": auth_server.anon_key,
                                                                        "Origin": "http://x.test"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://x.test"


@pytest.mark.parametrize("body", [
    [1], {"email": 1}, {"user_metadata": "x"}, {"app_metadata": []}, {"email_confirm": "yes"},
    {"ban_duration": 5}, {"ban_duration": "99999999999h"}, {"id": "nope", "email": "a@b.co"},
    {"email": "a@b.co", "password_hash": "$2a$10$x"}, {"type": "signup", "email": "bad"},
    {"type": "email_change_new", "email": "a@b.co"}, {"phone": "abc"}, {"should_soft_delete": "x"},
])
def test_bad_admin_and_user_input_never_500(auth_server, h, body):
    import json
    body = json.loads(json.dumps(body).replace("a@b.co", h.email()))  # a fresh address: see the next test
    user = h.sign_up(auth_server)
    target = f"/admin/users/{user['user']['id']}"
    with h.admin_http(auth_server) as admin:
        # The update comes first: once a create has taken the address, updating to it is GoTrue's 500.
        for method, path in [("PUT", target), ("POST", "/admin/users"), ("POST", "/admin/generate_link"),
                             ("POST", "/invite"), ("DELETE", f"/admin/users/{uuid.uuid4()}")]:
            response = admin.request(method, path, json=body)
            assert response.status_code < 500, (method, path, body, response.text)
    with h.http(auth_server, token=user["access_token"]) as http:
        for method, path in [("PUT", "/user"), ("POST", "/logout?scope=%00"), ("GET", "/user")]:
            response = http.request(method, path, json=body)
            assert response.status_code < 500, (method, path, body, response.text)


def test_admin_update_to_a_taken_email_is_gotrues_500(auth_server, h):
    """GoTrue has no duplicate check on admin update: the unique index fails and it answers a generic 500."""
    taken = h.email()
    h.sign_up(auth_server, taken)
    other = h.admin(auth_server).create_user({"email": h.email()}).user
    with pytest.raises(AuthApiError) as caught:
        h.admin(auth_server).update_user_by_id(other.id, {"email": taken})
    assert caught.value.status == 500 and caught.value.code == "unexpected_failure"
    assert caught.value.message == "Error updating user"
