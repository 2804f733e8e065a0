"""Redis shares the rate limits among workers and only ever degrades the API: with a real redis-server, the
workers' shared count, then Redis killed mid-run and SIGSTOPped (requests still served within a bound, limits
fall back to per-process memory, recovery). The last test needs no redis-server: a load balancer's view. `/ready` must stay 200 (Redis is not a critical
dependency, so an outage must not pull every instance out of rotation), saying `"redis": "error"`, and no
route answers 5xx or waits longer than Redis's short socket timeouts allow.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.support.faults import GENEROUS_LIMITS, SLACK, BlackHole, call
from tests.support.redis_server import RedisServer, start_redis
from tests.support.servers import app_settings
from tests.support.users import sign_up_user

pytestmark = pytest.mark.slow

REDIS_TIMEOUT = 0.3  # rate_limits.REDIS_CLIENT_OPTIONS: connect and socket timeouts, no retries
INVALID_SIGNIN = {"email": "not-an-email"}  # refused by validation: counted, but no call to Supabase


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


def timed(send) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = send()
    return response, time.monotonic() - started


def test_workers_share_the_count_through_redis(redis_server, api_server, migrated_database, auth_server, new_user):
    server = api_server(app_settings(migrated_database, auth_server, REDIS_URL=redis_server.url,
                                     RATE_LIMIT_AUTH="6/minute"), workers=3)
    statuses, remaining = [], []
    for _ in range(12):
        # A new connection each time, so the requests spread over the three worker processes.
        response = httpx.post(f"{server.url}/auth/signin", json=INVALID_SIGNIN, timeout=10)
        statuses.append(response.status_code)
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert statuses == [400] * 6 + [429] * 6
    assert remaining[:6] == ["5", "4", "3", "2", "1", "0"]
    import redis

    assert redis.Redis(port=redis_server.port).keys("*coner*"), "the counts live in Redis"
    user = new_user()
    me = httpx.get(f"{server.url}/auth/me", headers=user.headers, timeout=10)
    assert me.status_code == 200 and me.headers["X-RateLimit-Limit"] == "10000"


def test_redis_killed_mid_run_requests_are_still_served_quickly(redis_server, api_server, migrated_database,
                                                                  auth_server, new_user):
    server = api_server(app_settings(migrated_database, auth_server, REDIS_URL=redis_server.url), workers=3)
    user = new_user()
    assert httpx.get(f"{server.url}/health", timeout=10).json()["redis"] == "ok"
    assert httpx.get(f"{server.url}/auth/me", headers=user.headers, timeout=10).status_code == 200

    redis_server.stop()
    for _ in range(9):
        me, seconds = timed(lambda: httpx.get(f"{server.url}/auth/me", headers=user.headers, timeout=10))
        assert me.status_code == 200 and seconds < 1.5, (me.status_code, seconds)
        signin, seconds = timed(lambda: httpx.post(f"{server.url}/auth/signin", json=INVALID_SIGNIN, timeout=10))
        assert signin.status_code == 400 and seconds < 1.5, (signin.status_code, seconds)
        assert "X-RateLimit-Limit" in signin.headers  # still limited, in each worker's memory
    health, seconds = timed(lambda: httpx.get(f"{server.url}/health", timeout=10))
    assert health.status_code == 200 and health.json()["redis"] == "error" and seconds < 1.5
    assert "Traceback" not in server.log()


def test_a_hanging_redis_costs_a_bounded_wait(redis_server, api_server, migrated_database, auth_server, new_user):
    server = api_server(app_settings(migrated_database, auth_server, REDIS_URL=redis_server.url), workers=2)
    user = new_user()
    assert httpx.get(f"{server.url}/auth/me", headers=user.headers, timeout=10).status_code == 200

    os.kill(redis_server.process.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        for _ in range(8):
            me, seconds = timed(lambda: httpx.get(f"{server.url}/auth/me", headers=user.headers, timeout=10))
            assert me.status_code == 200 and seconds < 2, (me.status_code, seconds)
        health, seconds = timed(lambda: httpx.get(f"{server.url}/health", timeout=10))
        assert health.status_code == 200 and health.json()["redis"] == "error" and seconds < 2
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/health", timeout=10).json()["redis"] != "ok":
        assert time.monotonic() < deadline, "health never saw Redis come back"
        time.sleep(0.2)
    assert httpx.get(f"{server.url}/auth/me", headers=user.headers, timeout=10).status_code == 200


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
