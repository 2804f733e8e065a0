"""The /auth routes against the stand-in over HTTP and the real Postgres: every success and documented error."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from tests.support.servers import app_settings, unreachable_url
from tests.support.users import bearer, latest_otp, sign_in, sign_up, supabase_admin, unique_email


# ------------------------------------------------------------------------------------------------ signup
def test_signup_creates_user_and_profile_row(client, db_conn):
    email = unique_email()
    response = client.post("/auth/signup", json={"email": email, "password": "correct-horse-1",
                                                 "displayName": "Alice Smith"})
    assert response.status_code == 201
    user_id = response.get_json()["userId"]
    assert str(uuid.UUID(user_id)) == user_id and list(response.get_json()) == ["userId"]
    row = db_conn.execute("SELECT email, display_name FROM user_profiles WHERE user_id = %s", [user_id]).fetchone()
    assert row == (email, "Alice Smith")


def test_signup_duplicate_email_is_400_email_exists(client):
    email, _ = sign_up(client)
    response = client.post("/auth/signup", json={"email": email, "password": "another-pass-2"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "EMAIL_EXISTS"


def test_sign_ups_of_one_address_at_once_make_one_account_and_the_rest_are_told_email_exists(app):
    """At once, Supabase's second insert of an address fails on its unique e-mail (GoTrue answers 500: our
    503, "retry later", which never works); the API makes them one after the other."""
    email = unique_email()
    start = threading.Barrier(4)

    def attempt(n: int):
        own = app.test_client()  # an address of its own: the credentials budget is per address
        start.wait()
        return own.post("/auth/signup", json={"email": email.upper() if n % 2 else email,
                                              "password": "correct-horse-1"})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(attempt, range(4)))
    assert sorted(answer.status_code for answer in answers) == [201, 400, 400, 400], \
        [answer.get_json() for answer in answers]
    assert {answer.get_json()["code"] for answer in answers if answer.status_code == 400} == {"EMAIL_EXISTS"}


@pytest.mark.parametrize("address", ["\u00e4@\u00df.de", "\uff41@example.com"])
def test_an_address_only_supabase_refuses_is_an_error_on_the_email(client, address):
    """Ours takes these (IDN and full-width characters), Supabase's format check does not; the answer names
    the address, as docs/api.md promises (it used to come back under `_schema`)."""
    response = client.post("/auth/signup", json={"email": address, "password": "correct-horse-1"})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["code"] == "VALIDATION_FAILED"
    assert response.get_json()["details"] == {"email": ["Rejected by the authentication service"]}


@pytest.mark.parametrize("password, ok", [
    ("1234567", False), ("12345678", True), ("a" * 72, True), ("a" * 73, False),
    ("\U0001F600" * 18, True),   # 72 bytes in UTF-8
    ("\U0001F600" * 19, False),  # 76 bytes: refused explicitly, never truncated
])
def test_signup_password_length_in_bytes(client, password, ok):
    response = client.post("/auth/signup", json={"email": unique_email(), "password": password})
    assert response.status_code == (201 if ok else 400), response.get_json()
    if not ok:
        assert response.get_json()["code"] == "VALIDATION_FAILED"
        assert "password" in response.get_json()["details"]


def test_password_is_never_trimmed(client):
    email, _ = sign_up(client, password="  spaced-pass  ")
    assert client.post("/auth/signin", json={"email": email, "password": "spaced-pass"}).status_code == 400
    assert client.post("/auth/signin", json={"email": email, "password": "  spaced-pass  "}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"password": "correct-horse-1"}, "email"),
    ({"email": "not-an-email", "password": "correct-horse-1"}, "email"),
    ({"email": "a@example.com"}, "password"),
    ({"email": "a@example.com", "password": 12345678}, "password"),
    ({"email": "a@example.com", "password": "correct-horse-1", "displayName": ""}, "displayName"),
    ({"email": "a@example.com", "password": "correct-horse-1", "displayName": "x" * 101}, "displayName"),
    ({"email": "a@example.com", "password": "correct-horse-1", "admin": True}, "admin"),
    ({"email": None, "password": "correct-horse-1"}, "email"),
])
def test_signup_validation_errors_name_the_field(client, body, field):
    response = client.post("/auth/signup", json=body)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "ValidationError" and body["code"] == "VALIDATION_FAILED"
    assert field in body["details"] and all(isinstance(m, str) for m in body["details"][field])


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"), ("[1, 2]", "application/json"), ("", "application/json"),
    ("\xff\xfe", "application/json"), ("email=a", "application/x-www-form-urlencoded"),
])
def test_signup_malformed_bodies_are_400(client, data, content_type):
    response = client.post("/auth/signup", data=data, content_type=content_type)
    assert 400 <= response.status_code < 500
    assert response.get_json()["code"] in ("VALIDATION_FAILED", "UNSUPPORTED_MEDIA_TYPE")


# ------------------------------------------------------------------------------------------------ signin
def test_signin_returns_a_session_that_is_not_cached(client):
    email, user_id = sign_up(client)
    response = client.post("/auth/signin", json={"email": email, "password": "correct-horse-1"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "expires_at", "token_type"}
    assert body["token_type"] == "bearer" and 3500 <= body["expires_in"] <= 3600
    assert abs(body["expires_at"] - (time.time() + body["expires_in"])) < 5
    assert response.headers["Cache-Control"] == "no-store"
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["sub"] == user_id


def test_wrong_password_and_unknown_user_get_the_same_400(client):
    email, _ = sign_up(client)
    wrong = client.post("/auth/signin", json={"email": email, "password": "wrong-password"})
    unknown = client.post("/auth/signin", json={"email": unique_email(), "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.get_json() == unknown.get_json() == {"error": "Invalid login credentials",
                                                      "code": "INVALID_CREDENTIALS"}


def test_banned_user_gets_403_account_suspended(client, auth_server):
    email, user_id = sign_up(client)
    supabase_admin(auth_server).update_user_by_id(user_id, {"ban_duration": "24h"})
    response = client.post("/auth/signin", json={"email": email, "password": "correct-horse-1"})
    assert response.status_code == 403
    assert response.get_json()["code"] == "ACCOUNT_SUSPENDED"


# ----------------------------------------------------------------------------------------------- refresh
def test_refresh_rotates_and_refuses_garbage(client):
    email, _ = sign_up(client)
    first = sign_in(client, email)
    response = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200
    for garbage in ("x", "not-a-real-token!!", "abcdefghijkl"):
        bad = client.post("/auth/refresh", json={"refresh_token": garbage})
        assert bad.status_code == 401 and bad.get_json()["code"] == "INVALID_REFRESH_TOKEN"


def test_refresh_validation(client):
    assert client.post("/auth/refresh", json={}).status_code == 400
    assert client.post("/auth/refresh", json={"refresh_token": ""}).status_code == 400
    assert client.post("/auth/refresh", json={"refresh_token": 5}).status_code == 400


# ------------------------------------------------------------------------------------------------ me etc
def test_me_and_bootstrap(client):
    email, user_id = sign_up(client)
    token = sign_in(client, email)["access_token"]
    me = client.get("/auth/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json()["ok"] is True
    assert me.get_json()["user"]["id"] == user_id and me.get_json()["user"]["email"] == email
    for _ in range(2):
        response = client.post("/auth/bootstrap", headers=bearer(token))
        assert response.status_code == 200 and response.get_json() == {"ok": True}


def test_each_token_gets_the_answer_of_its_own_claims(client):
    """Two users, and two sessions of each, alternating on one process (each token's claims then come from
    the verified-token cache): each gets its own user, in the contract's shape."""
    users = []
    for _ in range(2):
        email, user_id = sign_up(client)
        users += [(user_id, email, sign_in(client, email)["access_token"]) for _ in range(2)]
    for _ in range(2):
        for user_id, email, token in users:
            response = client.get("/auth/me", headers=bearer(token))
            assert response.status_code == 200 and response.mimetype == "application/json"
            assert response.get_json() == {"ok": True, "user": {"aal": "aal1", "email": email, "id": user_id,
                                                                "roles": []}}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer a.b", "Bearer a.b.c",
                                    "bearer x y", "Token abc.def.ghi"])
