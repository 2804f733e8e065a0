"""Whose an address is at sign-up: GoTrue internal/api/signup.go, Signup, asks models.IsDuplicatedEmail, which
finds the owner of an identity carrying the address (a Google sign-in, say, whose user's e-mail has since
moved) before users.email; magic_link.go, MagicLink, signs an unknown address up through that same Signup.
And the identity a sign-up makes is built from its own claims first, the request's `data` only adding keys,
so no sign-up can name another subject or address for its identity (and with it catch that address's
Google sign-in, which links by identity address: models/linking.go, DetermineAccountLinking)."""
from __future__ import annotations

import pytest
from supabase_auth.errors import AuthApiError


def _moved_google_user(server, h) -> tuple[str, str]:
    """A Google user whose e-mail the admin API moved elsewhere: (the address only its identity still
    carries, the user id)."""
    address = h.email()
    token = h.google_user(server, address)
    with h.http(server, token=token) as http:
        user_id = http.get("/user").json()["id"]
    moved = h.admin(server).update_user_by_id(user_id, {"email": h.email(), "email_confirm": True}).user
    assert moved.email != address
    assert [i.identity_data["email"] for i in moved.identities if i.provider == "google"] == [address]
    return address, user_id


def test_sign_up_data_adds_to_the_identity_but_never_names_its_subject_or_address(auth_server, h):
    own, victim = h.email(), h.email()
    with h.http(auth_server) as http:
        answer = http.post("/signup", json={"email": own, "password": "secret123", "data": {
            "email": victim, "sub": "someone-else", "email_verified": True, "phone_verified": True, "k": 1}})
    assert answer.status_code == 200, answer.text
    user = answer.json()["user"]
    identity = next(i for i in user["identities"] if i["provider"] == "email")
    assert identity["email"] == own
    assert {key: identity["identity_data"][key] for key in ("sub", "email", "phone_verified", "k")} == {
        "sub": user["id"], "email": own, "phone_verified": False, "k": 1}
    with h.http(auth_server, token=h.google_user(auth_server, victim)) as http:
        assert http.get("/user").json()["id"] != user["id"]  # the victim's Google sign-in is a user of its own


def test_an_address_another_users_identity_carries_cannot_be_signed_up_again(auth_server, h):
    address, _ = _moved_google_user(auth_server, h)
    client = h.client(auth_server, "implicit")
    for sign_up in (lambda: client.auth.sign_up({"email": address, "password": "secret123"}),
                    lambda: client.auth.sign_in_with_otp({"email": address})):
        with pytest.raises(AuthApiError) as refused:
            sign_up()
        assert (refused.value.status, refused.value.code, refused.value.message) == (
            422, "user_already_exists", "User already registered")
    assert auth_server.mail(address) == []
    with h.admin_http(auth_server) as admin:
        listed = admin.get("/admin/users", params={"filter": address}).json()["users"]
    assert [user for user in listed if user["email"] == address] == []  # no second account was made for it


def test_without_autoconfirm_such_an_address_gets_the_silent_answers(confirm_server, h):
    address, user_id = _moved_google_user(confirm_server, h)
    client = h.client(confirm_server, "implicit")
    fake = client.auth.sign_up({"email": address, "password": "secret123"}).user
    # signup.go, sanitizeUser: a new id and no identities, but the found user's own address (not the one asked
    # for): sanitizeUser resets the phone of an e-mail sign-up, never the e-mail.
    owner = h.admin(confirm_server).get_user_by_id(user_id).user
    assert fake.id != user_id and fake.email == owner.email != address and not fake.identities
    client.auth.sign_in_with_otp({"email": address})
    assert confirm_server.mail(address) == []
