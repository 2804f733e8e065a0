"""Sign-up in both confirm modes, anti-enumeration, e-mail confirmation, verify, recover, otp and resend."""
from __future__ import annotations

import time

import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError


def test_signup_autoconfirm_returns_session_and_confirmed_user(auth_server, h):
    email = h.email()
    result = h.client(auth_server).auth.sign_up({"email": email, "password": "secret123",
                                                 "options": {"data": {"plan": "pro"}}})
    assert result.session is not None and result.session.token_type == "bearer"
    user = result.user
    assert user.email == email and user.email_confirmed_at is not None and user.role == "authenticated"
    assert user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert user.user_metadata["plan"] == "pro" and user.user_metadata["email_verified"] is True
    assert user.user_metadata["sub"] == user.id
    assert [identity.provider for identity in user.identities] == ["email"]
    assert h.fragment  # helpers loaded


def test_signup_confirmed_email_autoconfirm_is_422(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    with pytest.raises(AuthApiError) as caught:
        h.client(auth_server).auth.sign_up({"email": email, "password": "another123"})
    assert caught.value.status == 422 and caught.value.code == "user_already_exists"
    assert caught.value.message == "User already registered"


def test_signup_without_autoconfirm_returns_user_and_sends_mail(confirm_server, h):
    email = h.email()
    result = h.client(confirm_server, "implicit").auth.sign_up({"email": email, "password": "secret123"})
    assert result.session is None
    assert result.user.email == email and result.user.email_confirmed_at is None
    assert result.user.confirmation_sent_at is not None and len(result.user.identities) == 1
    (message,) = confirm_server.mail(email)
    assert message["type"] == "signup" and message["to"] == email and len(message["otp"]) == 6
    import hashlib
    assert message["token_hash"] == hashlib.sha224((email + message["otp"]).encode()).hexdigest()
    assert f"token={message['token_hash']}" in message["link"] and "type=signup" in message["link"]
    with pytest.raises(AuthApiError) as caught:
        h.client(confirm_server).auth.sign_in_with_password({"email": email, "password": "secret123"})
    assert caught.value.code == "email_not_confirmed"


def test_signup_confirmed_email_without_autoconfirm_returns_fake_user(confirm_server, h):
    email = h.email()
    first = h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    message = confirm_server.mail(email)[0]
    h.client(confirm_server).auth.verify_otp({"type": "signup", "email": email, "token": message["otp"]})
    again = h.client(confirm_server).auth.sign_up({"email": email, "password": "other-pass",
                                                   "options": {"data": {"x": 1}}})
    assert again.session is None
    assert again.user.id != first.user.id and again.user.role == "" and again.user.identities == []
    assert again.user.user_metadata == {"x": 1}
    assert len(confirm_server.mail(email)) == 1  # nothing sent to the real owner
    # sanitizeUser resets only the fields it names: the owner's recovery_sent_at shows through, as on GoTrue.
    h.client(confirm_server).auth.reset_password_for_email(email)
    with h.http(confirm_server) as http:
        raw = http.post("/signup", json={"email": email, "password": "other-pass"}).json()
    owner = h.admin(confirm_server).get_user_by_id(first.user.id).user
    assert raw["recovery_sent_at"].startswith(owner.recovery_sent_at.isoformat()[:19])
    assert "last_sign_in_at" not in raw and "email_confirmed_at" not in raw and raw["identities"] == []


def test_signing_up_an_invited_address_again_shows_no_metadata_or_identities(confirm_server, h):
    """signup.go, Signup: an invited user who has not accepted yet (user.HasBeenInvited) is answered without
    its metadata and identities."""
    email = h.email()
    h.admin(confirm_server).invite_user_by_email(email, {"data": {"team": "blue"}})
    again = h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    assert again.user.user_metadata == {} and again.user.identities == []
    assert again.user.invited_at is not None


def test_signup_unconfirmed_again_resends_and_returns_real_user(confirm_server, h):
    email = h.email()
    first = h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    time.sleep(0.6)
    again = h.client(confirm_server).auth.sign_up({"email": email, "password": "changed-pass"})
    assert again.user.id == first.user.id
    assert len(confirm_server.mail(email)) == 2
    otp = confirm_server.mail(email)[0]["otp"]
    verified = h.client(confirm_server).auth.verify_otp({"type": "signup", "email": email, "token": otp})
    assert verified.session is not None
    # The password was not changed by the second sign-up.
    h.client(confirm_server).auth.sign_in_with_password({"email": email, "password": "secret123"})


def test_resend_for_unknown_or_confirmed_sends_nothing(auth_server, h):
    email = h.email()
    with h.http(auth_server) as http:
        assert http.post("/resend", json={"type": "signup", "email": email}).json() == {}
        h.sign_up(auth_server, email)
        assert http.post("/resend", json={"type": "signup", "email": email}).json() == {}
        bad = http.post("/resend", json={"type": "nope", "email": email})
        assert bad.status_code == 400 and bad.json()["message"].startswith("Missing one of these types")
    assert auth_server.mail(email) == []


def test_weak_and_too_long_passwords(auth_server, h):
    client = h.client(auth_server)
    with pytest.raises(AuthWeakPasswordError) as caught:
        client.auth.sign_up({"email": h.email(), "password": "12345"})
    assert caught.value.status == 422 and caught.value.reasons == ["length"]
    with pytest.raises(AuthApiError) as too_long:
        client.auth.sign_up({"email": h.email(), "password": "x" * 73})
    assert too_long.value.status == 400 and too_long.value.code == "validation_failed"
    with h.http(auth_server) as http:
        answer = http.post("/signup", json={"email": h.email(), "password": "abc"})
    assert answer.json() == {"code": "weak_password", "message": "Password should be at least 6 characters.",
                             "weak_password": {"reasons": ["length"]}}
    # errors.go, handleResponseErrorWeakPassword sets x-sb-error-code only in its legacy branch.
    assert "x-sb-error-code" not in answer.headers
    with h.http(auth_server, version=False) as http:
        legacy = http.post("/signup", json={"email": h.email(), "password": "abc"})
    assert legacy.json()["error_code"] == legacy.headers["x-sb-error-code"] == "weak_password"


@pytest.mark.parametrize("body, code, message", [
    ({"email": "not-an-email", "password": "secret123"}, "validation_failed",
     "Unable to validate email address: invalid format"),
    ({"email": "a@b.co"}, "validation_failed", "Signup requires a valid password"),
    ({"email": "a@b.co", "phone": "15550001111", "password": "secret123"}, "validation_failed",
     "Only an email address or phone number should be provided on signup."),
    ({"data": {}}, "anonymous_provider_disabled", "Anonymous sign-ins are disabled"),
    ({"email": "a@b.co", "password": "secret123", "code_challenge": "short", "code_challenge_method": "s256"},
     "validation_failed", "code challenge has to be between 43 and 128 characters"),
])
def test_signup_validation(auth_server, h, body, code, message):
    with h.http(auth_server) as http:
        response = http.post("/signup", json=body)
    assert response.status_code in (400, 422)
    assert response.json() == {"code": code, "message": message}


def test_verify_with_token_hash_and_single_use(confirm_server, h):
    email = h.email()
    h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    token_hash = confirm_server.mail(email)[0]["token_hash"]
    client = h.client(confirm_server)
    result = client.auth.verify_otp({"type": "email", "token_hash": token_hash})
    assert result.session is not None and result.user.email_confirmed_at is not None
    assert result.user.user_metadata["email_verified"] is True
    with pytest.raises(AuthApiError) as caught:
        client.auth.verify_otp({"type": "signup", "token_hash": token_hash})
    assert caught.value.status == 403 and caught.value.code == "otp_expired"
    assert caught.value.message == "Email link is invalid or has expired"


def test_verify_wrong_otp(confirm_server, h):
    email = h.email()
    h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"})
    with pytest.raises(AuthApiError) as caught:
        h.client(confirm_server).auth.verify_otp({"type": "signup", "email": email, "token": "000000x"})
    assert caught.value.code == "otp_expired" and caught.value.message == "Token has expired or is invalid"
    with h.http(confirm_server) as http:
        no_type = http.post("/verify", json={"token": "1"})
        assert no_type.json()["message"] == "Verify requires a verification type"
        assert http.post("/verify", json={"type": "signup"}).json()["message"] == \
            "Verify requires either a token or a token hash"
        mixed = http.post("/verify", json={"type": "signup", "token_hash": "ab", "email": email})
        assert mixed.json()["message"] == "Only the token_hash and type should be provided"


def test_verify_get_link_redirects_with_tokens(confirm_server, h):
    import httpx
    email = h.email()
    h.client(confirm_server, "implicit").auth.sign_up(
        {"email": email, "password": "secret123",
         "options": {"email_redirect_to": "http://127.0.0.1:8080/auth/callback"}})
    link = confirm_server.mail(email)[0]["link"]
    assert "redirect_to=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback" in link
    response = httpx.get(link)  # no apikey: /verify is an open route
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1:8080/auth/callback#")
    fragment = h.fragment(location)
    assert set(fragment) == {"access_token", "expires_at", "expires_in", "refresh_token", "sb", "token_type",
                             "type"}
    assert fragment["type"] == "signup" and fragment["token_type"] == "bearer" and fragment["sb"] == ""
    keys = [part.split("=")[0] for part in location.split("#")[1].split("&")]
    assert keys == sorted(keys)
    user = h.client(confirm_server).auth.get_user(fragment["access_token"]).user
    assert user.email == email and user.email_confirmed_at is not None
    again = httpx.get(link)
    assert again.status_code == 303
    assert h.fragment(again.headers["location"]) == {
        "error": "access_denied", "error_code": "otp_expired",
        "error_description": "Email link is invalid or has expired", "sb": ""}


def test_pkce_signup_confirmation_gives_code(confirm_server, h):
    import httpx
    email = h.email()
    client = h.client(confirm_server, "pkce")
    client.auth.sign_up({"email": email, "password": "secret123",
                         "options": {"email_redirect_to": "http://127.0.0.1:8080/auth/callback"}})
    link = confirm_server.mail(email)[0]["link"]
    assert h.link_token(link).startswith("pkce_")
    response = httpx.get(link)
    assert response.status_code == 303
    code = h.query(response.headers["location"])["code"]
    session = client.auth.exchange_code_for_session({"auth_code": code}).session
    assert session.user.email == email and session.user.email_confirmed_at is not None
    with pytest.raises(AuthApiError) as caught:
        client.auth.exchange_code_for_session({"auth_code": code, "code_verifier": "v" * 43})
    assert caught.value.status == 404 and caught.value.code == "flow_state_not_found"


def test_redirect_to_not_allowed_falls_back_to_site_url(confirm_server, h):
    email = h.email()
    h.client(confirm_server, "implicit").auth.sign_up(
        {"email": email, "password": "secret123", "options": {"email_redirect_to": "https://evil.example/x"}})
    assert "redirect_to=http%3A%2F%2F127.0.0.1%3A8080&" in confirm_server.mail(email)[0]["link"] + "&"


def test_recover_sends_mail_and_otp_signs_in(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email, "secret123")
    client = h.client(auth_server, "implicit")
    assert client.auth.reset_password_for_email(email) is None
    (message,) = auth_server.mail(email)
    assert message["type"] == "recovery" and "type=recovery" in message["link"]
    result = client.auth.verify_otp({"type": "recovery", "email": email, "token": message["otp"]})
    assert result.session is not None
    client.auth.update_user({"password": "new-secret-1"})
    h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "new-secret-1"})


