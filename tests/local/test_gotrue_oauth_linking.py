"""What a Google sign-in does to the user it lands on (issue 14, point 5).

GoTrue internal/api/external.go, createAccountFromExternalIdentity: every sign-in writes the provider's data
into the identity (account exists) or a new identity (link), and merges it into user_metadata; a user whose
e-mail is not confirmed goes through models.User.RemoveUnconfirmedIdentities (password removed, other
identities deleted, user_metadata replaced by the provider's data) before User.Confirm. Linking targets come
from models/linking.go, DetermineAccountLinking.
"""
from __future__ import annotations

import pytest
from supabase_auth.errors import AuthApiError

CALLBACK = "http://127.0.0.1:8080/auth/callback"


def google_session(server, h, email: str) -> dict:
    """Sign in with the local Google (implicit flow); the redirect's fragment."""
    client = h.client(server, "implicit")
    url = client.auth.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": CALLBACK}}).url
    return h.fragment(h.consent(url, email).headers["location"])


def test_google_takes_over_an_unconfirmed_password_account(confirm_server, h):
    email = h.email()
    squatter = h.client(confirm_server).auth.sign_up({"email": email, "password": "squatter-pass",
                                                      "options": {"data": {"plan": "pro"}}}).user
    assert squatter.email_confirmed_at is None
    fragment = google_session(confirm_server, h, email)
    user = h.client(confirm_server).auth.get_user(fragment["access_token"]).user
    assert user.id == squatter.id and user.email_confirmed_at is not None
    assert [identity.provider for identity in user.identities] == ["google"]
    assert user.app_metadata["provider"] == "google" and user.app_metadata["providers"] == ["google"]
    google = user.identities[0].identity_data
    assert user.user_metadata == {**google, "email_verified": True}
    assert "plan" not in user.user_metadata
    with pytest.raises(AuthApiError) as caught:  # the unverified password is gone
        h.client(confirm_server).auth.sign_in_with_password({"email": email, "password": "squatter-pass"})
    assert caught.value.status == 400 and caught.value.code == "invalid_credentials"


def test_every_google_sign_in_refreshes_user_metadata(auth_server, h):
    email = h.email()
    first = google_session(auth_server, h, email)
    client = h.client(auth_server)
    provider_name = client.auth.get_user(first["access_token"]).user.user_metadata["name"]
    with h.http(auth_server, token=first["access_token"]) as http:
        http.put("/user", json={"data": {"name": "Changed by the user", "city": "Oslo"}})
    again = google_session(auth_server, h, email)
    metadata = client.auth.get_user(again["access_token"]).user.user_metadata
    assert metadata["name"] == provider_name  # the provider's value again (UpdateUserMetaData merges)
    assert metadata["city"] == "Oslo"  # keys the provider does not send stay


def test_linking_a_confirmed_account_merges_metadata_and_keeps_the_password(auth_server, h):
    email = h.email()
    existing = h.client(auth_server).auth.sign_up({"email": email, "password": "secret123",
                                                   "options": {"data": {"plan": "pro"}}}).user
    fragment = google_session(auth_server, h, email)
    user = h.client(auth_server).auth.get_user(fragment["access_token"]).user
    assert user.id == existing.id
    assert sorted(identity.provider for identity in user.identities) == ["email", "google"]
    assert user.app_metadata["providers"] == ["email", "google"] and user.app_metadata["provider"] == "email"
    assert user.user_metadata["plan"] == "pro" and user.user_metadata["full_name"] == email.split("@")[0]
    assert h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "secret123"}).session
