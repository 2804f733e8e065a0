"""DELETE /users/me against the stand-in over HTTP and the real Postgres: the password check, or a recent
sign-in for an account without a password; afterwards every token and refresh token refused, the profile
kept but cleared, and the address free for a new account. Every worker refusing the tokens at once is in
tests/test_account_workers.py."""
from __future__ import annotations

import time

import jwt
import pytest
from supabase_auth.errors import AuthApiError

from tests.support.servers import app_settings
from tests.support.standin import Helpers
from tests.support.users import PASSWORD, SignedInUser, bearer, sign_in, sign_up, supabase_admin, unique_email

CALLBACK = "http://127.0.0.1:8080/auth/callback"
PERSONAL = ("display_name", "avatar_url", "email", "full_name", "dob", "sex", "phone_number", "address",
            "school", "major")


def google_user(server) -> SignedInUser:
    """A user who signed in with (the stand-in's) Google a moment ago, and has no password."""
    email = f"g-{unique_email()}"
    client = Helpers.client(server, "implicit")
    url = client.auth.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": CALLBACK}}).url
    fragment = Helpers.fragment(Helpers.consent(url, email).headers["location"])
    claims = jwt.decode(fragment["access_token"], options={"verify_signature": False})
    return SignedInUser(id=claims["sub"], email=email, password="", access_token=fragment["access_token"])


def profile_row(db_conn, user_id: str) -> dict | None:
    cursor = db_conn.execute("SELECT * FROM user_profiles WHERE user_id = %s", [user_id])
    values = cursor.fetchone()
    return None if values is None else dict(zip([c.name for c in cursor.description], values))


def delete(client, token: str, **body):
    return client.delete("/users/me", headers=bearer(token), json=body if body else None)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code
    return response.get_json()


# ------------------------------------------------------------------------------------ with a password
def test_the_password_is_checked_first(client):
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    missing = assert_error(delete(client, token), 400, "VALIDATION_FAILED")
    assert missing["details"] == {"password": ["Missing data for required field."]}
    assert_error(delete(client, token, password="not-my-password"), 400, "INVALID_CREDENTIALS")
    assert_error(delete(client, token, password="short"), 400, "VALIDATION_FAILED")
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200  # nothing happened
    assert sign_in(client, email)["access_token"]


def test_deletion_refuses_every_token_clears_the_profile_and_frees_the_address(client, auth_server, db_conn):
    email, user_id = sign_up(client, displayName="Soon Gone")
    phone, laptop = sign_in(client, email), sign_in(client, email)
    client.put("/users/profile-first", headers=bearer(phone["access_token"]), json={
        "full_name": "Soon Gone", "dob": "1990-01-01", "sex": "other", "phone_number": "12345678",
        "address": "1 Road", "school": "School", "major": "Major"})
    assert delete(client, phone["access_token"], password=PASSWORD).status_code == 204
    for session in (phone, laptop):
        assert_error(client.get("/auth/me", headers=bearer(session["access_token"])), 401, "SESSION_REVOKED")
        assert_error(client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}),
                     401, "INVALID_REFRESH_TOKEN")
    assert_error(delete(client, phone["access_token"], password=PASSWORD), 401, "SESSION_REVOKED")
    row = profile_row(db_conn, user_id)
    assert row["is_deleted"] is True and row["logout_at"] is not None
    assert all(row[name] is None for name in PERSONAL), row
    with pytest.raises(AuthApiError):
        supabase_admin(auth_server).get_user_by_id(user_id)
    assert_error(client.post("/auth/signin", json={"email": email, "password": PASSWORD}), 400,
                 "INVALID_CREDENTIALS")
    # The address is free: a new account, with a new id and a profile of its own.
    _, new_id = sign_up(client, email)
    assert new_id != user_id
    token = sign_in(client, email)["access_token"]
    assert client.get("/users/me", headers=bearer(token)).get_json()["email"] == email
    assert profile_row(db_conn, user_id)["is_deleted"] is True


def test_an_account_supabase_already_lost_is_finished_without_a_password(client, auth_server, db_conn):
    email, user_id = sign_up(client)
    token = sign_in(client, email)["access_token"]
    supabase_admin(auth_server).delete_user(user_id)  # e.g. an earlier attempt stopped after this step
    assert delete(client, token).status_code == 204
    assert profile_row(db_conn, user_id)["is_deleted"] is True
    assert_error(client.get("/auth/me", headers=bearer(token)), 401, "SESSION_REVOKED")


# ------------------------------------------------------------------------------------ Google sign-in only
def test_a_google_account_needs_only_a_recent_sign_in(client, auth_server, db_conn):
    user = google_user(auth_server)
    assert client.post("/auth/bootstrap", headers=user.headers).status_code == 200
    assert_error(delete(client, user.access_token, password="no-password-here"), 400, "INVALID_CREDENTIALS")
    assert delete(client, user.access_token).status_code == 204
    assert profile_row(db_conn, user.id)["is_deleted"] is True
    assert_error(client.get("/auth/me", headers=user.headers), 401, "SESSION_REVOKED")


@pytest.fixture(scope="module")
def hs256(start_auth_server, make_module_app, migrated_database):
    """A stand-in signing with the legacy HS256 secret, so that a test can re-sign one of its tokens as a
    refresh long after the sign-in would have issued it (`amr` keeps the sign-in's time)."""
    server = start_auth_server(LOCAL_AUTH_JWT_ALG="HS256")
    return server, make_module_app(app_settings(migrated_database, server)).test_client()


def as_if_signed_in(server, token: str, seconds_ago: int | None) -> str:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    if seconds_ago is None:
        claims.pop("amr")
    else:
        claims["amr"] = [{**entry, "timestamp": int(time.time()) - seconds_ago} for entry in claims["amr"]]
    return jwt.encode(claims, server.jwt_secret, algorithm="HS256", headers={"kid": header["kid"]}
                      if "kid" in header else None)


def test_an_old_google_sign_in_must_be_renewed(hs256, db_conn):
    server, client = hs256
    user = google_user(server)
    for stale in (as_if_signed_in(server, user.access_token, 301),
                  as_if_signed_in(server, user.access_token, None)):
        body = assert_error(delete(client, stale), 403, "REAUTHENTICATION_REQUIRED")
        assert body["error"] == "Sign in again to confirm: this needs a sign-in at most 5 minutes old"
    assert client.get("/auth/me", headers=user.headers).status_code == 200  # nothing happened
    assert delete(client, as_if_signed_in(server, user.access_token, 240)).status_code == 204
    assert profile_row(db_conn, user.id)["is_deleted"] is True

