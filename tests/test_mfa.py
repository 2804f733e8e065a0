"""Two-factor sign-in (TOTP) through the API against the stand-in: enrolment, verification, the sign-in answer's
`mfa_required`, enforcement on profile and admin routes, codes refused when wrong or replayed, unenrolment,
ADMIN_REQUIRE_MFA, purges across processes, and Supabase down with a cold factor cache."""
from __future__ import annotations

import base64

import jwt
import pytest

from tests.support.mfa import code, enrol, enrolled_user, verify
from tests.support.servers import app_settings
from tests.support.users import bearer, sign_in, sign_up, supabase_admin, with_roles, sign_up_user


def assert_error(response, status: int, code_: str) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.get_json()["code"] == code_, response.get_json()
    return response.get_json()


def aal(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["aal"]


# ------------------------------------------------------------------------------------------ the whole flow
def test_enrol_verify_and_sign_in_again(client):
    email, user_id = sign_up(client)
    first = sign_in(client, email)
    assert "mfa_required" not in first  # no factor: the answer is as it always was
    token = first["access_token"]
    factor = enrol(client, token, friendly_name="Phone")
    assert list(factor) == ["factor_id", "type", "friendly_name", "secret", "uri", "qr_code"]
    assert factor["type"] == "totp" and factor["friendly_name"] == "Phone"
    assert factor["uri"].startswith(f"otpauth://totp/Coner:{email}?") and f"secret={factor['secret']}" in factor["uri"]
    assert factor["qr_code"].startswith("data:image/png;base64,")
    assert base64.b64decode(factor["qr_code"].partition(",")[2]).startswith(b"\x89PNG\r\n\x1a\n")
    listed = client.get("/auth/mfa/factors", headers=bearer(token)).get_json()["factors"]
    assert [(f["id"], f["status"], f["type"]) for f in listed] == [(factor["factor_id"], "unverified", "totp")]
    # Until the first code is verified, nothing is enforced.
    assert client.get("/users/profile", headers=bearer(token)).status_code == 200

    response = verify(client, token, factor["factor_id"], code(factor["secret"]))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    session = response.get_json()
    assert list(session) == ["access_token", "refresh_token", "expires_in", "expires_at", "token_type"]
    assert aal(session["access_token"]) == "aal2"
    assert session["expires_at"] == jwt.decode(session["access_token"], options={"verify_signature": False})["exp"]
    assert client.get("/users/profile", headers=bearer(session["access_token"])).status_code == 200
    me = client.get("/auth/me", headers=bearer(session["access_token"])).get_json()["user"]
    assert me["id"] == user_id and me["aal"] == "aal2"

    again = sign_in(client, email)
    assert again["mfa_required"] is True and aal(again["access_token"]) == "aal1"
    partial = bearer(again["access_token"])
    body = assert_error(client.get("/users/profile", headers=partial), 403, "MFA_REQUIRED")
    assert body["error"].startswith("Two-factor authentication required")
    for method, path in (("put", "/users/me"), ("post", "/auth/bootstrap"), ("post", "/auth/logout-all"),
                         ("post", "/auth/logout")):
        assert_error(getattr(client, method)(path, json={"display_name": "x"}, headers=partial), 403, "MFA_REQUIRED")
    # What a user half-way through sign-in may still do: who am I, which factors, verify (the contract: 403
    # outside the MFA routes and /auth/me; giving up is dropping the tokens).
    assert client.get("/auth/me", headers=partial).get_json()["user"]["aal"] == "aal1"
    assert client.get("/auth/mfa/factors", headers=partial).get_json()["factors"][0]["status"] == "verified"
    upgraded = verify(client, again["access_token"], factor["factor_id"], code(factor["secret"], 1)).get_json()
    assert client.get("/users/profile", headers=bearer(upgraded["access_token"])).status_code == 200
    # A refresh keeps the session's level, and says nothing more.
    refreshed = client.post("/auth/refresh", json={"refresh_token": upgraded["refresh_token"]}).get_json()
    assert "mfa_required" not in refreshed and aal(refreshed["access_token"]) == "aal2"
    assert client.post("/auth/logout", headers=bearer(upgraded["access_token"])).status_code == 204


def test_an_aal1_token_from_before_the_enrolment_is_refused_after_it(client):
    email, _ = sign_up(client)
    other_device = sign_in(client, email)["access_token"]
    assert client.get("/users/me", headers=bearer(other_device)).status_code == 200  # cached: no factor
    token = sign_in(client, email)["access_token"]
    factor = enrol(client, token)
    assert verify(client, token, factor["factor_id"], code(factor["secret"])).status_code == 200
    assert_error(client.get("/users/me", headers=bearer(other_device)), 403, "MFA_REQUIRED")


# ---------------------------------------------------------------------------------------- refused codes
def test_wrong_and_replayed_codes_are_refused(client, db_conn):
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    factor = enrol(client, token)
    right = code(factor["secret"])
    wrong = "000000" if right != "000000" else "111111"
    body = assert_error(verify(client, token, factor["factor_id"], wrong), 401, "INVALID_OTP")
    assert "WWW-Authenticate" not in verify(client, token, factor["factor_id"], wrong).headers
    assert body["error"] == "Invalid or expired verification token"
    assert verify(client, token, factor["factor_id"], right).status_code == 200
    # The same code again, even from a fresh sign-in: once only (Supabase itself would take it again).
    fresh = sign_in(client, email)["access_token"]
    replay = assert_error(verify(client, fresh, factor["factor_id"], right), 401, "INVALID_OTP")
    assert replay["error"] == "Invalid or already used code"
    assert verify(client, fresh, factor["factor_id"], code(factor["secret"], 1)).status_code == 200
    rows = db_conn.execute("SELECT code_digest FROM mfa_used_codes WHERE factor_id = %s",
                           [factor["factor_id"]]).fetchall()
    assert len(rows) == 2 and all(right.encode() not in row[0] for row in rows)  # digests, never the codes


def test_wrong_codes_count_against_the_credential_limit(make_app, migrated_database, auth_server, client):
    limited = make_app(app_settings(migrated_database, auth_server, RATE_LIMIT_AUTH="2/minute")).test_client()
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    factor = enrol(client, token)
    for _ in range(2):
        assert_error(verify(limited, token, factor["factor_id"], "000001"), 401, "INVALID_OTP")
    response = verify(limited, token, factor["factor_id"], code(factor["secret"]))
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("body, field", [({"code": "123456"}, "factor_id"),
                                         ({"factor_id": "not-a-uuid", "code": "123456"}, "factor_id"),
                                         ({"factor_id": "7d1f3c52-0b7e-4a8e-9f61-2c5d8e0a4b13", "code": "12345"},
                                          "code"),
                                         ({"factor_id": "7d1f3c52-0b7e-4a8e-9f61-2c5d8e0a4b13", "code": "١٢٣٤٥٦"},
                                          "code")])
def test_verify_validation(client, new_user, body, field):
    response = client.post("/auth/mfa/verify", json=body, headers=new_user().headers)
    assert field in assert_error(response, 400, "VALIDATION_FAILED")["details"]


def test_routes_need_a_token_and_check_their_input(client, new_user):
    for method, path in (("post", "/auth/mfa/enroll"), ("post", "/auth/mfa/verify"), ("get", "/auth/mfa/factors"),
                         ("delete", "/auth/mfa/factors/7d1f3c52-0b7e-4a8e-9f61-2c5d8e0a4b13")):
        assert_error(getattr(client, method)(path), 401, "UNAUTHORIZED")
    user = new_user()
    assert_error(client.delete("/auth/mfa/factors/nope", headers=user.headers), 400, "VALIDATION_FAILED")
    missing = "7d1f3c52-0b7e-4a8e-9f61-2c5d8e0a4b13"
    unenrolled = assert_error(client.delete(f"/auth/mfa/factors/{missing}", headers=user.headers),
                              404, "NOT_FOUND")
    verified = assert_error(verify(client, user.access_token, missing, "123456"), 404, "NOT_FOUND")
    assert unenrolled["error"] == verified["error"] == "Factor not found"  # either route: one answer
    assert_error(client.post("/auth/mfa/enroll", json={"issuer": "x"}, headers=user.headers), 400,
                 "VALIDATION_FAILED")
    assert client.post("/auth/mfa/enroll", headers=user.headers).status_code == 201  # the body is optional


# -------------------------------------------------------------------------------------------- enrolment
def test_enrolling_again_replaces_an_unverified_enrolment(client, new_user):
    user = new_user()
    first = enrol(client, user.access_token)
    second = enrol(client, user.access_token)
    factors = client.get("/auth/mfa/factors", headers=user.headers).get_json()["factors"]
    assert [f["id"] for f in factors] == [second["factor_id"]] != [first["factor_id"]]


def test_a_second_factor_takes_aal2(client):
    user = enrolled_user(client)
    partial = sign_in(client, user.email)["access_token"]
    assert_error(client.post("/auth/mfa/enroll", json={"friendly_name": "Tablet"}, headers=bearer(partial)),
                 403, "MFA_REQUIRED")
    assert enrol(client, user.session["access_token"], friendly_name="Tablet")["friendly_name"] == "Tablet"


def test_a_factor_of_a_name_already_taken_is_a_conflict_that_says_so(client):
    """409 CONFLICT has two causes (mfa.go: mfa_factor_name_conflict, too_many_enrolled_mfa_factors): the
    message names which."""
    user = enrolled_user(client)
    aal2 = user.session["access_token"]
    tablet = enrol(client, aal2, friendly_name="Tablet")
    assert verify(client, aal2, tablet["factor_id"], code(tablet["secret"])).status_code == 200
    again = client.post("/auth/mfa/enroll", json={"friendly_name": "Tablet"}, headers=bearer(aal2))
    body = assert_error(again, 409, "CONFLICT")
    assert body["error"] == "A factor with this friendly name already exists"


# ------------------------------------------------------------------------------------------ unenrolment
def test_unenrolling_takes_aal2_and_ends_the_other_sessions(client):
    user = enrolled_user(client)
    path = f"/auth/mfa/factors/{user.factor_id}"
    partial = sign_in(client, user.email)
    assert_error(client.delete(path, headers=bearer(partial["access_token"])), 403, "MFA_REQUIRED")
    # Another device at aal2 (its code ends the aal1 session above in Supabase, as any verification does).
    other = sign_in(client, user.email)
    other = verify(client, other["access_token"], user.factor_id, code(user.secret, 1)).get_json()
    assert_error(client.delete(path, headers=bearer(partial["access_token"])), 401, "SESSION_REVOKED")

    assert client.delete(path, headers=user.headers).status_code == 204
    for session in (user.session, other):
        assert_error(client.get("/auth/me", headers=bearer(session["access_token"])), 401, "SESSION_REVOKED")
    assert_error(client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401,
                 "INVALID_REFRESH_TOKEN")
    # The caller's own session goes on after a refresh, at aal1 and with nothing left to verify.
    mine = client.post("/auth/refresh", json={"refresh_token": user.session["refresh_token"]}).get_json()
    assert aal(mine["access_token"]) == "aal1" and "mfa_required" not in mine
    assert client.get("/users/profile", headers=bearer(mine["access_token"])).status_code == 200
    assert client.get("/auth/mfa/factors", headers=bearer(mine["access_token"])).get_json() == {"factors": []}
    assert "mfa_required" not in sign_in(client, user.email)


def test_removing_an_unverified_enrolment_ends_nothing(client, new_user):
    user = new_user()
    factor = enrol(client, user.access_token)
    assert client.delete(f"/auth/mfa/factors/{factor['factor_id']}", headers=user.headers).status_code == 204
    assert client.get("/auth/me", headers=user.headers).status_code == 200


# ---------------------------------------------------------------------------------------------- admins
def test_an_admin_with_a_factor_needs_aal2(client, auth_server):
    user = enrolled_user(client)
    supabase_admin(auth_server).update_user_by_id(user.user_id, {"app_metadata": {"roles": ["admin"]}})
    partial = sign_in(client, user.email)
    assert_error(client.get("/admin/users", headers=bearer(partial["access_token"])), 403, "MFA_REQUIRED")
    full = verify(client, partial["access_token"], user.factor_id, code(user.secret, 1)).get_json()
    assert client.get("/admin/users", headers=bearer(full["access_token"])).status_code == 200


def test_admin_require_mfa(make_app, migrated_database, auth_server, client):
    strict = make_app(app_settings(migrated_database, auth_server, ADMIN_REQUIRE_MFA="true")).test_client()
    admin = with_roles(auth_server, sign_up_user(auth_server), ["admin"])
    assert client.get("/admin/users", headers=admin.headers).status_code == 200  # off outside production
    body = assert_error(strict.get("/admin/users", headers=admin.headers), 403, "MFA_REQUIRED")
    assert "enrol" in body["error"] and "/auth/mfa/enroll" in body["error"]
    assert strict.get("/users/me", headers=admin.headers).status_code == 200  # only /admin needs it
    factor = enrol(strict, admin.access_token)
    full = verify(strict, admin.access_token, factor["factor_id"], code(factor["secret"])).get_json()
    assert strict.get("/admin/users", headers=bearer(full["access_token"])).status_code == 200
    partial = sign_in(strict, admin.email, admin.password)
    body = assert_error(strict.get("/admin/users", headers=bearer(partial["access_token"])), 403, "MFA_REQUIRED")
    assert "enrol" not in body["error"]


def test_admin_require_mfa_defaults_to_production_only():
    from coner_api.config import Config

    base = {"DATABASE_URL": "postgresql://x/y", "SUPABASE_URL": "https://p.supabase.co", "SUPABASE_ANON_KEY": "a",
            "SUPABASE_SERVICE_ROLE_KEY": "s", "TRUSTED_PROXIES": "1",
            "OAUTH_REDIRECT_URL": "https://api.example.com/auth/callback"}
    assert Config.from_env({**base, "APP_ENV": "production"}).admin_require_mfa is True
    assert Config.from_env({**base, "APP_ENV": "development"}).admin_require_mfa is False
    assert Config.from_env({**base, "APP_ENV": "production", "ADMIN_REQUIRE_MFA": "false"}).admin_require_mfa is False


# ------------------------------------------------------------------------------- processes and outages
def test_an_enrolment_reaches_every_process_before_its_answer(make_app, migrated_database, auth_server, client):
    second = make_app(app_settings(migrated_database, auth_server))
    assert second.extensions["coner.revocations"].listener.wait_trusted(5)
    assert client.application.extensions["coner.revocations"].listener.wait_trusted(5)
    email, _ = sign_up(client)
    token = sign_in(client, email)["access_token"]
    assert second.test_client().get("/users/me", headers=bearer(token)).status_code == 200  # cached: no factor
    factor = enrol(client, token)
    assert verify(client, token, factor["factor_id"], code(factor["secret"])).status_code == 200
    assert_error(second.test_client().get("/users/me", headers=bearer(token)), 403, "MFA_REQUIRED")


@pytest.mark.slow
def test_supabase_down_with_a_cold_factor_cache(start_auth_server, make_app, migrated_database):
    """Fail closed: an aal1 token whose user is not cached is a 503 while Supabase Auth is down; aal2 tokens
    and cached users keep working."""
    server = start_auth_server(fresh=True)
    client = make_app(app_settings(migrated_database, server)).test_client()
    enrolled = enrolled_user(client)
    cached_email, _ = sign_up(client)
    cached = sign_in(client, cached_email)["access_token"]
    cold_email, _ = sign_up(client)
    cold = sign_in(client, cold_email)["access_token"]
    pending = enrol(client, cold)
    assert client.get("/users/me", headers=bearer(cold)).status_code == 200
    client.application.extensions["coner.factor_status"].cache.pop(
        jwt.decode(cold, options={"verify_signature": False})["sub"])
    server.stop()
    try:
        assert client.get("/users/me", headers=enrolled.headers).status_code == 200
        assert client.get("/users/me", headers=bearer(cached)).status_code == 200
        assert_error(client.get("/users/me", headers=bearer(cold)), 503, "AUTH_UNAVAILABLE")
        assert client.get("/auth/me", headers=bearer(cold)).status_code == 200  # no factor look-up there
        # A code refused for the outage is not used up.
        next_code = code(pending["secret"], 1)
        assert_error(verify(client, cold, pending["factor_id"], next_code), 503, "AUTH_UNAVAILABLE")
    finally:
        server.start()
    assert client.get("/users/me", headers=bearer(cold)).status_code == 200
    assert verify(client, cold, pending["factor_id"], next_code).status_code == 200