def test_protected_route_without_a_usable_token_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "Unauthorized: JWT token missing or invalid", "code": "UNAUTHORIZED"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_keys_are_not_users(client, auth_server):
    for key in (auth_server.anon_key, auth_server.service_role_key):
        assert client.get("/auth/me", headers=bearer(key)).status_code == 401


def test_alg_none_is_refused(client):
    token = jwt.encode({"sub": str(uuid.uuid4()), "role": "authenticated", "aud": "authenticated"}, None,
                       algorithm="none")
    assert client.get("/auth/me", headers=bearer(token)).status_code == 401


# ------------------------------------------------------------------------------------------------ logout
def test_logout_ends_only_this_session(client):
    email, _ = sign_up(client)
    phone, laptop = sign_in(client, email), sign_in(client, email)
    assert client.post("/auth/logout", headers=bearer(phone["access_token"])).status_code == 204
    refused = client.get("/auth/me", headers=bearer(phone["access_token"]))
    assert refused.status_code == 401 and refused.get_json()["code"] == "SESSION_REVOKED"
    stale = client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert stale.status_code == 401 and stale.get_json()["code"] == "INVALID_REFRESH_TOKEN"
    assert client.get("/auth/me", headers=bearer(laptop["access_token"])).status_code == 200


def test_logout_all_ends_every_session_and_sign_in_works_at_once(client):
    email, _ = sign_up(client)
    sessions = [sign_in(client, email) for _ in range(3)]
    for session in sessions:  # warm the caches
        assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 200
    assert client.post("/auth/logout-all", headers=bearer(sessions[0]["access_token"])).status_code == 204
    for session in sessions:
        refused = client.get("/auth/me", headers=bearer(session["access_token"]))
        assert refused.status_code == 401 and refused.get_json()["code"] == "SESSION_REVOKED"
        assert client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    fresh = sign_in(client, email)
    assert client.get("/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    renewed = client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).get_json()
    assert client.get("/auth/me", headers=bearer(renewed["access_token"])).status_code == 200


# ------------------------------------------------------------------------------ e-mail and password flows
@pytest.fixture(scope="module")
def confirming(start_auth_server, make_module_app, migrated_database):
    """An app whose stand-in requires e-mail confirmation."""
    server = start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false")
    return server, make_module_app(app_settings(migrated_database, server)).test_client()


def test_unconfirmed_user_gets_403_then_verifies(confirming, db_conn):
    server, client = confirming
    email, user_id = sign_up(client)
    refused = client.post("/auth/signin", json={"email": email, "password": "correct-horse-1"})
    assert refused.status_code == 403 and refused.get_json()["code"] == "EMAIL_NOT_CONFIRMED"
    bad = client.post("/auth/verify-email", json={"email": email, "token": "000000"})
    assert bad.status_code == 401 and bad.get_json()["code"] == "INVALID_OTP"
    otp = latest_otp(server, email, "signup")
    ok = client.post("/auth/verify-email", json={"email": email, "token": otp})
    assert ok.status_code == 200 and ok.get_json() == {"message": "Email verified successfully"}
    assert db_conn.execute("SELECT is_email_verified FROM user_profiles WHERE user_id = %s",
                           [user_id]).fetchone() == (True,)
    assert sign_in(client, email)["access_token"]


def test_signup_duplicate_of_a_confirmed_address_is_400_in_confirm_mode(confirming):
    server, client = confirming
    email, _ = sign_up(client)
    client.post("/auth/verify-email", json={"email": email, "token": latest_otp(server, email, "signup")})
    again = client.post("/auth/signup", json={"email": email, "password": "correct-horse-1"})
    assert again.status_code == 400 and again.get_json()["code"] == "EMAIL_EXISTS"


def test_resend_and_forgot_answer_the_same_for_unknown_addresses(confirming):
    server, client = confirming
    email, _ = sign_up(client)
    for path in ("/auth/resend-verification", "/auth/password/forgot"):
        known = client.post(path, json={"email": email})
        unknown = client.post(path, json={"email": unique_email()})
        assert known.status_code == unknown.status_code == 202
        assert known.get_json() == unknown.get_json()
    assert client.post("/auth/resend-verification", json={"email": "nope"}).status_code == 400


def test_password_reset_sets_the_password_and_revokes_older_tokens(client, auth_server):
    email, _ = sign_up(client)
    old = sign_in(client, email)
    assert client.post("/auth/password/forgot", json={"email": email}).status_code == 202
    otp = latest_otp(auth_server, email, "recovery")
    bad = client.post("/auth/password/reset", json={"email": email, "token": "999999", "password": "new-pass-123"})
    assert bad.status_code == 401 and bad.get_json()["code"] == "INVALID_OTP"
    weak = client.post("/auth/password/reset", json={"email": email, "token": otp, "password": "short"})
    assert weak.status_code == 400
    done = client.post("/auth/password/reset", json={"email": email, "token": otp, "password": "new-pass-123"})
    assert done.status_code == 204
    assert client.get("/auth/me", headers=bearer(old["access_token"])).status_code == 401
    assert client.post("/auth/signin", json={"email": email, "password": "correct-horse-1"}).status_code == 400
    assert client.get("/auth/me", headers=bearer(sign_in(client, email, "new-pass-123")["access_token"])).status_code == 200


# ------------------------------------------------------------------------------------------ signing modes
@pytest.mark.parametrize("alg", ["RS256", "HS256"])
def test_other_signing_modes(start_auth_server, make_app, migrated_database, alg):
    server = start_auth_server(LOCAL_AUTH_JWT_ALG=alg)
    client = make_app(app_settings(migrated_database, server)).test_client()
    email, user_id = sign_up(client)
    token = sign_in(client, email)["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == alg
    assert client.get("/auth/me", headers=bearer(token)).get_json()["user"]["id"] == user_id
    assert client.get("/auth/me", headers=bearer(server.anon_key)).status_code == 401


def test_hs256_tokens_are_refused_without_the_secret(start_auth_server, make_app, migrated_database):
    server = start_auth_server(LOCAL_AUTH_JWT_ALG="HS256")
    settings = app_settings(migrated_database, server)
    settings.pop("SUPABASE_JWT_SECRET")
    client = make_app(settings).test_client()
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    assert client.get("/auth/me", headers=bearer(token)).status_code == 401


# ---------------------------------------------------------------------------------------------- outages
def test_supabase_unreachable_is_a_fast_503(make_app, migrated_database, auth_server):
    settings = app_settings(migrated_database, auth_server, SUPABASE_URL=unreachable_url())
    client = make_app(settings).test_client()
    started = time.monotonic()
    for path, body in (("/auth/signin", {"email": "a@example.com", "password": "correct-horse-1"}),
                       ("/auth/signup", {"email": unique_email(), "password": "correct-horse-1"}),
                       ("/auth/refresh", {"refresh_token": "abcdefghijkl"})):
        response = client.post(path, json=body)
        assert response.status_code == 503, (path, response.get_json())
        assert response.get_json()["code"] == "AUTH_UNAVAILABLE"
    assert time.monotonic() - started < 20
