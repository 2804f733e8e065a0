"""PUT /user and the e-mail-change link of the admin API: when an address counts as taken, and the current
password a project may require for a new one.

GoTrue internal/api/user.go, UserUpdate: an e-mail change to an address models.IsDuplicatedEmail finds is 422
email_exists, and IsDuplicatedEmail looks at identities (any provider of the default linking domain) before
users.email, so an address that only another user's Google identity still carries is taken too; mail.go,
adminGenerateLink, asks the same for `email_change_*` links, and admin.go, adminUserCreate, for a new user, where the users.email lookup excepts nobody.
With SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD, a user who has a password names it
(`current_password`) to set a new one, unless the session is a recovery one (models.Session.IsRecovery: an
otp, magiclink or recovery amr claim).
"""
from __future__ import annotations

import uuid

import pytest
from supabase_auth.errors import AuthApiError


def _signed_in(server, h, email: str, password: str = "secret123"):
    client = h.client(server, "implicit")
    client.auth.sign_in_with_password({"email": email, "password": password})
    return client


def test_an_address_only_another_users_identity_carries_is_taken(auth_server, h):
    google_address, moved_to = h.email(), h.email()
    token = h.google_user(auth_server, google_address)
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
    with pytest.raises(AuthApiError) as created:  # admin.go, adminUserCreate asks IsDuplicatedEmail too
        h.admin(auth_server).create_user({"email": google_address, "email_confirm": True})
    assert (created.value.status, created.value.code) == (422, "email_exists")


def test_an_email_change_link_to_the_users_own_address_is_taken(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    with pytest.raises(AuthApiError) as caught:
        h.admin(auth_server).generate_link({"type": "email_change_new", "email": email, "new_email": email})
    assert (caught.value.status, caught.value.code) == (422, "email_exists")


@pytest.fixture(scope="module")
def current_password_server(start_auth_server):
    return start_auth_server(LOCAL_AUTH_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD="true")


def test_a_new_password_needs_the_current_one_when_the_project_says_so(current_password_server, h):
    server, email = current_password_server, h.email()
    h.sign_up(server, email)
    client = _signed_in(server, h, email)
    for attributes, code in (({"password": "brand-new-1"}, "current_password_required"),
                             ({"password": "brand-new-1", "current_password": ""}, "current_password_required"),
                             ({"password": "brand-new-1", "current_password": "wrong-one"},
                              "current_password_invalid")):
        with pytest.raises(AuthApiError) as caught:
            client.auth.update_user(attributes)
        assert (caught.value.status, caught.value.code) == (400, code)
        assert caught.value.message == "Current password required when setting new password."
    with pytest.raises(AuthApiError) as same:  # checked after the current password, as user.go does
        client.auth.update_user({"password": "secret123", "current_password": "secret123"})
    assert same.value.code == "same_password"
    client.auth.update_user({"password": "brand-new-1", "current_password": "secret123"})
    assert _signed_in(server, h, email, "brand-new-1").auth.get_session() is not None


def test_a_recovery_session_or_a_user_without_a_password_needs_no_current_password(current_password_server, h):
    server, email = current_password_server, h.email()
    h.sign_up(server, email)
    with pytest.raises(AuthApiError) as caught:  # a password session must name it
        _signed_in(server, h, email).auth.update_user({"password": "recovered-1"})
    assert caught.value.code == "current_password_required"
    client = h.client(server, "implicit")
    client.auth.reset_password_for_email(email)
    otp = server.mail(email)[0]["otp"]
    session = client.auth.verify_otp({"type": "recovery", "email": email, "token": otp}).session
    assert client.auth.get_claims(session.access_token)["claims"]["amr"][0]["method"] == "otp"
    client.auth.update_user({"password": "recovered-1"})
    assert _signed_in(server, h, email, "recovered-1").auth.get_session() is not None

    token = h.google_user(server, h.email())  # no password yet: nothing to name
    with h.http(server, token=token) as http:
        assert http.put("/user", json={"password": "first-one-1"}).status_code == 200


def test_reauthenticate_mails_a_code(confirm_server, h):
    """reauthenticate.go, Reauthenticate and mail.go, sendReauthenticationOtp: a confirmed address gets a
    six-digit code and the user a reauthentication_sent_at (its frequency: test_gotrue_rate_limits.py). A
    password change clears that time (models.User.ClearAllPendingTokens)."""
    email = h.email()
    h.admin(confirm_server).create_user({"email": email, "password": "secret123", "email_confirm": True})
    client = _signed_in(confirm_server, h, email)
    assert client.auth.reauthenticate().user is None  # 200 `{}`
    message = confirm_server.mail(email)[0]
    assert message["type"] == "reauthentication" and len(message["otp"]) == 6 and message["otp"].isdigit()
    with h.http(confirm_server, token=client.auth.get_session().access_token) as http:
        assert "reauthentication_sent_at" in http.get("/user").json()
    client.auth.update_user({"password": "another-secret-2"})
    with h.http(confirm_server, token=client.auth.get_session().access_token) as http:
        assert "reauthentication_sent_at" not in http.get("/user").json()


def test_a_new_phone_number_is_checked_before_the_missing_sms_refuses_it(auth_server, h):
    """user.go, validateUserUpdateParams (validatePhone: 400) and UserUpdate (IsDuplicatedPhone: 422
    phone_exists), then the stand-in, which sends no SMS, refuses the change as provider disabled."""
    taken = "1555" + str(uuid.uuid4().int)[:7]
    h.admin(auth_server).create_user({"phone": taken})
    token = h.sign_up(auth_server)["access_token"]
    with h.http(auth_server, token=token) as http:
        bad = http.put("/user", json={"phone": "12-34"})
        owned = http.put("/user", json={"phone": "+" + taken})
        free = http.put("/user", json={"phone": "1556" + str(uuid.uuid4().int)[:7]})
    assert (bad.status_code, bad.json()) == (
        400, {"code": "validation_failed", "message": "Invalid phone number format (E.164 required)"})
    assert (owned.status_code, owned.json()["code"]) == (422, "phone_exists")
    assert (free.status_code, free.json()["code"]) == (422, "phone_provider_disabled")


@pytest.mark.parametrize("body, name", [({"nonce": 5}, "nonce"), ({"app_metadata": "x"}, "app_metadata"),
                                        ({"channel": True, "data": []}, "channel")])
def test_every_param_of_put_user_is_type_checked_read_or_not(auth_server, h, body, name):
    """json.Unmarshal into UserUpdateParams checks every field, in the body's order, before UserUpdate
    runs."""
    with h.http(auth_server, token=h.sign_up(auth_server)["access_token"]) as http:
        refused = http.put("/user", json=body)
    assert (refused.status_code, refused.json()["code"]) == (400, "bad_json")
    assert f".{name} of type" in refused.json()["message"]
