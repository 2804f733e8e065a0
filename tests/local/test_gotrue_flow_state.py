"""PKCE flow states of the e-mail flows (issue 14, point 6) and the code challenge's checks.

GoTrue internal/models/flow_state.go, FlowState.IsExpired: a flow expires FlowStateExpiryDuration (300 s)
after it was created; only a magic link's counts from when its code was issued (pkce.go, issueAuthCode, at
GET /verify). token.go, PKCE answers 422 flow_state_expired. The stand-in's LOCAL_AUTH_FLOW_STATE_LIFETIME
shortens the 300 s so the test need not wait five minutes (GoTrue never goes below 300 s).
"""
from __future__ import annotations

import time

import httpx
import pytest
from supabase_auth.errors import AuthApiError

CALLBACK = "http://127.0.0.1:8080/auth/callback"
LIFETIME = 2.0


@pytest.fixture(scope="module")
def short_flows(start_auth_server):
    return start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false", LOCAL_AUTH_FLOW_STATE_LIFETIME=str(LIFETIME))


def _code(link: str, h) -> str:
    response = httpx.get(link)
    assert response.status_code == 303, response.text
    return h.query(response.headers["location"])["code"]


def test_an_email_flow_expires_from_its_creation_not_its_code(short_flows, h):
    email = h.email()
    client = h.client(short_flows, "pkce")
    client.auth.sign_up({"email": email, "password": "secret123", "options": {"email_redirect_to": CALLBACK}})
    link = short_flows.mail(email)[0]["link"]
    time.sleep(LIFETIME + 0.5)
    code = _code(link, h)  # the user clicks late: the code is issued now, the flow is older than its lifetime
    with pytest.raises(AuthApiError) as caught:
        client.auth.exchange_code_for_session({"auth_code": code})
    assert caught.value.status == 422 and caught.value.code == "flow_state_expired"
    assert caught.value.message == "invalid flow state, flow state has expired"
    # The recovery flow likewise.
    recovering = h.client(short_flows, "pkce")
    recovering.auth.reset_password_for_email(email, {"redirect_to": CALLBACK})
    link = short_flows.mail(email)[0]["link"]
    time.sleep(LIFETIME + 0.5)
    with pytest.raises(AuthApiError) as recovery:
        recovering.auth.exchange_code_for_session({"auth_code": _code(link, h)})
    assert recovery.value.code == "flow_state_expired"


def test_a_magic_link_flow_counts_from_its_code(short_flows, h):
    email = h.email()
    h.admin(short_flows).create_user({"email": email, "password": "secret123", "email_confirm": True})
    client = h.client(short_flows, "pkce")
    client.auth.sign_in_with_otp({"email": email, "options": {"email_redirect_to": CALLBACK}})
    link = short_flows.mail(email)[0]["link"]
    assert short_flows.mail(email)[0]["type"] == "magiclink"
    time.sleep(LIFETIME + 0.5)
    session = client.auth.exchange_code_for_session({"auth_code": _code(link, h)}).session
    assert session.user.email == email


@pytest.mark.parametrize("challenge, message", [
    ("a" * 42, "code challenge has to be between 43 and 128 characters"),
    ("a" * 42 + "!",
     "code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes"),
])
def test_code_challenge_checks(auth_server, h, challenge, message):
    """pkce.go, isValidCodeChallenge (RFC 7636, section 4.2)."""
    with h.http(auth_server) as http:
        response = http.post("/signup", json={"email": h.email(), "password": "secret123",
                                              "code_challenge": challenge, "code_challenge_method": "s256"})
    assert response.status_code == 400
    assert response.json() == {"code": "validation_failed", "message": message}
