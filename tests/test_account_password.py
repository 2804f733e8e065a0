"""POST /auth/password/change against the stand-in over HTTP and the real Postgres: the caller keeps a new
session, every other session and older token is refused, each documented error, the credentials budget.
Every worker of a gunicorn refusing the old tokens is in tests/test_account_workers.py."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from tests.support.mfa import code, enrolled_user, verify
from tests.support.servers import app_settings
from tests.support.users import PASSWORD, bearer, sign_in, sign_up, sign_up_user, unique_email

NEW = "meadow-lamp-27"


def change(client, token: str, current: str = PASSWORD, new: str = NEW, **extra):
    return client.post("/auth/password/change", headers=bearer(token),
                       json={"current_password": current, "new_password": new, **extra})


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code
    return response.get_json()


def test_the_caller_gets_a_new_session_and_everything_older_is_refused(client):
    email, user_id = sign_up(client)
    phone, laptop = sign_in(client, email), sign_in(client, email)
    for session in (phone, laptop):  # cached as good on this process
        assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 200
    response = change(client, phone["access_token"])
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    fresh = response.get_json()
    assert set(fresh) == {"access_token", "refresh_token", "expires_in", "expires_at", "token_type"}
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["sub"] == user_id
    assert client.get("/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    renewed = client.post("/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    assert renewed.status_code == 200
    for session in (phone, laptop):  # the caller's own old tokens included
        assert_error(client.get("/auth/me", headers=bearer(session["access_token"])), 401, "SESSION_REVOKED")
        assert_error(client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}),
                     401, "INVALID_REFRESH_TOKEN")
    assert_error(client.post("/auth/signin", json={"email": email, "password": PASSWORD}),
                 400, "INVALID_CREDENTIALS")
    renewed_sign_in = sign_in(client, email, NEW)["access_token"]
    assert client.get("/auth/me", headers=bearer(renewed_sign_in)).status_code == 200


def test_a_wrong_current_password_changes_nothing(client):
    email, _ = sign_up(client)
    session = sign_in(client, email)
    body = assert_error(change(client, session["access_token"], current="not-my-password"),
                        400, "INVALID_CREDENTIALS")
    assert body == {"error": "Invalid login credentials", "code": "INVALID_CREDENTIALS"}
    assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 200
    assert sign_in(client, email, PASSWORD)["access_token"]


def test_two_changes_at_once_are_made_one_after_the_other(app):
    """A double tap: each change ended the other's session, and both answered 401 INVALID_REFRESH_TOKEN with
    the password changed and every session gone. Now one wins with its new session; the other finds its
    current password no longer current and changes nothing."""
    client = app.test_client()
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    start = threading.Barrier(2)

    def attempt(new: str):
        own = app.test_client()  # an address of its own: the credentials budget is per address
        start.wait()
        return new, change(own, token, new=new)

    with ThreadPoolExecutor(2) as pool:
        answers = dict(pool.map(attempt, ["first-lamp-11", "second-lamp-22"]))
    won = [new for new, response in answers.items() if response.status_code == 200]
    assert len(won) == 1, {new: response.get_json() for new, response in answers.items()}
    lost = next(response for new, response in answers.items() if new not in won)
    assert_error(lost, 400, "INVALID_CREDENTIALS")
    session = answers[won[0]].get_json()
    assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 200
    assert sign_in(client, email, won[0])["access_token"]


def test_the_profile_keeps_the_address_when_the_change_comes_before_any_profile_call(dev_client):
    """A user whose first call is the change (no profile row yet): the row the change's cutoff writes holds
    the account's address, as ensureProfile would have written it (it was left null)."""
    email = unique_email()
    session = dev_client.post("/dev/auth/token", json={"email": email, "password": PASSWORD}).get_json()["data"]
    changed = change(dev_client, session["access_token"])
    assert changed.status_code == 200, changed.get_json()
    me = dev_client.get("/users/me", headers=bearer(changed.get_json()["access_token"]))
    assert me.status_code == 200 and me.get_json()["email"] == email


