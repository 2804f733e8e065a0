"""Password and refresh grants, the access-token claims, /user, and logout scopes."""
from __future__ import annotations

import time
import uuid
from datetime import datetime

import jwt
import pytest
from supabase_auth.errors import AuthApiError


def _password(server, h, body):
    with h.http(server) as http:
        return http.post("/token", params={"grant_type": "password"}, json=body)


def _refresh(server, h, token):
    with h.http(server) as http:
        return http.post("/token", params={"grant_type": "refresh_token"}, json={"refresh_token": token})


def test_password_grant_validation_order(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    cases = [
        ({"email": email, "phone": "15550001111", "password": "x"}, 400, "validation_failed",
         "Only an email address or phone number should be provided on login."),
        ({"password": "x"}, 400, "validation_failed", "missing email or phone"),
        ({"email": h.email(), "password": "secret123"}, 400, "invalid_credentials",
         "Invalid login credentials"),
        ({"email": email, "password": "wrong-password"}, 400, "invalid_credentials",
         "Invalid login credentials"),
    ]
    for body, status, code, message in cases:
        response = _password(auth_server, h, body)
        assert (response.status_code, response.json()) == (status, {"code": code, "message": message}), body


def test_unsupported_grant_type(auth_server, h):
    with h.http(auth_server) as http:
        response = http.post("/token", params={"grant_type": "client_credentials"}, json={})
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_credentials", "message": "unsupported_grant_type"}


@pytest.mark.parametrize("body, description", [
    ({"provider": "google"}, "id_token required"),
    ({"id_token": "abc"}, "provider or client_id and issuer required"),
    ({"id_token": "abc", "client_id": "x"}, "provider or client_id and issuer required"),
    ({"id_token": "abc", "provider": "google"}, "Bad ID token"),
    ({"id_token": "abc", "client_id": "x", "issuer": "https://accounts.google.com"}, "Bad ID token"),
])
def test_the_id_token_grant_refuses_as_gotrue_does(auth_server, h, body, description):
    """token.go, Token serves grant_type=id_token (sign_in_with_id_token); token_oidc.go, IdTokenGrant answers
    its OAuthError, 400 {"error", "error_description"}. No Google ID token verifies offline: "Bad ID
    token"."""
    with h.http(auth_server) as http:
        response = http.post("/token", params={"grant_type": "id_token"}, json=body)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid request", "error_description": description}
    assert "x-sb-error-code" not in response.headers
    with pytest.raises(AuthApiError) as caught:
        h.client(auth_server).auth.sign_in_with_id_token({"provider": "google", "token": "not-google"})
    assert caught.value.status == 400


def test_an_id_token_of_an_issuer_not_allowed_is_refused(auth_server, h):
    """getProvider's default branch: an issuer outside GOTRUE_EXTERNAL_ALLOWED_ID_TOKEN_ISSUERS."""
    with h.http(auth_server) as http:
        response = http.post("/token", params={"grant_type": "id_token"},
                             json={"id_token": "abc", "provider": "custom-thing"})
    assert (response.status_code, response.json()) == (400, {
        "code": "validation_failed", "message": 'Custom OIDC provider "custom-thing" not allowed'})


def test_email_not_confirmed_only_after_correct_password(confirm_server, h):
    email = h.email()
    h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    assert _password(confirm_server, h, {"email": email, "password": "nope-nope"}).json()["code"] == \
        "invalid_credentials"
    assert _password(confirm_server, h, {"email": email, "password": "secret123"}).json() == \
        {"code": "email_not_confirmed", "message": "Email not confirmed"}


def test_session_response_and_claims(auth_server, h):
    email = h.email()
    body = h.sign_up(auth_server, email)
    assert body["token_type"] == "bearer" and body["expires_in"] in (3599, 3600)
    assert len(body["refresh_token"]) == 12
    assert set(body["refresh_token"]) <= set("abcdefghijklmnopqrstuvwxyz234567")
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] in ("ES256", "RS256", "HS256") and header["typ"] == "JWT"
    assert header.get("kid") or header["alg"] == "HS256"  # ES256 here; a legacy project may sign with HS256
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert list(claims) == ["iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata",
                            "user_metadata", "role", "aal", "amr", "session_id", "is_anonymous"]
    assert claims["iss"] == auth_server.issuer and claims["aud"] == "authenticated"
    assert claims["exp"] == claims["iat"] + 3600 == body["expires_at"]
    assert claims["sub"] == body["user"]["id"] and claims["email"] == email and claims["phone"] == ""
    assert claims["role"] == "authenticated" and claims["aal"] == "aal1" and claims["is_anonymous"] is False
    assert claims["amr"][0]["method"] == "password" and isinstance(claims["amr"][0]["timestamp"], int)
    assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
    uuid.UUID(claims["session_id"])


