"""Signing modes (ES256, RS256, HS256), key rotation and revocation, and persistence across restarts."""
from __future__ import annotations

import json

import httpx
import jwt
import pytest
from supabase_auth.errors import AuthApiError, AuthInvalidJwtError

pytestmark = pytest.mark.standin_only("signing modes, key rotation and restarts are the stand-in's settings")


def _jwks(server) -> dict:
    return httpx.get(f"{server.url}/auth/v1/.well-known/jwks.json").json()


def _verify_with_jwks(server, token: str) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in _jwks(server)["keys"] if key["kid"] == kid]
    key = jwt.PyJWK(jwk).key
    return jwt.decode(token, key, algorithms=[jwk["alg"]], audience="authenticated", issuer=server.issuer)


def test_rs256_mode(start_auth_server, h):
    server = start_auth_server(LOCAL_AUTH_JWT_ALG="RS256")
    (key,) = _jwks(server)["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and "n" in key and "d" not in key
    token = h.sign_up(server)["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert _verify_with_jwks(server, token)["role"] == "authenticated"
    assert h.client(server).auth.get_claims(token)["claims"]["iss"] == server.issuer


def test_hs256_mode(start_auth_server, h):
    server = start_auth_server(LOCAL_AUTH_JWT_ALG="HS256")
    assert server.jwt_secret
    assert _jwks(server) == {"keys": []}
    token = h.sign_up(server)["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and "kid" not in header
    claims = jwt.decode(token, server.jwt_secret, algorithms=["HS256"], audience="authenticated")
    assert claims["iss"] == server.issuer
    # The API keys are signed with the same (legacy) secret, as in the CLI.
    service = jwt.decode(server.service_role_key, server.jwt_secret, algorithms=["HS256"])
    assert service["role"] == "service_role"
    # Without a kid the client falls back to GET /user.
    assert h.client(server).auth.get_claims(token)["claims"]["sub"] == claims["sub"]
    with httpx.Client() as http:
        rotate = http.post(f"{server.url}/_local/keys/rotate",
                           headers={"Authorization": f"Bearer {server.service_role_key}"})
    assert rotate.status_code == 400


@pytest.fixture(scope="module")
def private_server(start_auth_server):
    """A stand-in of our own, to rotate keys on and to restart."""
    server = start_auth_server(fresh=True)
    yield server
    server.stop()


def test_rotation_keeps_old_key_in_jwks(private_server, h):
    server = private_server
    before = h.sign_up(server)["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    response = httpx.post(f"{server.url}/_local/keys/rotate",
                          headers={"Authorization": f"Bearer {server.service_role_key}"})
    assert response.status_code == 200
    new_kid = response.json()["kid"]
    assert new_kid != old_kid
    assert {key["kid"] for key in _jwks(server)["keys"]} == {old_kid, new_kid}
    after = h.sign_up(server)["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    assert _verify_with_jwks(server, before) and _verify_with_jwks(server, after)
    assert h.client(server).auth.get_user(before).user  # old tokens still accepted by the server

    revoke = httpx.post(f"{server.url}/_local/keys/revoke", json={"kid": old_kid},
                        headers={"Authorization": f"Bearer {server.service_role_key}"})
    assert revoke.status_code == 200
    assert [key["kid"] for key in _jwks(server)["keys"]] == [new_kid]
    with pytest.raises(AuthInvalidJwtError):
        h.client(server).auth.get_claims(before)  # client-side: no matching key any more
    with pytest.raises(AuthApiError) as caught:
        h.client(server).auth.get_user(before)
    assert caught.value.status == 403 and caught.value.code == "bad_jwt"
    assert h.client(server).auth.get_claims(after)["claims"]["sub"]

    # Persisted: the key file lists both keys, the old one revoked.
    stored = json.loads((server.data_dir / "auth_server_keys.json").read_text())
    assert {(k["kid"], k["revoked"]) for k in stored["keys"]} == {(old_kid, True), (new_kid, False)}


def test_key_routes_need_service_role(auth_server, h):
    for path in ("/_local/keys/rotate", "/_local/keys/revoke"):
        anon = httpx.post(f"{auth_server.url}{path}",
                          headers={"Authorization": f"Bearer {auth_server.anon_key}"})
        assert anon.status_code == 403
        assert httpx.post(f"{auth_server.url}{path}").status_code == 401
    unknown = httpx.post(f"{auth_server.url}/_local/keys/revoke", json={"kid": "nope"},
                         headers={"Authorization": f"Bearer {auth_server.service_role_key}"})
    assert unknown.status_code == 404


def test_restart_keeps_users_sessions_and_keys(private_server, h):
    server = private_server
    email = h.email()
    session = h.sign_up(server, email)
    anon_key, jwks = server.anon_key, _jwks(server)
    server.stop()
    assert server.process.returncode == 0  # SIGTERM is a clean shutdown
    server.start()
    assert (server.data_dir / "supabase.env").read_text().count(anon_key) == 1
    assert _jwks(server) == jwks
    assert _verify_with_jwks(server, session["access_token"])["email"] == email
    client = h.client(server)
    assert client.auth.get_user(session["access_token"]).user.email == email
    assert client.auth.refresh_session(session["refresh_token"]).session
    client.auth.sign_in_with_password({"email": email, "password": "secret123"})


def test_mailbox_filter_and_clear(auth_server, h):
    server = auth_server
    first, second = h.email(), h.email()
    h.sign_up(server, first)
    h.sign_up(server, second)
    client = h.client(server, "implicit")
    client.auth.reset_password_for_email(first)
    client.auth.reset_password_for_email(second)
    everything = httpx.get(f"{server.url}/_local/mail").json()["messages"]
    everything = [m for m in everything if m["to"] in (first, second)]
    assert [m["to"] for m in everything] == [second, first]  # newest first
    assert set(everything[0]) == {"to", "type", "otp", "token_hash", "link", "sent_at"}
    assert [m["to"] for m in server.mail(first.upper())] == [first]
    assert httpx.delete(f"{server.url}/_local/mail").status_code == 204
    assert server.mail(first) == []