@pytest.mark.parametrize("body, field, message", [
    ({"current_password": PASSWORD, "new_password": "short"}, "new_password",
     "Password must be at least 8 characters long"),
    ({"current_password": PASSWORD, "new_password": "x" * 73}, "new_password",
     "Password must be at most 72 bytes (UTF-8)"),
    ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password",
     "Must be different from the current password"),
    ({"new_password": NEW}, "current_password", "Missing data for required field."),
    ({"current_password": PASSWORD}, "new_password", "Missing data for required field."),
    ({"current_password": PASSWORD, "new_password": NEW, "password": NEW}, "password", "Unknown field."),
])
def test_the_new_password_follows_the_rules(client, body, field, message):
    email, _ = sign_up(client)
    session = sign_in(client, email)
    response = client.post("/auth/password/change", headers=bearer(session["access_token"]), json=body)
    assert assert_error(response, 400, "VALIDATION_FAILED")["details"][field] == [message]
    assert sign_in(client, email, PASSWORD)["access_token"]  # unchanged


def test_no_token_is_a_401_whatever_the_body(client):
    for headers in ({}, bearer("not-a-jwt")):
        response = client.post("/auth/password/change", headers=headers, json={"x": 1})
        assert_error(response, 401, "UNAUTHORIZED")


def test_a_project_that_requires_the_current_password_accepts_the_change(start_auth_server, make_app,
                                                                         migrated_database):
    """Supabase's "require current password" setting (GoTrue's
    SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD) is met: the current password goes along with the new
    one."""
    server = start_auth_server(LOCAL_AUTH_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD="true")
    client = make_app(app_settings(migrated_database, server)).test_client()
    email, _ = sign_up(client)
    response = change(client, sign_in(client, email)["access_token"])
    assert response.status_code == 200, response.get_json()
    assert sign_in(client, email, NEW)["access_token"]


def test_the_change_counts_against_the_credentials_budget(make_app, migrated_database, auth_server):
    client = make_app(app_settings(migrated_database, auth_server, RATE_LIMIT_AUTH="3/minute")).test_client()
    user = sign_up_user(auth_server)  # made on the stand-in: the budget starts full
    answers = [change(client, user.access_token, current="wrong-password-1") for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert_error(change(client, user.access_token), 429, "RATE_LIMITED")
    assert_error(client.post("/auth/signin", json={"email": user.email, "password": PASSWORD}),
                 429, "RATE_LIMITED")


def test_a_user_with_a_second_factor_changes_it_from_an_aal2_session(client):
    """GoTrue refuses a new password from an aal1 session of such a user (user.go, UserUpdate: 401
    insufficient_aal), which the password check's own session is: the change is made with the caller's aal2
    session, that session is ended too, and the answer is an aal1 sign-in that asks for the second factor."""
    user = enrolled_user(client)
    other = sign_in(client, user.email)  # aal1, another device
    response = change(client, user.session["access_token"])
    assert response.status_code == 200, response.get_json()
    fresh = response.get_json()
    assert fresh["mfa_required"] is True
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["aal"] == "aal1"
    assert client.get("/auth/me", headers=bearer(fresh["access_token"])).status_code == 200
    assert_error(client.get("/users/profile", headers=bearer(fresh["access_token"])), 403, "MFA_REQUIRED")
    upgraded = verify(client, fresh["access_token"], user.factor_id, code(user.secret, steps_ahead=1))
    assert upgraded.status_code == 200, upgraded.get_json()
    aal2 = upgraded.get_json()["access_token"]
    assert client.get("/users/profile", headers=bearer(aal2)).status_code == 200
    for session in (user.session, other):  # the caller's aal2 session ended at Supabase as well as here
        assert_error(client.get("/auth/me", headers=bearer(session["access_token"])), 401, "SESSION_REVOKED")
        assert_error(client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}),
                     401, "INVALID_REFRESH_TOKEN")
    assert_error(client.post("/auth/signin", json={"email": user.email, "password": PASSWORD}),
                 400, "INVALID_CREDENTIALS")


def test_an_aal1_token_of_a_user_with_a_second_factor_cannot_change_it(client):
    user = enrolled_user(client)
    aal1 = sign_in(client, user.email)["access_token"]
    assert_error(change(client, aal1), 403, "MFA_REQUIRED")
    assert client.post("/auth/signin", json={"email": user.email, "password": PASSWORD}).status_code == 200
