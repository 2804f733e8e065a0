"""Redis only degrades the API: readiness, health and requests while Redis hangs.

tests/test_rate_limits.py covers the limiter itself with a real redis-server (killed mid-run, SIGSTOPped,
unreachable: requests still served within a bound, limits fall back to per-process memory, recovery). What
this adds needs no redis-server: a load balancer's view. `/ready` must stay 200 (Redis is not a critical
dependency, so an outage must not pull every instance out of rotation), saying `"redis": "error"`, and no
route answers 5xx or waits longer than Redis's short socket timeouts allow.
"""
from __future__ import annotations

import pytest

from tests.support.faults import GENEROUS_LIMITS, SLACK, BlackHole, call
from tests.support.servers import app_settings
from tests.support.users import sign_up_user

pytestmark = pytest.mark.slow

REDIS_TIMEOUT = 0.3  # rate_limits.REDIS_CLIENT_OPTIONS: connect and socket timeouts, no retries


def test_a_hanging_redis_only_degrades(api_server, migrated_database, auth_server):
    """Redis accepts connections and never answers (the harder fault: an unreachable one fails at once)."""
    user = sign_up_user(auth_server)
    with BlackHole() as hole:
        port = hole.url.rsplit(":", 1)[1]
        settings = app_settings(migrated_database, auth_server, REDIS_URL=f"redis://127.0.0.1:{port}/0",
                                **GENEROUS_LIMITS)
        api = api_server(settings, workers=1, threads=4)
        answers = [call(api.url, "GET", "/ready"), call(api.url, "GET", "/health"),
                   call(api.url, "GET", "/auth/me", token=user.access_token),
                   call(api.url, "GET", "/users/profile", token=user.access_token),
                   call(api.url, "POST", "/auth/signin",
                        json={"email": user.email, "password": user.password})]
        api.stop()

    ready, health, me, profile, signin = answers
    assert ready.status == 200 and ready.body["status"] == "ready", ready
    assert ready.body["services"] == {"database": "ok", "auth": "ok", "redis": "error"}
    assert health.status == 200 and health.body["redis"] == "error", health
    assert [me.status, profile.status, signin.status] == [200, 200, 200], answers
    for answer in answers:
        # A few Redis round trips per request at most, each cut off at the socket timeout.
        assert answer.seconds < 4 * REDIS_TIMEOUT + SLACK, answer
