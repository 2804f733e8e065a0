"""Supabase Auth faults on real processes: the Auth server stopped (connection refused) and hanging (accepts,
never answers), with warm and cold JWKS caches.

The JWKS staleness bound itself (known keys served for up to `max_stale` after the last good fetch, then 503)
is a property of `JwksCache` tested with a fake clock in tests/test_jwks.py
(`test_failed_fetch_keeps_serving_known_keys`, `test_stale_beyond_max_stale_is_unavailable`,
`test_cold_cache_with_failing_fetch_is_unavailable_within_the_timeout`); here the real server shows the
warm path working while Supabase Auth is down and the cold path failing within the fetch timeout.
"""
from __future__ import annotations

import pytest

from tests.support.faults import (AUTH_TIMEOUT, GENEROUS_LIMITS, JWKS_FETCH_TIMEOUT, SLACK, BlackHole, call,
                                  call_all, wait_until)
from tests.support.servers import app_settings
from tests.support.users import PASSWORD, sign_up_user, unique_email

pytestmark = pytest.mark.slow


def test_supabase_auth_down_then_back(start_auth_server, api_server, migrated_database):
    """With the stand-in stopped: sign-in, refresh, sign-up and logout are 503 AUTH_UNAVAILABLE at once (the
    connection is refused; a hanging server is the next test); protected routes keep working, both for a
    token this process has verified and for one it has never seen (its key comes from the cached JWKS);
    /health stays 200 and /ready is 503 naming auth. Started again, every flow works, with no API restart."""
    auth = start_auth_server(fresh=True)
    api = api_server(app_settings(migrated_database, auth, **GENEROUS_LIMITS), workers=1, threads=8)
    email = unique_email()
    assert call(api.url, "POST", "/auth/signup", json={"email": email, "password": PASSWORD}).status == 201
    credentials = {"email": email, "password": PASSWORD}
    seen = call(api.url, "POST", "/auth/signin", json=credentials).body
    unseen = call(api.url, "POST", "/auth/signin", json=credentials).body  # never presented before the outage
    assert call(api.url, "GET", "/auth/me", token=seen["access_token"]).status == 200  # JWKS now cached

    auth.stop()
    try:
        refused = call_all(api.url, [("POST", "/auth/signin", credentials),
                                     ("POST", "/auth/refresh", {"refresh_token": seen["refresh_token"]}),
                                     ("POST", "/auth/signup", {"email": unique_email(), "password": PASSWORD})])
        refused.append(call(api.url, "POST", "/auth/logout", token=seen["access_token"]))
        for answer in refused:
            assert (answer.status, answer.code) == (503, "AUTH_UNAVAILABLE"), answer
            assert answer.seconds < AUTH_TIMEOUT + SLACK, answer
        for token in (seen["access_token"], unseen["access_token"]):
            served = call_all(api.url, [("GET", "/auth/me"), ("GET", "/users/profile")], token=token)
            assert [a.status for a in served] == [200, 200], served
        assert call(api.url, "GET", "/health").status == 200
        ready = call(api.url, "GET", "/ready")
        assert ready.status == 503, ready
        assert (ready.body["status"], ready.body["code"]) == ("not_ready", "AUTH_UNAVAILABLE")
        assert ready.body["services"]["database"] == "ok" and ready.body["services"]["auth"] != "ok"
    finally:
        auth.start()

    wait_until(lambda: call(api.url, "GET", "/ready").status == 200, timeout=20,
               what="/ready after auth is back")
    assert call(api.url, "POST", "/auth/signin", json=credentials).status == 200
    # The refresh that failed during the outage never reached Supabase: its token is still good.
    refreshed = call(api.url, "POST", "/auth/refresh", json={"refresh_token": seen["refresh_token"]})
    assert refreshed.status == 200, refreshed
    signup = call(api.url, "POST", "/auth/signup", json={"email": unique_email(), "password": PASSWORD})
    assert signup.status == 201, signup
    assert call(api.url, "GET", "/auth/me", token=refreshed.body["access_token"]).status == 200
    assert call(api.url, "POST", "/auth/logout", token=unseen["access_token"]).status == 204


def test_hanging_supabase_auth_costs_at_most_the_outbound_timeouts(api_server, migrated_database,
                                                                   auth_server):
    """An Auth server that accepts connections and never answers: every call to it ends in 503
    AUTH_UNAVAILABLE within its timeout (5 s for the Auth API, 3 s for the JWKS fetch), never a hang. The
    API process has never fetched the JWKS (cold cache), so even a valid token gets 503, not 401."""
    token = sign_up_user(auth_server).access_token  # a real token whose key this API has never fetched
    with BlackHole() as hole:
        settings = app_settings(migrated_database, auth_server, SUPABASE_URL=hole.url, **GENEROUS_LIMITS)
        api = api_server(settings, workers=1, threads=8)
        answers = call_all(api.url, [("POST", "/auth/signin", {"email": unique_email(), "password": PASSWORD}),
                                     ("POST", "/auth/signup", {"email": unique_email(), "password": PASSWORD}),
                                     ("POST", "/auth/refresh", {"refresh_token": "r" * 12}),
                                     ("GET", "/ready"), ("GET", "/health"), ("GET", "/auth/me")], token=token)

    *auth_calls, ready, health, me = answers
    for answer in auth_calls:
        assert (answer.status, answer.code) == (503, "AUTH_UNAVAILABLE"), answer
        assert answer.seconds < AUTH_TIMEOUT + SLACK, answer
    assert ready.status == 503 and ready.body["services"]["auth"] != "ok", ready
    assert ready.seconds < AUTH_TIMEOUT + SLACK
    assert health.status == 200 and health.seconds < 1, health
    assert (me.status, me.code) == (503, "AUTH_UNAVAILABLE"), me
    assert me.seconds < JWKS_FETCH_TIMEOUT + SLACK, me
