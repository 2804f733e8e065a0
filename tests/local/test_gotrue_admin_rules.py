"""GET /verify and generate_link rules the stand-in used to be kinder about (issue 14, point 7).

GoTrue internal/api/verify.go (Verify / VerifyParams.Validate, emailChangeVerify) and mail.go
(adminGenerateLink).
"""
from __future__ import annotations

import httpx
import pytest
from supabase_auth.errors import AuthApiError


@pytest.mark.parametrize("query, message", [
    ({"token": "abc"}, "Verify requires a verification type"),
    ({"type": "signup"}, "Verify requires a token or a token hash"),
    ({"type": "signup", "token": ""}, "Verify requires a token or a token hash"),
])
def test_get_verify_with_bad_parameters_is_a_json_400(auth_server, query, message):
    response = httpx.get(f"{auth_server.url}/auth/v1/verify",
                         headers={"X-Supabase-Api-Version": "2024-01-01"},
                         params={**query, "redirect_to": "http://127.0.0.1:8080/auth/callback"})
    assert response.status_code == 400 and "location" not in response.headers
    assert response.json() == {"code": "validation_failed", "message": message}


def test_get_verify_with_an_unknown_type_redirects_with_the_error(auth_server, h):
    response = httpx.get(f"{auth_server.url}/auth/v1/verify", params={"type": "bogus", "token": "abc"})
    assert response.status_code == 303
    assert h.fragment(response.headers["location"]) == {
        "error": "invalid_request", "error_code": "validation_failed",
        "error_description": "Invalid email verification type", "sb": ""}


def test_generate_link_email_change_needs_both_halves(confirm_server, h):
    """With secure e-mail change (the default) and autoconfirm off, one generated token is only half of it."""
    admin = h.admin(confirm_server)
    old, new = h.email(), h.email()
    admin.create_user({"email": old, "password": "secret123", "email_confirm": True})
    client = h.client(confirm_server)
    alone = admin.generate_link({"type": "email_change_new", "email": old, "new_email": new}).properties
    half = client.auth.verify_otp({"type": "email_change", "email": new, "token": alone.email_otp})
    assert half.session is None and half.user is None  # "Confirmation link accepted..."
    assert client.auth.sign_in_with_password({"email": old, "password": "secret123"}).user.email == old
    # Both halves, generated before either is used, complete the change.
    current = admin.generate_link({"type": "email_change_current", "email": old, "new_email": new}).properties
    future = admin.generate_link({"type": "email_change_new", "email": old, "new_email": new}).properties
    first = client.auth.verify_otp({"type": "email_change", "email": old, "token": current.email_otp})
    assert first.user is None
    with pytest.raises(AuthApiError):
        client.auth.sign_in_with_password({"email": new, "password": "secret123"})
    done = client.auth.verify_otp({"type": "email_change", "email": new, "token": future.email_otp})
    assert done.user.email == new and done.user.new_email is None
    assert client.auth.sign_in_with_password({"email": new, "password": "secret123"}).session