@pytest.mark.standin_only("expects the stand-in's ES256 signing key")
def test_signature_verifies_against_jwks(auth_server, h):
    token = h.sign_up(auth_server)["access_token"]
    client = jwt.PyJWKClient(f"{auth_server.url}/auth/v1/.well-known/jwks.json")
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience="authenticated",
                        issuer=auth_server.issuer)
    assert claims["role"] == "authenticated"
    official = h.client(auth_server).auth.get_claims(token)
    assert official["claims"]["sub"] == claims["sub"]


def test_success_headers(auth_server, h):
    with h.http(auth_server) as http:
        response = http.post("/signup", json={"email": h.email(), "password": "secret123"})
    assert response.headers["sb-auth-user-id"] == response.json()["user"]["id"]
    assert response.headers["sb-auth-session-id"]
    assert response.headers["content-type"].startswith("application/json")


def test_refresh_rotates_tokens(auth_server, h):
    first = h.sign_up(auth_server)
    client = h.client(auth_server)
    second = client.auth.refresh_session(first["refresh_token"]).session
    assert second.refresh_token != first["refresh_token"] and len(second.refresh_token) == 12
    first_claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    claims = jwt.decode(second.access_token, options={"verify_signature": False})
    assert claims["session_id"] == first_claims["session_id"] and claims["amr"] == first_claims["amr"]
    third = _refresh(auth_server, h, second.refresh_token).json()
    assert third["refresh_token"] not in (first["refresh_token"], second.refresh_token)


def test_parent_of_active_token_returns_active_token(auth_server, h):
    first = h.sign_up(auth_server)
    second = _refresh(auth_server, h, first["refresh_token"]).json()["refresh_token"]
    again = _refresh(auth_server, h, first["refresh_token"])
    assert again.status_code == 200 and again.json()["refresh_token"] == second


