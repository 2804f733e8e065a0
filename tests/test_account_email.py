"""POST /auth/email/change and POST /auth/email/verify against the stand-in over HTTP and the real Postgres:
codes to both addresses, one or two confirmations (autoconfirm on or off), the profile's e-mail following, an
address in use getting the same answer and changing nothing, each documented error, the credentials budget."""
from __future__ import annotations

import httpx
import pytest

from tests.support.servers import app_settings
from tests.support.users import (PASSWORD, bearer, latest_otp, sign_in, sign_up, sign_up_user, supabase_admin,
                                 unique_email)

REQUESTED = {"message": "If the new address can be used, confirmation codes are on their way to it and to "
                        "the current address"}
CHANGED = {"message": "Email address changed"}
HALF = {"message": "Confirmed; now confirm with the code sent to the other address"}


def profile_email(db_conn, user_id: str) -> tuple:
    return db_conn.execute("SELECT email, is_email_verified FROM user_profiles WHERE user_id = %s",
                           [user_id]).fetchone()


def ask(client, token: str, new_email: str):
    return client.post("/auth/email/change", headers=bearer(token), json={"new_email": new_email})


def verify(client, email: str, token: str):
    return client.post("/auth/email/verify", json={"email": email, "token": token})


@pytest.fixture(scope="module")
def confirming(start_auth_server, make_module_app, migrated_database):
    """An app whose stand-in requires e-mail confirmation (hosted "Confirm email" on): both codes count."""
    server = start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false")
    return server, make_module_app(app_settings(migrated_database, server)).test_client()


def confirmed_user(server, client) -> tuple[str, str, str]:
    """(email, user id, access token) of a confirmed user of `server`, with a profile row."""
    email = unique_email()
    attributes = {"email": email, "password": PASSWORD, "email_confirm": True}
    user = supabase_admin(server).create_user(attributes).user
    token = sign_in(client, email)["access_token"]
    assert client.post("/auth/bootstrap", headers=bearer(token)).status_code == 200
    return email, str(user.id), token


# --------------------------------------------------------------------------------- one confirmation
def test_one_code_completes_the_change_when_the_project_autoconfirms(client, auth_server, db_conn):
    old, user_id = sign_up(client)
    token = sign_in(client, old)["access_token"]
    new = unique_email()
    response = ask(client, token, f"  {new.upper()} ")  # addresses are trimmed and lower-cased
    assert response.status_code == 202 and response.get_json() == REQUESTED
    assert [m["type"] for m in auth_server.mail(new)] == ["email_change"]
    assert "email_change" in [m["type"] for m in auth_server.mail(old)]  # secure e-mail change: both
    assert profile_email(db_conn, user_id)[0] == old  # nothing changes before the confirmation
    done = verify(client, new, latest_otp(auth_server, new, "email_change"))
    assert done.status_code == 200 and done.get_json() == CHANGED
    assert profile_email(db_conn, user_id) == (new, True)
    assert client.post("/auth/signin", json={"email": old, "password": PASSWORD}).status_code == 400
    fresh = sign_in(client, new)["access_token"]
    assert client.get("/auth/me", headers=bearer(fresh)).get_json()["user"]["email"] == new
    assert client.get("/auth/me", headers=bearer(token)).status_code == 200  # sessions are not ended


def test_a_change_confirmed_before_the_profile_row_exists_gives_the_row_the_new_address(client, auth_server,
                                                                                      db_conn):
    """The row is made on first use from the token's address: a token from before the change would have made
    it with the old one (another account could then sign up with that old address: two rows, one e-mail)."""
    user = sign_up_user(auth_server)  # through Supabase alone: no profile row yet
    assert profile_email(db_conn, user.id) is None
    new = unique_email()
    assert ask(client, user.access_token, new).status_code == 202
    assert verify(client, new, latest_otp(auth_server, new, "email_change")).get_json() == CHANGED
    assert client.get("/users/me", headers=bearer(user.access_token)).status_code == 200  # the old token
    assert profile_email(db_conn, user.id) == (new, True)