def test_recover_unknown_email_is_silent(auth_server, h):
    email = h.email()
    with h.http(auth_server) as http:
        assert http.post("/recover", json={"email": email}).json() == {}
        missing = http.post("/recover", json={})
    assert missing.status_code == 400 and missing.json()["message"] == "Password recovery requires an email"
    assert auth_server.mail(email) == []


def test_pkce_recovery_flow(auth_server, h):
    import httpx
    email = h.email()
    h.sign_up(auth_server, email)
    client = h.client(auth_server, "pkce")
    client.auth.reset_password_for_email(email, {"redirect_to": "http://127.0.0.1:8080/auth/callback"})
    link = auth_server.mail(email)[0]["link"]
    code = h.query(httpx.get(link).headers["location"])["code"]
    result = client.auth.exchange_code_for_session({"auth_code": code})
    assert result.session is not None
    claims = client.auth.get_claims(result.session.access_token)["claims"]
    assert claims["amr"][0]["method"] == "recovery"


def test_magic_link_for_existing_and_new_users(auth_server, h):
    existing = h.email()
    h.sign_up(auth_server, existing)
    client = h.client(auth_server, "implicit")
    client.auth.sign_in_with_otp({"email": existing})
    message = auth_server.mail(existing)[0]
    assert message["type"] == "magiclink"
    assert client.auth.verify_otp({"type": "magiclink", "email": existing, "token": message["otp"]}).session
    fresh = h.email()
    client.auth.sign_in_with_otp({"email": fresh})
    assert auth_server.mail(fresh)[0]["type"] == "magiclink"  # autoconfirm: created, then a magic link
    with pytest.raises(AuthApiError) as caught:
        client.auth.sign_in_with_otp({"email": h.email(), "options": {"should_create_user": False}})
    assert caught.value.status == 422 and caught.value.code == "otp_disabled"