def test_reuse_outside_interval_revokes_session_tokens(start_auth_server, h):
    server = start_auth_server(LOCAL_AUTH_REFRESH_REUSE_INTERVAL="0.3", LOCAL_AUTH_JWT_EXP="120")
    first = h.sign_up(server)
    assert first["expires_in"] in (119, 120)
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    second = _refresh(server, h, first["refresh_token"]).json()["refresh_token"]
    third = _refresh(server, h, second).json()["refresh_token"]
    time.sleep(0.4)
    # `first` is neither the parent of the active token nor within the interval.
    reused = _refresh(server, h, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json() == {"code": "refresh_token_already_used",
                             "message": "Invalid Refresh Token: Already Used"}
    time.sleep(0.4)  # the family revocation just touched `third`; wait out its reuse interval as well
    with pytest.raises(AuthApiError) as caught:
        h.client(server).auth.refresh_session(third)
    assert caught.value.code == "refresh_token_already_used"
    # The session itself survives: the access token still works.
    assert h.client(server).auth.get_user(first["access_token"]).user.id == first["user"]["id"]


def test_reuse_within_interval_issues_new_token(auth_server, h):
    first = h.sign_up(auth_server)
    second = _refresh(auth_server, h, first["refresh_token"]).json()["refresh_token"]
    _refresh(auth_server, h, second)
    within = _refresh(auth_server, h, first["refresh_token"])  # default interval: 10 s
    assert within.status_code == 200
    assert within.json()["refresh_token"] not in (first["refresh_token"], second)


def test_a_reuse_within_the_interval_restarts_it(start_auth_server, h):
    """tokens/service.go, RefreshTokenGrant measures the interval from the token's updated_at, which
    models.GrantRefreshTokenSwap writes again on every allowed reuse (pop's UpdateOnly sets updated_at)."""
    server = start_auth_server(LOCAL_AUTH_REFRESH_REUSE_INTERVAL="3")
    first = h.sign_up(server)["refresh_token"]
    second = _refresh(server, h, first).json()["refresh_token"]
    _refresh(server, h, second)  # `first` is no longer the parent of the active token
    time.sleep(2)
    reused = _refresh(server, h, first)
    assert reused.status_code == 200, reused.text
    _refresh(server, h, reused.json()["refresh_token"])
    time.sleep(2)  # 4 s after `first` was revoked, 2 s after its reuse
    again = _refresh(server, h, first)
    assert again.status_code == 200, again.text


def test_a_sign_in_stamps_the_user_not_its_identities(auth_server, h):
    """tokens/service.go, IssueRefreshToken sets the user's last_sign_in_at; an identity keeps the one
    models.NewIdentity gave it, for a password sign-in as for a Google one (external.go writes the value it
    loaded)."""
    email = h.email()
    signed_up = h.sign_up(auth_server, email)["user"]
    first = {i["provider"]: i["last_sign_in_at"] for i in signed_up["identities"]}
    again = _password(auth_server, h, {"email": email, "password": "secret123"}).json()["user"]
    assert _moment(again["last_sign_in_at"]) > _moment(signed_up["last_sign_in_at"])
    assert {i["provider"]: i["last_sign_in_at"] for i in again["identities"]} == first
    h.google_user(auth_server, email)  # links a Google identity to the user
    h.google_user(auth_server, email)  # and signs in with it again
    with h.http(auth_server, token=_password(auth_server, h, {"email": email, "password": "secret123"}
                                             ).json()["access_token"]) as http:
        identities = {i["provider"]: i for i in http.get("/user").json()["identities"]}
    assert identities["email"]["last_sign_in_at"] == first["email"]
    assert identities["google"]["last_sign_in_at"] == identities["google"]["created_at"]


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_every_rotation_moves_the_users_updated_at(auth_server, h):
    """createRefreshToken's user.UpdateLastSignInAt writes updated_at too; handing back the active token to
    the parent of it rotates nothing."""
    signed_in = h.sign_up(auth_server)
    rotated = _refresh(auth_server, h, signed_in["refresh_token"]).json()
    assert _moment(rotated["user"]["updated_at"]) > _moment(signed_in["user"]["updated_at"])
    assert rotated["user"]["last_sign_in_at"] == signed_in["user"]["last_sign_in_at"]
    handed_back = _refresh(auth_server, h, signed_in["refresh_token"]).json()
    assert handed_back["refresh_token"] == rotated["refresh_token"]
    assert handed_back["user"]["updated_at"] == rotated["user"]["updated_at"]


@pytest.mark.parametrize("token, code, message", [
    ("", "validation_failed", "Refresh token is not valid"),
    ("short", "validation_failed", "Refresh token is not valid"),
    ("abcdefghijkl", "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"),
])
def test_refresh_errors(auth_server, h, token, code, message):
    response = _refresh(auth_server, h, token)
    assert response.status_code == 400 and response.json() == {"code": code, "message": message}


def test_get_user_errors(auth_server, h):
    with h.http(auth_server, token=auth_server.anon_key) as http:
        missing_sub = http.get("/user")
    assert missing_sub.status_code == 403 and missing_sub.json() == {
        "code": "bad_jwt", "message": "invalid claim: missing sub claim"}
    with h.http(auth_server, token="not.a.jwt") as http:
        bad = http.get("/user")
    assert bad.status_code == 403 and bad.json()["code"] == "bad_jwt"
    with h.http(auth_server) as http:
        no_auth = http.get("/user", headers={"Authorization": "Basic abc"})
    assert no_auth.status_code == 401 and no_auth.json()["code"] == "no_authorization"
    forged = jwt.encode({"sub": str(uuid.uuid4()), "exp": int(time.time()) + 60}, "wrong-secret-" * 4,
                        algorithm="HS256")
    prefix = "invalid JWT: unable to parse or verify signature, token signature is invalid: "
    with h.http(auth_server, token=forged) as http:
        assert http.get("/user").json() == {"code": "bad_jwt", "message": prefix + "signature is invalid"}
    # golang-jwt v5's words for a signature that does not verify (ecdsa.go, ErrECDSAVerification).
    header, payload, signature = h.sign_up(auth_server)["access_token"].split(".")
    tampered = ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])
    with h.http(auth_server, token=tampered) as http:
        assert http.get("/user").json() == {"code": "bad_jwt",
                                            "message": prefix + "crypto/ecdsa: verification error"}


