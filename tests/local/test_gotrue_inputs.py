"""What GoTrue accepts as an e-mail address and a password (issue 14, points 2 and 3), and the order its
validations run in.

E-mail: GoTrue internal/api/mail.go, validateEmail (lower-cased, never trimmed) and models/user.go,
FindUserByEmailAndAudience (the password grant lower-cases the address it looks up, nothing more).
Passwords: internal/api/password.go, checkPasswordStrength, where Go's len() counts UTF-8 bytes; user.go,
UserUpdate and admin.go, adminUserUpdate check any `password` sent, the empty one included.
Bodies: internal/api/helpers.go, retrieveRequestParams (json.Unmarshal into the route's params).
"""
from __future__ import annotations

import uuid

import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

INVALID_FORMAT = {"code": "validation_failed", "message": "Unable to validate email address: invalid format"}


@pytest.mark.parametrize("padded", [" {}", "{} ", "\t{}", "{}\n"])
def test_email_whitespace_is_refused_not_trimmed(auth_server, h, padded):
    email = h.email()
    with pytest.raises(AuthApiError) as caught:
        h.client(auth_server).auth.sign_up({"email": padded.format(email), "password": "secret123"})
    assert caught.value.status == 400 and caught.value.code == "validation_failed"
    assert caught.value.message == INVALID_FORMAT["message"]
    with h.http(auth_server) as http:
        for path, body in [("/recover", {}), ("/otp", {}), ("/resend", {"type": "signup"})]:
            response = http.post(path, json={**body, "email": padded.format(email)})
            assert (response.status_code, response.json()) == (400, INVALID_FORMAT), path
        assert http.post("/verify", json={"type": "email", "email": padded.format(email), "token": "123456"}
                         ).json() == {"code": "validation_failed", "message": "Invalid email format"}


def test_sign_in_lower_cases_but_does_not_trim(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    client = h.client(auth_server)
    assert client.auth.sign_in_with_password({"email": email.upper(), "password": "secret123"}).session
    for padded in (f" {email}", f"{email} "):
        with pytest.raises(AuthApiError) as caught:
            client.auth.sign_in_with_password({"email": padded, "password": "secret123"})
        assert caught.value.status == 400 and caught.value.code == "invalid_credentials"


def test_admin_and_user_updates_refuse_padded_addresses(auth_server, h):
    session = h.sign_up(auth_server)
    with h.http(auth_server, token=session["access_token"]) as http:
        response = http.put("/user", json={"email": f" {h.email()}"})
    assert (response.status_code, response.json()) == (400, INVALID_FORMAT)
    with h.admin_http(auth_server) as admin:
        created = admin.post("/admin/users", json={"email": f"{h.email()} "})
        updated = admin.put(f"/admin/users/{session['user']['id']}", json={"email": f" {h.email()}"})
        missing = admin.post("/admin/generate_link", json={"type": "magiclink"})
    assert (created.status_code, created.json()) == (400, INVALID_FORMAT)
    assert (updated.status_code, updated.json()) == (400, INVALID_FORMAT)
    assert missing.json() == {"code": "validation_failed", "message": "An email address is required"}


def test_password_length_is_counted_in_bytes(auth_server, h):
    client = h.client(auth_server)
    email = h.email()
    # Three characters, six bytes: long enough for GoTrue.
    signed_up = client.auth.sign_up({"email": email, "password": "ééé"})
    assert signed_up.session is not None
    with h.http(auth_server) as http:
        signed_in = http.post("/token", params={"grant_type": "password"},
                              json={"email": email, "password": "ééé"})
    assert signed_in.status_code == 200 and "weak_password" not in signed_in.json()
    with pytest.raises(AuthWeakPasswordError) as short:
        client.auth.sign_up({"email": h.email(), "password": "éé"})  # four bytes
    assert short.value.status == 422 and short.value.reasons == ["length"]
    assert client.auth.sign_up({"email": h.email(), "password": "é" * 36}).session  # exactly 72 bytes
    with pytest.raises(AuthApiError) as long:
        client.auth.sign_up({"email": h.email(), "password": "é" * 37})  # 37 characters, 74 bytes
    assert long.value.status == 400 and long.value.code == "validation_failed"
    assert long.value.message == "Password cannot be longer than 72 characters"


def test_an_empty_new_password_is_weak(auth_server, h):
    email = h.email()
    session = h.sign_up(auth_server, email)
    client = h.client(auth_server)
    client.auth.sign_in_with_password({"email": email, "password": "secret123"})
    with pytest.raises(AuthWeakPasswordError) as own:
        client.auth.update_user({"password": ""})
    assert own.value.status == 422 and own.value.reasons == ["length"]
    with pytest.raises(AuthWeakPasswordError) as admin:
        h.admin(auth_server).update_user_by_id(session["user"]["id"], {"password": ""})
    assert admin.value.status == 422 and admin.value.message == "Password should be at least 6 characters."
    with h.http(auth_server, token=session["access_token"]) as http:
        kept = http.put("/user", json={"password": None, "data": {"kept": 1}})  # null: no password given
        assert kept.status_code == 200
    # Nothing changed: the password and the sessions are as they were.
    assert h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "secret123"}).session
    assert h.client(auth_server).auth.get_user(session["access_token"]).user.user_metadata["kept"] == 1


@pytest.mark.parametrize("body, message", [
    ({"type": "signup"}, "Type provided requires an email address"),
    ({"type": "sms"}, "Type provided requires a phone number"),
    ({"type": "email_change"}, "Missing email address or phone number"),
    ({"type": "signup", "email": "a@b.co", "phone": "15550001111"},
     "Only an email address or phone number should be provided."),
])
def test_resend_checks_in_gotrues_order(auth_server, h, body, message):
    """resend.go, ResendConfirmationParams.Validate."""
    with h.http(auth_server) as http:
        response = http.post("/resend", json=body)
    assert (response.status_code, response.json()) == (400, {"code": "validation_failed", "message": message})


