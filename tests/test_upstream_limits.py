"""The API behind Supabase Auth's own rate limits, as a hosted project applies them (the stand-in with its
limits on: token buckets per client IP, burst 30, GoTrue internal/api/apilimiter/apilimiter.go).

Every call the API makes comes from the API's own address; it forwards the end user's address in
`Sb-Forwarded-For`, so that Supabase counts each user's attempts in that user's bucket. Without the header, a
few clients, each well inside the API's own limit, would exhaust one shared bucket and lock everybody out.
"""
from __future__ import annotations

import pytest

from tests.support.servers import app_settings
from tests.support.users import PASSWORD, sign_up_user


@pytest.fixture(scope="module")
def limited_server(start_auth_server):
    """A stand-in with GoTrue's hosted-style rate limits on (the suite's default stand-in has them off), its
    /token bucket refilling at one per 5 minutes instead of 150: what these tests count must not depend on how
    fast a loaded machine sends forty requests."""
    return start_auth_server(LOCAL_AUTH_RATE_LIMITS="on", LOCAL_AUTH_RATE_LIMIT_TOKEN_REFRESH="1")


def sign_in(client, address: str, email: str, password: str):
    return client.post("/auth/signin", json={"email": email, "password": password},
                       headers={"X-Forwarded-For": address})


def test_each_client_address_has_its_own_upstream_bucket(make_app, migrated_database, limited_server):
    """Eight addresses each fail sign-in five times, inside the API's own 5/minute; a ninth still signs in.
    Through one shared bucket (burst 30) the 40 failures would have used it up before the ninth came."""
    app = make_app(app_settings(migrated_database, limited_server, TRUSTED_PROXIES="1", RATE_LIMIT_AUTH="5/minute"))
    client = app.test_client()
    user = sign_up_user(limited_server)
    for n in range(1, 9):
        answers = [sign_in(client, f"203.0.113.{n}", user.email, "wrong-password-1").status_code for _ in range(5)]
        assert answers == [400] * 5, (n, answers)  # INVALID_CREDENTIALS, never an upstream 429
    ninth = sign_in(client, "203.0.113.9", user.email, PASSWORD)
    assert ninth.status_code == 200, ninth.get_json()


def test_an_upstream_rate_limit_is_our_429_with_one_retry_after(make_app, migrated_database, limited_server):
    """One client that goes past Supabase's bucket (our own limit set high) gets the API's 429, not a 5xx."""
    app = make_app(app_settings(migrated_database, limited_server, TRUSTED_PROXIES="1",
                                RATE_LIMIT_AUTH="1000/minute"))
    client = app.test_client()
    user = sign_up_user(limited_server)
    answers = [sign_in(client, "198.51.100.77", user.email, "wrong-password-1") for _ in range(40)]
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {400, 429} and statuses[:25] == [400] * 25, statuses
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.get_json() == {"error": "Too many requests", "code": "RATE_LIMITED"}
    assert refused.headers.getlist("Retry-After") == ["60"]
    # Our own window has room left, but the answer is a refusal: the headers must not say "try again now".
    assert refused.headers["X-RateLimit-Limit"] == "1000" and refused.headers["X-RateLimit-Remaining"] == "0"
    # Another address is not affected.
    assert sign_in(client, "198.51.100.78", user.email, PASSWORD).status_code == 200
