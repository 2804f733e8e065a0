"""Google sign-in through the local consent page: implicit and PKCE flows, errors, provider checks."""
from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest
from supabase_auth.errors import AuthApiError

CALLBACK = "http://127.0.0.1:8080/auth/callback"


def _oauth_url(server, h, flow_type, redirect_to=CALLBACK):
    client = h.client(server, flow_type)
    response = client.auth.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": redirect_to}})
    return client, response.url


@pytest.mark.standin_only("the local Google consent page")
def test_authorize_redirects_to_consent_page(auth_server, h):
    _, url = _oauth_url(auth_server, h, "implicit")
    response = httpx.get(url)  # no apikey: /authorize is open
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"{auth_server.url}/_local/oauth/consent?state=")
    page = httpx.get(response.headers["location"])
    assert page.status_code == 200 and "<form" in page.text and "<script" not in page.text


def test_implicit_flow_creates_google_user(auth_server, h):
    email = h.email()
    client, url = _oauth_url(auth_server, h, "implicit")
    response = h.consent(url, email)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "#")
    fragment = h.fragment(location)
    assert list(fragment) == ["access_token", "expires_at", "expires_in", "provider_token", "refresh_token",
                              "sb", "token_type"]
    assert fragment["token_type"] == "bearer" and fragment["sb"] == ""
    assert fragment["expires_in"] in ("3599", "3600")
    user = client.auth.get_user(fragment["access_token"]).user
    assert user.email == email and user.email_confirmed_at is not None
    assert user.app_metadata["provider"] == "google" and user.app_metadata["providers"] == ["google"]
    assert [i.provider for i in user.identities] == ["google"]
    claims = client.auth.get_claims(fragment["access_token"])["claims"]
    assert claims["amr"][0]["method"] == "oauth"
    # The same Google account signs in as the same user next time.
    _, again_url = _oauth_url(auth_server, h, "implicit")
    again = h.fragment(h.consent(again_url, email).headers["location"])
    assert client.auth.get_user(again["access_token"]).user.id == user.id


def test_pkce_flow_exchanges_code_once(auth_server, h):
    email = h.email()
    client, url = _oauth_url(auth_server, h, "pkce")
    assert "code_challenge=" in url and "code_challenge_method=s256" in url
    location = h.consent(url, email).headers["location"]
    assert location.startswith(CALLBACK + "?code=") and "#" not in location
    code = h.query(location)["code"]
    result = client.auth.exchange_code_for_session({"auth_code": code})
    assert result.session.user.email == email and result.session.provider_token
    assert client.auth.get_user().user.app_metadata["provider"] == "google"
    with h.http(auth_server) as http:
        reused = http.post("/token", params={"grant_type": "pkce"},
                           json={"auth_code": code, "code_verifier": "x" * 43})
    assert reused.status_code == 404 and reused.json()["code"] == "flow_state_not_found"


@pytest.mark.standin_only("the local Google consent page")
def test_an_auth_code_is_the_text_it_was_given_as(auth_server, h):
    """models.FindFlowStateByAuthCode compares text: another spelling of the code's UUID finds nothing."""
    verifier = "v" * 43
    authorize = httpx.get(f"{auth_server.url}/auth/v1/authorize", params={
        "provider": "google", "redirect_to": CALLBACK, "code_challenge": verifier,
        "code_challenge_method": "plain"})
    code = h.query(h.consent(authorize.headers["location"], h.email()).headers["location"])["code"]
    with h.http(auth_server) as http:
        for spelling in (code.upper(), code.replace("-", ""), f"{{{code}}}"):
            other = http.post("/token", params={"grant_type": "pkce"},
                              json={"auth_code": spelling, "code_verifier": verifier})
            assert (other.status_code, other.json()["code"]) == (404, "flow_state_not_found"), spelling
        assert http.post("/token", params={"grant_type": "pkce"},
                         json={"auth_code": code, "code_verifier": verifier}).status_code == 200


def test_pkce_wrong_verifier(auth_server, h):
    client, url = _oauth_url(auth_server, h, "pkce")
    code = h.query(h.consent(url, h.email()).headers["location"])["code"]
    with pytest.raises(AuthApiError) as caught:
        client.auth.exchange_code_for_session({"auth_code": code, "code_verifier": "w" * 50})
    assert caught.value.status == 400 and caught.value.code == "bad_code_verifier"
    with h.http(auth_server) as http:
        empty = http.post("/token", params={"grant_type": "pkce"}, json={})
    assert empty.json()["message"] == "invalid request: both auth code and code verifier should be non-empty"