def test_an_expired_token_is_bad_jwt_and_iat_is_not_checked(start_auth_server, h):
    server = start_auth_server(LOCAL_AUTH_JWT_ALG="HS256")
    claims = jwt.decode(h.sign_up(server)["access_token"], options={"verify_signature": False})
    expired = jwt.encode({**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600},
                         server.jwt_secret, algorithm="HS256")
    with h.http(server, token=expired) as http:
        response = http.get("/user")
    assert response.status_code == 403
    assert response.json()["message"] == \
        "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"
    # golang-jwt v5's default parser (auth.go, parseJWTClaims) leaves iat alone: a signer's clock ahead is fine.
    ahead = jwt.encode({**claims, "iat": claims["iat"] + 600}, server.jwt_secret, algorithm="HS256")
    with h.http(server, token=ahead) as http:
        assert http.get("/user").status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_any_case(auth_server, h, scheme):
    """api.go, bearerRegexp: (?i)^bearer (\\S+$)."""
    token = h.sign_up(auth_server)["access_token"]
    with h.http(auth_server) as http:
        assert http.get("/user", headers={"Authorization": f"{scheme} {token}"}).status_code == 200
        refused = http.get("/user", headers={"Authorization": f"{scheme}  {token}"})  # one space only
    assert (refused.status_code, refused.json()["code"]) == (401, "no_authorization")


def test_get_and_update_user(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    client = h.client(auth_server)
    client.auth.sign_in_with_password({"email": email, "password": "secret123"})
    user = client.auth.get_user().user
    assert user.email == email and user.last_sign_in_at is not None and user.identities[0].provider == "email"
    updated = client.auth.update_user({"data": {"name": "Ada", "email_verified": None}}).user
    assert updated.user_metadata["name"] == "Ada" and "email_verified" not in updated.user_metadata
    with pytest.raises(AuthApiError) as same:
        client.auth.update_user({"password": "secret123"})
    assert same.value.status == 422 and same.value.code == "same_password"
    with h.http(auth_server, token=client.auth.get_session().access_token) as http:
        admin_only = http.put("/user", json={"app_metadata": {"role": "x"}})
    assert admin_only.status_code == 403 and admin_only.json()["code"] == "not_admin"


def test_password_change_ends_other_sessions(auth_server, h):
    email = h.email()
    other = h.sign_up(auth_server, email)
    client = h.client(auth_server)
    client.auth.sign_in_with_password({"email": email, "password": "secret123"})
    client.auth.update_user({"password": "brand-new-1"})
    assert client.auth.get_user().user.email == email  # this session lives on
    with h.http(auth_server, token=other["access_token"]) as http:
        assert http.get("/user").json()["code"] == "session_not_found"
    assert _refresh(auth_server, h, other["refresh_token"]).json()["code"] == "refresh_token_not_found"


def _sessions(server, h, email, count):
    return [_password(server, h, {"email": email, "password": "secret123"}).json() for _ in range(count)]


def test_logout_local_others_global(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    a, b, c, d = _sessions(auth_server, h, email, 4)

    def status(session):
        with h.http(auth_server, token=session["access_token"]) as http:
            return http.get("/user").status_code

    with h.http(auth_server, token=a["access_token"]) as http:
        assert http.post("/logout", params={"scope": "local"}).status_code == 204
    assert [status(s) for s in (a, b, c, d)] == [403, 200, 200, 200]
    with h.http(auth_server, token=b["access_token"]) as http:
        assert http.post("/logout", params={"scope": "others"}).status_code == 204
    assert [status(s) for s in (b, c, d)] == [200, 403, 403]
    with h.http(auth_server, token=b["access_token"]) as http:
        bogus = http.post("/logout", params={"scope": "bogus"})
        assert bogus.json()["message"] == 'Unsupported logout scope "bogus"'
        response = http.post("/logout")
        assert response.status_code == 204 and response.content == b""
        assert "content-type" not in response.headers  # logout.go writes the status alone
        after = http.get("/user")
    assert after.status_code == 403 and after.json() == {
        "code": "session_not_found", "message": "Session from session_id claim in JWT does not exist"}
    assert _refresh(auth_server, h, b["refresh_token"]).json()["code"] == "refresh_token_not_found"


def test_client_sign_out_global(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    client = h.client(auth_server)
    session = client.auth.sign_in_with_password({"email": email, "password": "secret123"}).session
    client.auth.sign_out()
    assert client.auth.get_session() is None
    with pytest.raises(AuthApiError) as caught:
        client.auth.get_user(session.access_token)
    assert caught.value.status == 403 and caught.value.code == "session_not_found"