# -------------------------------------------------------------------------------- two confirmations
def test_both_addresses_confirm_when_the_project_requires_confirmation(confirming, db_conn):
    server, client = confirming
    old, user_id, token = confirmed_user(server, client)
    new = unique_email()
    assert ask(client, token, new).status_code == 202
    to_old, to_new = latest_otp(server, old, "email_change"), latest_otp(server, new, "email_change")
    first = verify(client, new, to_new)
    assert first.status_code == 202 and first.get_json() == HALF
    assert profile_email(db_conn, user_id)[0] == old
    assert verify(client, new, to_new).get_json()["code"] == "INVALID_OTP"  # used
    second = verify(client, old, to_old)
    assert second.status_code == 200 and second.get_json() == CHANGED
    assert profile_email(db_conn, user_id) == (new, True)
    assert sign_in(client, new)["access_token"]


def test_a_wrong_or_foreign_code_is_invalid_otp(confirming):
    server, client = confirming
    old, _, token = confirmed_user(server, client)
    new = unique_email()
    ask(client, token, new)
    for email, code in ((new, "000000"), (old, latest_otp(server, new, "email_change")),
                        (unique_email(), latest_otp(server, old, "email_change"))):
        response = verify(client, email, code)
        assert response.status_code == 401, response.get_json()
        assert response.get_json() == {"error": "Invalid or expired verification token",
                                       "code": "INVALID_OTP"}


# ------------------------------------------------------------------------------------ no enumeration
def test_an_address_in_use_gets_the_same_answer_and_changes_nothing(client, auth_server, db_conn):
    taken = sign_up_user(auth_server)
    email, user_id = sign_up(client)
    token = sign_in(client, email)["access_token"]
    mailed = len(auth_server.mail(taken.email))
    response = ask(client, token, taken.email)
    assert response.status_code == 202 and response.get_json() == REQUESTED
    assert len(auth_server.mail(taken.email)) == mailed
    account = supabase_admin(auth_server).get_user_by_id(user_id).user
    assert account.email == email and account.new_email is None
    assert profile_email(db_conn, user_id)[0] == email
    same = ask(client, token, email)  # the current address: nothing to do, the same answer
    assert same.status_code == 202 and same.get_json() == REQUESTED


# ------------------------------------------------------------------------------ the link, not the code
def test_a_change_confirmed_through_the_link_reaches_the_profile_at_the_next_refresh(client, auth_server,
                                                                                      db_conn):
    old, user_id = sign_up(client)
    session = sign_in(client, old)
    new = unique_email()
    ask(client, session["access_token"], new)
    link = auth_server.mail(new)[0]["link"]  # Supabase's own /verify: this API never sees it
    assert httpx.get(link, timeout=10).status_code == 303
    assert profile_email(db_conn, user_id)[0] == old
    assert client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 200
    assert profile_email(db_conn, user_id)[0] == new


# --------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("body, field", [({}, "new_email"), ({"new_email": "not-an-address"}, "new_email"),
                                         ({"new_email": "a@example.com", "email": "b@example.com"}, "email")])
def test_change_validation(client, new_user, body, field):
    response = client.post("/auth/email/change", headers=new_user().headers, json=body)
    assert response.status_code == 400 and field in response.get_json()["details"]


@pytest.mark.parametrize("body, field", [({"token": "123456"}, "email"),
                                         ({"email": "a@example.com"}, "token"),
                                         ({"email": "a@example.com", "token": "12 34"}, "token"),
                                         ({"email": "nope", "token": "123456"}, "email")])
def test_verify_validation(client, body, field):
    response = client.post("/auth/email/verify", json=body)
    assert response.status_code == 400 and field in response.get_json()["details"]


def test_change_needs_a_token(client):
    response = client.post("/auth/email/change", json={"new_email": unique_email()})
    assert response.status_code == 401 and response.get_json()["code"] == "UNAUTHORIZED"


def test_the_lifecycle_routes_share_the_credentials_budget(make_app, migrated_database, auth_server):
    client = make_app(app_settings(migrated_database, auth_server, RATE_LIMIT_AUTH="2/minute")).test_client()
    user = sign_up_user(auth_server)
    assert verify(client, user.email, "000000").status_code == 401
    assert ask(client, user.access_token, unique_email()).status_code == 202
    for response in (verify(client, user.email, "000000"), ask(client, user.access_token, unique_email()),
                     client.delete("/users/me", headers=user.headers, json={"password": PASSWORD}),
                     client.post("/auth/password/change", headers=user.headers, json={}),
                     client.post("/auth/signin", json={"email": user.email, "password": PASSWORD})):
        assert response.status_code == 429 and response.get_json()["code"] == "RATE_LIMITED"
    assert client.get("/users/me/export", headers=user.headers).status_code == 200  # per user, not per IP
