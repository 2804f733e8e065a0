"""A bounded soak: mixed traffic against three gunicorn workers for RELIABILITY_SOAK_SECONDS (default 30, as
`make test` runs it): no 5xx, no transport error, no lost write."""
from __future__ import annotations

import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.faults import GENEROUS_LIMITS, Timed, call
from tests.support.profiles import VALID
from tests.support.servers import app_settings
from tests.support.users import PASSWORD, unique_email

pytestmark = pytest.mark.slow

SOAK_SECONDS = float(os.environ.get("RELIABILITY_SOAK_SECONDS", "30"))
CLIENTS = 8  # bounded concurrency: one thread per simulated user
# Relative weights of the operations each client picks from.
MIX = {"signin": 1, "refresh": 1, "me": 3, "read": 3, "write": 3}
FIELDS = ("address", "school", "major", "phone_number")


def run_client(api_url: str, number: int, deadline: float) -> tuple[list[Timed], dict[str, str], str]:
    """One user's traffic until `deadline`: returns every exchange, the writes acknowledged, the last token.

    The client is its profile's only writer, so every read must show every write acknowledged before it."""
    rng = random.Random(number)
    email = unique_email(f"soak-{number}")
    log: list[Timed] = []

    def send(method: str, path: str, *, token: str | None = None, json=None) -> Timed:
        answer = call(api_url, method, path, token=token, json=json, timeout=15)
        log.append(answer)
        return answer

    assert send("POST", "/auth/signup", json={"email": email, "password": PASSWORD}).status == 201
    session = send("POST", "/auth/signin", json={"email": email, "password": PASSWORD}).body
    assert send("PUT", "/users/profile-first", token=session["access_token"], json=VALID).status == 200
    acknowledged: dict[str, str] = {}
    writes = 0
    while time.monotonic() < deadline:
        operation = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        token = session["access_token"]
        if operation == "signin":
            answer = send("POST", "/auth/signin", json={"email": email, "password": PASSWORD})
            session = answer.body if answer.status == 200 else session
        elif operation == "refresh":
            answer = send("POST", "/auth/refresh", json={"refresh_token": session["refresh_token"]})
            session = answer.body if answer.status == 200 else session
        elif operation == "me":
            send("GET", "/auth/me", token=token)
        elif operation == "read":
            answer = send("GET", "/users/profile", token=token)
            if answer.status == 200:
                assert answer.body == {**VALID, **acknowledged}, "a read missed an acknowledged write"
        else:
            writes += 1
            field = rng.choice(FIELDS)
            value = (f"{70_000_000 + number * 100_000 + writes}" if field == "phone_number"
                     else f"{field} {writes}")
            answer = send("PATCH", "/users/profile", token=token, json={field: value})
            if answer.status == 200:
                acknowledged[field] = value
    return log, acknowledged, session["access_token"]


def test_soak_mixed_traffic_has_no_5xx_and_loses_no_write(api_server, migrated_database, start_auth_server):
    # A load test: each client signs in or refreshes several times a second, which hosted Supabase's limits
    # (30 at once, then one every 2 s per address) would refuse, rightly; the switch exists for this.
    auth_server = start_auth_server(LOCAL_AUTH_RATE_LIMITS="off")
    api = api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS), workers=3, threads=4)
    deadline = time.monotonic() + SOAK_SECONDS
    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(lambda n: run_client(api.url, n, deadline), range(CLIENTS)))

    exchanges = [answer for log, _, _ in outcomes for answer in log]
    failures = [a for a in exchanges if a.status is None or a.status >= 500]
    assert failures == [], failures[:5]
    # Every operation of this mix succeeds for a well-behaved client: anything else is a fault too.
    assert [a for a in exchanges if a.status not in (200, 201)] == []
    for log, acknowledged, token in outcomes:  # every acknowledged write, read back at the end
        assert call(api.url, "GET", "/users/profile", token=token).body == {**VALID, **acknowledged}
    by_path = Counter(f"{a.method} {a.path}" for a in exchanges)
    seconds: dict[str, list[float]] = {}
    for a in exchanges:
        seconds.setdefault(f"{a.method} {a.path}", []).append(a.seconds)
    summary = {path: f"{by_path[path]} x {sum(s) / len(s):.3f}s (max {max(s):.2f})"
               for path, s in seconds.items()}
    print(f"\nsoak: {len(exchanges)} requests in {SOAK_SECONDS:.0f} s: {summary}")
    assert len(exchanges) >= 5 * SOAK_SECONDS, "the soak produced too little traffic to mean anything"
    assert api.process.poll() is None