def test_the_magiclink_route_signs_an_unknown_address_up_and_mails_a_link(auth_server, h):
    """magic_link.go, MagicLink on POST /magiclink: no create_user switch; with autoconfirm its Signup call
    signs the new user in (last_sign_in_at), then the magic link goes out. /otp does the same."""
    with h.http(auth_server) as http:
        missing = http.post("/magiclink", json={})
        assert (missing.status_code, missing.json()) == (
            422, {"code": "validation_failed", "message": "Password recovery requires an email"})
        for path in ("/magiclink", "/otp"):
            email = h.email()
            assert http.post(path, json={"email": email}).json() == {}
            assert [m["type"] for m in auth_server.mail(email)] == ["magiclink"], path
            with h.admin_http(auth_server) as admin:
                (user,) = admin.get("/admin/users", params={"filter": email}).json()["users"]
            assert user["email_confirmed_at"] and user["last_sign_in_at"], path


def test_otp_for_new_user_without_autoconfirm_sends_confirmation(confirm_server, h):
    email = h.email()
    h.client(confirm_server, "implicit").auth.sign_in_with_otp({"email": email})
    message = confirm_server.mail(email)[0]
    assert message["type"] == "signup"
    result = h.client(confirm_server).auth.verify_otp({"type": "email", "email": email,
                                                       "token": message["otp"]})
    assert result.user.email_confirmed_at is not None


