"""GET /users/me/export against the stand-in over HTTP and the real Postgres: what Supabase holds about the
caller (account, roles, identities), every column of the profile row, the API's own session state, as a
download that is never cached."""
from __future__ import annotations

import re

import jwt

from coner_api.lifecycle.schemas import ExportSchema, ProfileExportSchema
from tests.support.profiles import VALID
from tests.support.users import bearer, sign_in, sign_up, sign_up_user, user_with

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def export(client, token: str):
    response = client.get("/users/me/export", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response


def test_the_export_holds_the_account_the_profile_and_the_session_state(client):
    email, user_id = sign_up(client, displayName="Mai Tran")
    kept, ended = sign_in(client, email), sign_in(client, email)
    setup = client.put("/users/profile-first", headers=bearer(kept["access_token"]), json=VALID)
    assert setup.status_code == 200
    assert client.post("/auth/logout", headers=bearer(ended["access_token"])).status_code == 204
    response = export(client, kept["access_token"])
    assert response.headers["Content-Disposition"] == f'attachment; filename="coner-export-{user_id}.json"'
    assert response.headers["Cache-Control"] == "no-store" and response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["exported_at", "user_id", "account", "profile", "sessions"]
    assert body["user_id"] == user_id and STAMP.match(body["exported_at"])
    account = body["account"]
    assert account["id"] == user_id and account["email"] == email and account["roles"] == []
    assert account["user_metadata"]["display_name"] == "Mai Tran"
    assert account["app_metadata"]["providers"] == ["email"]
    assert account["created_at"] and account["email_confirmed_at"] and account["last_sign_in_at"]
    (identity,) = account["identities"]
    assert identity["provider"] == "email" and identity["identity_data"]["email"] == email
    assert identity["user_id"] == user_id and identity["created_at"]
    assert account["factors"] == []
    profile = body["profile"]
    assert (profile["user_id"], profile["email"], profile["display_name"]) == (user_id, email, "Mai Tran")
    assert {name: profile[name] for name in VALID} == VALID
    assert STAMP.match(profile["profile_initialized_at"]) and profile["is_deleted"] is False
    assert "logout_at" not in profile
    ended_session = jwt.decode(ended["access_token"], options={"verify_signature": False})["session_id"]
    assert body["sessions"]["logout_at"] is None
    assert [s["session_id"] for s in body["sessions"]["revoked_sessions"]] == [ended_session]
    assert ExportSchema().validate(body) == {}


def test_the_logout_cutoff_and_roles_are_in_it(client, auth_server):
    user = user_with(auth_server, "admin")
    assert client.post("/auth/logout-all", headers=user.headers).status_code == 204
    body = export(client, sign_in(client, user.email)["access_token"]).get_json()
    assert body["account"]["roles"] == ["admin"]
    assert STAMP.match(body["sessions"]["logout_at"])


def test_exporting_creates_nothing(client, auth_server, db_conn):
    user = sign_up_user(auth_server)  # never called a /users route: no profile row
    body = export(client, user.access_token).get_json()
    assert body["profile"] is None and body["account"]["email"] == user.email
    assert body["sessions"] == {"logout_at": None, "revoked_sessions": []}
    rows = db_conn.execute("SELECT count(*) FROM user_profiles WHERE user_id = %s", [user.id]).fetchone()
    assert rows == (0,)


def test_every_column_of_the_profile_row_is_exported(db_conn):
    columns = {name for (name,) in db_conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'user_profiles'")}
    assert columns == set(ProfileExportSchema().fields) | {"logout_at"}


def test_the_export_needs_a_token(client):
    response = client.get("/users/me/export")
    assert response.status_code == 401 and response.get_json()["code"] == "UNAUTHORIZED"