EMPTY = {"code": "bad_json", "message": "Could not parse request body as JSON: unexpected end of JSON input"}


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_a_body_left_out_is_not_json(auth_server, h, body):
    """helpers.go, retrieveRequestParams: json.Unmarshal of no bytes fails, on every route that reads params."""
    session = h.sign_up(auth_server)
    with h.http(auth_server) as http:
        for path in ("/signup", "/token?grant_type=password", "/recover", "/otp", "/verify"):
            response = http.post(path, content=body, headers={"Content-Type": "application/json"})
            assert (response.status_code, response.json()) == (400, EMPTY), path
    with h.http(auth_server, token=session["access_token"]) as http:
        response = http.put("/user", content=body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (400, EMPTY)
    with h.admin_http(auth_server) as admin:
        for method, path in (("POST", "/admin/users"), ("PUT", f"/admin/users/{session['user']['id']}")):
            response = admin.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert (response.status_code, response.json()) == (400, EMPTY), path


def test_a_null_body_leaves_every_param_unset(auth_server, h):
    """json.Unmarshal of `null` into the params struct changes nothing: the route goes on with zero values."""
    with h.http(auth_server) as http:
        answer = http.post("/signup", content=b"null", headers={"Content-Type": "application/json"})
    # api.go's /signup route: no email and no phone is an anonymous sign-in, off by default.
    assert (answer.status_code, answer.json()["code"]) == (422, "anonymous_provider_disabled")
    with h.admin_http(auth_server) as admin:
        answer = admin.post("/admin/users", content=b"null", headers={"Content-Type": "application/json"})
        assert answer.json() == {"code": "validation_failed",
                                 "message": "Cannot create a user without either an email or phone"}
        user_id = h.sign_up(auth_server)["user"]["id"]
        assert admin.request("DELETE", f"/admin/users/{user_id}", content=b"null").json() == {}
        assert admin.get(f"/admin/users/{user_id}").status_code == 404  # a hard delete: the zero value


def test_the_admin_api_finds_the_user_before_it_reads_the_body(auth_server, h):
    """api.go: the loadUser middleware answers for /admin/users/{id} before the handler parses its params;
    adminUserDelete parses params only when a body was sent."""
    missing = "00000000-0000-4000-8000-000000000001"
    with h.admin_http(auth_server) as admin:
        for method in ("PUT", "DELETE"):
            answer = admin.request(method, f"/admin/users/{missing}", content=b"{bad")
            assert (answer.status_code, answer.json()["code"]) == (404, "user_not_found"), method
        user_id = h.sign_up(auth_server)["user"]["id"]
        assert admin.delete(f"/admin/users/{user_id}").json() == {}  # no body at all: a hard delete
        assert admin.get(f"/admin/users/{user_id}").status_code == 404


def test_only_a_decoded_nul_is_refused(auth_server, h):
    """Postgres text cannot hold NUL, so a NUL in a value is refused before it reaches the database; the six
    characters `\\u0000` after an escaped backslash are no NUL (GoTrue's decoder reads them as text)."""
    email = h.email()
    h.sign_up(auth_server, email)
    with h.http(auth_server) as http:
        text = http.post("/verify", content=b'{"type": "email", "email": "%s", "token": "12\\\\u000034"}'
                         % email.encode(), headers={"Content-Type": "application/json"})
        nul = http.post("/signup", headers={"Content-Type": "application/json"},
                        content=b'{"email": "%s", "password": "secret123", "data": {"k": "a\\u0000"}}'
                        % h.email().encode())
    assert (text.status_code, text.json()["code"]) == (403, "otp_expired")
    assert (nul.status_code, nul.json()) == (
        400, {"code": "validation_failed", "message": "Invalid input: NUL characters are not allowed"})


def test_param_names_match_in_any_case_as_go_decodes_them(auth_server, h):
    """encoding/json (helpers.go, retrieveRequestParams) matches keys to struct fields case-insensitively,
    the last occurrence winning; the keys inside `data` stay as sent."""
    email = h.email()
    h.sign_up(auth_server, email)
    with h.http(auth_server) as http:
        signed_in = http.post("/token", params={"grant_type": "password"},
                              json={"EMAIL": email, "Password": "secret123"})
        assert signed_in.status_code == 200, signed_in.text
        body = b'{"email": "%s", "password": "wrong", "PASSWORD": "secret123"}' % email.encode()
        last = http.post("/token", params={"grant_type": "password"}, content=body,
                         headers={"Content-Type": "application/json"})
        assert last.status_code == 200, last.text
    with h.http(auth_server, token=signed_in.json()["access_token"]) as http:
        updated = http.put("/user", json={"Data": {"Nick": "Ada"}}).json()
    assert updated["user_metadata"]["Nick"] == "Ada"


def test_otp_without_sign_ups_refuses_an_unknown_phone_first(auth_server, h):
    """otp.go, Otp: shouldCreateUser looks the phone number up (validatePhone first) before SmsOtp's provider
    check; verify.go takes a phone number as validatePhone does."""
    with h.http(auth_server) as http:
        unknown = http.post("/otp", json={"phone": "1555" + str(uuid.uuid4().int)[:7], "create_user": False})
        bad = http.post("/otp", json={"phone": "12-34", "create_user": False})
        short = http.post("/verify", json={"type": "sms", "phone": "12345", "token": "123456"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "otp_disabled")
    assert (bad.status_code, bad.json()["code"]) == (422, "otp_disabled")
    assert (short.status_code, short.json()["code"]) == (403, "otp_expired")