def test_email_change_needs_both_confirmations(confirm_server, h):
    """GoTrue verify.go, emailChangeVerify: with secure e-mail change and autoconfirm off, the first token
    only counts (its answer is the "Confirmation link accepted" message), the second completes the change."""
    old, new = h.email(), h.email()
    h.admin(confirm_server).create_user({"email": old, "password": "secret123", "email_confirm": True})
    client = h.client(confirm_server, "implicit")
    client.auth.sign_in_with_password({"email": old, "password": "secret123"})
    user = client.auth.update_user({"email": new}).user
    assert user.email == old and user.new_email == new and user.email_change_sent_at is not None
    to_old, to_new = confirm_server.mail(old)[0], confirm_server.mail(new)[0]
    assert to_old["type"] == to_new["type"] == "email_change"
    half = client.auth.verify_otp({"type": "email_change", "email": new, "token": to_new["otp"]})
    assert half.session is None and half.user is None
    done = client.auth.verify_otp({"type": "email_change", "email": old, "token": to_old["otp"]})
    assert done.user.email == new and done.user.new_email is None
    h.client(confirm_server).auth.sign_in_with_password({"email": new, "password": "secret123"})


def test_email_change_with_autoconfirm_needs_one_confirmation(auth_server, h):
    """GoTrue verify.go, emailChangeVerify: the two-step branch runs only while autoconfirm is off; with it
    on, either address's token completes the change (both messages are still sent: mail.go,
    sendEmailChange)."""
    old, new = h.email(), h.email()
    h.sign_up(auth_server, old)
    client = h.client(auth_server, "implicit")
    client.auth.sign_in_with_password({"email": old, "password": "secret123"})
    client.auth.update_user({"email": new})
    to_old = auth_server.mail(old)[0]
    assert auth_server.mail(new)[0]["type"] == "email_change"
    done = client.auth.verify_otp({"type": "email_change", "email": old, "token": to_old["otp"]})
    assert done.user.email == new and done.user.new_email is None
