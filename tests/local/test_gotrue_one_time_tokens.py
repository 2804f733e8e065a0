"""One-time tokens: what clears them (issue 14, point 4) and how /verify looks them up.

GoTrue internal/models/user.go: User.Confirm clears the confirmation token and every one_time_tokens row (so
every pending link / token hash dies) but not the recovery or e-mail-change columns, which OTPs are checked
against; User.Recover and User.UpdatePassword clear both. internal/api/verify.go: verifyTokenHash (links and
`token_hash`, by one_time_tokens) and verifyUserAndToken (OTP with its address, by the user's columns).
Tokens come from admin.generate_link, so these tests need no mailbox and run against a real project too.
"""
from __future__ import annotations

import httpx
import pytest
from supabase_auth.errors import AuthApiError

LINK_EXPIRED = {"code": "otp_expired", "message": "Email link is invalid or has expired"}
OTP_EXPIRED = {"code": "otp_expired", "message": "Token has expired or is invalid"}


def _verify(server, h, body: dict) -> httpx.Response:
    with h.http(server) as http:
        return http.post("/verify", json=body)


def _answer(response: httpx.Response) -> tuple[int, dict]:
    body = response.json()
    return response.status_code, {key: body[key] for key in ("code", "message") if key in body}


def test_confirming_an_email_kills_pending_links(auth_server, h):
    admin = h.admin(auth_server)
    email = h.email()
    signup = admin.generate_link({"type": "signup", "email": email, "password": "secret123"}).properties
    recovery = admin.generate_link({"type": "recovery", "email": email}).properties
    confirmed = h.client(auth_server).auth.verify_otp({"type": "signup", "email": email,
                                                       "token": signup.email_otp})
    assert confirmed.user.email_confirmed_at is not None
    # User.Confirm cleared every one_time_tokens row: the recovery link and its token hash are dead.
    assert _answer(_verify(auth_server, h, {"type": "recovery", "token_hash": recovery.hashed_token})) == \
        (403, LINK_EXPIRED)
    location = httpx.get(recovery.action_link).headers["location"]
    assert h.fragment(location)["error_code"] == "otp_expired"
    # The recovery_token column is not Confirm's to clear, so the six-digit code still works.
    assert h.client(auth_server).auth.verify_otp({"type": "recovery", "email": email,
                                                  "token": recovery.email_otp}).session


def test_changing_the_password_kills_pending_tokens(auth_server, h):
    email = h.email()
    h.sign_up(auth_server, email)
    admin = h.admin(auth_server)
    first = admin.generate_link({"type": "recovery", "email": email}).properties
    client = h.client(auth_server)
    client.auth.sign_in_with_password({"email": email, "password": "secret123"})
    client.auth.update_user({"password": "brand-new-1"})  # user.go, UserUpdate -> User.UpdatePassword
    assert _answer(_verify(auth_server, h, {"type": "recovery", "token_hash": first.hashed_token})) == \
        (403, LINK_EXPIRED)
    by_code = _verify(auth_server, h, {"type": "recovery", "email": email, "token": first.email_otp})
    assert _answer(by_code) == (403, OTP_EXPIRED)
    second = admin.generate_link({"type": "magiclink", "email": email}).properties
    user_id = client.auth.get_user().user.id
    admin.update_user_by_id(user_id, {"password": "changed-by-admin"})  # admin.go -> UpdatePassword too
    by_code = _verify(auth_server, h, {"type": "magiclink", "email": email, "token": second.email_otp})
    assert _answer(by_code) == (403, OTP_EXPIRED)
    assert httpx.get(second.action_link).status_code == 303  # an error redirect, not a session
    with pytest.raises(AuthApiError) as caught:
        h.client(auth_server).auth.verify_otp({"type": "magiclink", "token_hash": second.hashed_token})
    assert caught.value.status == 403 and caught.value.code == "otp_expired"


def test_a_used_recovery_kills_the_other_pending_links(auth_server, h):
    """User.Recover (verify.go, recoverVerify) clears every one_time_tokens row, an e-mail change's too."""
    email, new_email = h.email(), h.email()
    h.sign_up(auth_server, email)
    admin = h.admin(auth_server)
    change = admin.generate_link({"type": "email_change_current", "email": email, "new_email": new_email})
    recovery = admin.generate_link({"type": "recovery", "email": email}).properties
    client = h.client(auth_server)
    recovered = client.auth.verify_otp({"type": "recovery", "token_hash": recovery.hashed_token})
    assert recovered.session is not None
    stale = _verify(auth_server, h, {"type": "email_change", "token_hash": change.properties.hashed_token})
    assert _answer(stale) == (403, LINK_EXPIRED)


def test_verify_type_checks_differ_for_hashes_and_otps(auth_server, h):
    """verifyTokenHash refuses an unknown type (400); verifyUserAndToken just finds no token (403)."""
    email = h.email()
    h.sign_up(auth_server, email)
    assert _answer(_verify(auth_server, h, {"type": "bogus", "token_hash": "abc"})) == \
        (400, {"code": "validation_failed", "message": "Invalid email verification type"})
    assert _answer(_verify(auth_server, h, {"type": "bogus", "email": email, "token": "123456"})) == \
        (403, OTP_EXPIRED)
    both = _verify(auth_server, h, {"type": "signup", "token": "123456", "token_hash": "abc", "email": email})
    assert _answer(both) == (400, {"code": "validation_failed",
                                   "message": "Verify requires either a token or a token hash"})
    neither = _verify(auth_server, h, {"type": "signup", "token": "123456"})
    assert _answer(neither) == (400, {"code": "validation_failed", "message":
                                      "Only an email address or phone number should be provided on verify"})
    with_redirect = _verify(auth_server, h, {"type": "signup", "token_hash": "abc", "redirect_to": "x"})
    assert _answer(with_redirect) == (400, {"code": "validation_failed",
                                            "message": "Only the token_hash and type should be provided"})