@pytest.mark.standin_only("the local Google consent page")
@pytest.mark.parametrize("flow_type", ["implicit", "pkce"])
def test_a_cancelled_consent_comes_back_as_the_providers_error(auth_server, h, flow_type):
    """external_oauth.go, oAuthCallback: the provider's `error` becomes an OAuthError, which redirectErrors
    puts in the query (error_description even when empty) and the fragment (the values not empty), without
    error_code. The consent page's Cancel sends what Google sends when the user says no."""
    _, url = _oauth_url(auth_server, h, flow_type)
    with httpx.Client(timeout=10) as browser:
        page = browser.get(url, follow_redirects=True)
        assert 'name="error" value="access_denied"' in page.text and "Cancel" in page.text
        state = h.query(str(page.url))["state"]
        cancelled = browser.post(f"{auth_server.url}/auth/v1/callback", data={"state": state, "email": "",
                                                                                "error": "access_denied"})
        described = browser.get(f"{auth_server.url}/auth/v1/callback", params={
            "state": state, "error": "access_denied", "error_description": "User cancelled"})
    assert cancelled.status_code == 302
    assert cancelled.headers["location"] == (
        f"{CALLBACK}?error=access_denied&error_description=#error=access_denied&sb=")
    assert described.headers["location"] == (
        f"{CALLBACK}?error=access_denied&error_description=User+cancelled"
        "#error=access_denied&error_description=User+cancelled&sb=")


def test_google_links_existing_email_user(auth_server, h):
    email = h.email()
    existing = h.sign_up(auth_server, email)["user"]
    client, url = _oauth_url(auth_server, h, "implicit")
    fragment = h.fragment(h.consent(url, email).headers["location"])
    user = client.auth.get_user(fragment["access_token"]).user
    assert user.id == existing["id"]
    assert user.app_metadata["providers"] == ["email", "google"]
    assert sorted(i.provider for i in user.identities) == ["email", "google"]


def test_banned_user_gets_error_redirect(auth_server, h):
    email = h.email()
    session = h.sign_up(auth_server, email)
    h.admin(auth_server).update_user_by_id(session["user"]["id"], {"ban_duration": "1h"})
    for flow in ("implicit", "pkce"):
        _, url = _oauth_url(auth_server, h, flow)
        location = h.consent(url, email).headers["location"]
        expected = {"error": "access_denied", "error_code": "user_banned",
                    "error_description": "User is banned"}
        assert h.query(location) == expected
        assert h.fragment(location) == {**expected, "sb": ""}


def test_redirect_to_outside_allow_list_uses_site_url(auth_server, h):
    _, url = _oauth_url(auth_server, h, "implicit", redirect_to="https://evil.example/cb")
    assert h.consent(url, h.email()).headers["location"].startswith("http://127.0.0.1:8080#")
    _, url = _oauth_url(auth_server, h, "implicit", redirect_to="http://127.0.0.1:8080/somewhere")
    assert h.consent(url, h.email()).headers["location"].startswith("http://127.0.0.1:8080/somewhere#")


