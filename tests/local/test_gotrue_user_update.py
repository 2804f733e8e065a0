"""PUT /user and the e-mail-change link of the admin API: when an address counts as taken.

GoTrue internal/api/user.go, UserUpdate: an e-mail change to an address models.IsDuplicatedEmail finds is 422
email_exists, and IsDuplicatedEmail looks at identities (any provider of the default linking domain) before
users.email, so an address that only another user's Google identity still carries is taken too; mail.go,
adminGenerateLink, asks the same for `email_change_*` links, where the users.email lookup excepts nobody.
"""
from __future__ import annotations

import pytest
from supabase_auth.errors import AuthApiError

CALLBACK = "http://127.0.0.1:8080/auth/callback"


def _google_user(server, h, email: str) -> str:
    """A user made by a Google sign-in (implicit flow); their access token."""
    client = h.client(server, "implicit")
    url = client.auth.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": CALLBACK}}).url
    return h.fragment(h.consent(url, email).headers["location"])["access_token"]


def _signed_in(server, h, email: str, password: str = "secret123"):
    client = h.client(server, "implicit")
    client.auth.sign_in_with_password({"email": email, "password": password})
    return client


def test_an_address_only_another_users_identity_carries_is_taken(auth_server, h):
    google_address, moved_to = h.email(), h.email()
    token = _google_user(auth_server, h, google_address)
    with h.http(auth_server, token=token) as http:
        assert http.put("/user", json={"email": moved_to}).status_code == 200
    otp = auth_server.mail(moved_to)[0]["otp"]  # autoconfirm: one confirmation completes the change
    moved = h.client(auth_server).auth.verify_otp({"type": "email_change", "email": moved_to, "token": otp}).user
    assert moved.email == moved_to
    assert [i.identity_data["email"] for i in moved.identities if i.provider == "google"] == [google_address]

    other = h.email()
    h.sign_up(auth_server, other)
    client = _signed_in(auth_server, h, other)
    mailed = len(auth_server.mail(google_address))  # the confirmation of the first change, to its old address
    with pytest.raises(AuthApiError) as caught:
        client.auth.update_user({"email": google_address})
    assert (caught.value.status, caught.value.code) == (422, "email_exists")
    assert caught.value.message == "A user with this email address has already been registered"
    assert len(auth_server.mail(google_address)) == mailed
    assert client.auth.get_user().user.new_email is None
    with pytest.raises(AuthApiError) as linked:
        h.admin(auth_server).generate_link({"type": "email_change_new", "email": other,
                                            "new_email": google_address})
    assert (linked.value.status, linked.value.code) == (422, "email_exists")


def test_an_email_change_link_to_the_users_own_address_is_taken(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    with pytest.raises(AuthApiError) as caught:
        h.admin(auth_server).generate_link({"type": "email_change_new", "email": email, "new_email": email})
    assert (caught.value.status, caught.value.code) == (422, "email_exists")