@pytest.mark.standin_only("expects the stand-in's providers (Google on, GitHub off)")
@pytest.mark.parametrize("provider, message", [
    ("foo", "Unsupported provider: Provider foo could not be found"),
    ("github", "Unsupported provider: provider is not enabled"),
    ("X", "Unsupported provider: provider is not enabled"),  # external.go, Provider: lower-cased
    ("vercel_marketplace", "Unsupported provider: provider is not enabled"),
    (" google", "Unsupported provider: Provider  google could not be found"),  # and never trimmed
    ("custom:acme", "Unsupported provider: custom provider custom:acme not found"),
])
def test_unknown_and_disabled_providers(auth_server, provider, message):
    response = httpx.get(f"{auth_server.url}/auth/v1/authorize", params={"provider": provider},
                         headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 400
    assert response.json() == {"code": "validation_failed", "message": message}


@pytest.mark.standin_only("the local Google consent page")
def test_an_unknown_invite_token_is_refused(auth_server, h):
    """external.go, GetExternalProviderRedirectURL: models.FindUserByConfirmationToken for an invite_token."""
    unknown = httpx.get(f"{auth_server.url}/auth/v1/authorize", params={"provider": "google",
                                                                        "invite_token": "nope"},
                        headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert (unknown.status_code, unknown.json()) == (
        404, {"code": "user_not_found", "message": "User identified by token not found"})
    email = h.email()
    h.admin(auth_server).invite_user_by_email(email)
    token = h.link_token(auth_server.mail(email)[0]["link"])
    known = httpx.get(f"{auth_server.url}/auth/v1/authorize",
                      params={"provider": "google", "invite_token": token})
    assert known.status_code == 302


def test_bad_code_challenge(auth_server):
    response = httpx.get(f"{auth_server.url}/auth/v1/authorize",
                         params={"provider": "google", "code_challenge": "abc",
                                 "code_challenge_method": "s256"})
    assert response.status_code == 400 and response.json()["error_code"] == "validation_failed"


@pytest.mark.parametrize("challenge, message", [
    ("c" * 43, "Invalid code_challenge_method"),  # external.go: NewFlowState's error, as a 400
    ("abc", "code challenge has to be between 43 and 128 characters"),  # the length comes first
])
def test_an_unknown_challenge_method(auth_server, challenge, message):
    response = httpx.get(f"{auth_server.url}/auth/v1/authorize",
                         params={"provider": "google", "code_challenge": challenge,
                                 "code_challenge_method": "S512"})
    assert response.status_code == 400 and response.json()["msg"] == message  # no API version: the old shape


def test_an_unknown_challenge_method_fails_only_where_a_flow_state_is_made(auth_server, confirm_server, h):
    """pkce.go, validatePKCEParams never reads the method; models.NewFlowState does, with a plain error that
    GoTrue answers as its generic 500, and the transaction goes with it."""
    pkce = {"code_challenge": "c" * 43, "code_challenge_method": "S512"}
    with h.http(auth_server) as http:
        assert http.post("/recover", json={"email": h.email(), **pkce}).json() == {}  # nobody: no flow state
        signed_up = http.post("/signup", json={"email": h.email(), "password": "secret123", **pkce})
        assert signed_up.status_code == 200  # autoconfirm: a session, and no flow state
    email = h.email()
    with h.http(confirm_server) as http:
        failed = http.post("/signup", json={"email": email, "password": "secret123", **pkce})
    assert (failed.status_code, failed.json()["code"]) == (500, "unexpected_failure")
    with h.admin_http(confirm_server) as admin:
        assert admin.get("/admin/users", params={"filter": email}).json()["users"] == []


@pytest.mark.standin_only("redirects to the stand-in's Site URL")
def test_callback_with_unknown_state(auth_server, h):
    """GoTrue external_oauth.go, loadFlowState: a bad state is a 303 to the Site URL, error in the query."""
    response = httpx.post(f"{auth_server.url}/auth/v1/callback", data={"state": "nope", "email": "a@b.co"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("http://127.0.0.1:8080?")
    assert h.query(response.headers["location"]) == {
        "error": "invalid_request", "error_code": "bad_oauth_state",
        "error_description": "OAuth state parameter is invalid"}
    unknown = httpx.post(f"{auth_server.url}/auth/v1/callback", data={"state": str(uuid.uuid4())})
    assert h.query(unknown.headers["location"])["error_description"] == "OAuth state not found or expired"


def test_consent_page_rejects_invalid_email(auth_server, h):
    _, url = _oauth_url(auth_server, h, "implicit")
    response = h.consent(url, "not-an-email")
    assert response.status_code == 400 and "valid e-mail" in response.text


def test_plain_challenge_method(auth_server, h):
    verifier = "v" * 43
    params = {"provider": "google", "redirect_to": CALLBACK, "code_challenge": verifier,
              "code_challenge_method": "plain"}
    url = str(httpx.URL(f"{auth_server.url}/auth/v1/authorize", params=params))
    code = h.query(h.consent(url, h.email()).headers["location"])["code"]
    with h.http(auth_server) as http:
        response = http.post("/token", params={"grant_type": "pkce"}, json={"auth_code": code,
                                                                           "code_verifier": verifier})
    assert response.status_code == 200 and response.json()["provider_token"]
    assert hashlib  # s256 is covered by the client-driven test
