"""A whole run against gunicorn (two workers, JSON logs, gunicorn's access log on too), through every route
that takes or hands out a secret, on success and on failure; then its whole log is searched for every secret
the run used: passwords, access and refresh tokens, e-mail and recovery codes, the Google sign-in's code, flow
id and browser cookie, the metrics token, the Supabase keys, and values sent in Authorization and Cookie
headers. (Every server and app of the whole suite is searched too, at its end: tests/conftest.py.)"""
from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.logs import assert_no_secret, request_lines
from tests.support.servers import app_settings, free_port
from tests.support.standin import Helpers
from tests.support.users import latest_otp, unique_email

pytestmark = pytest.mark.slow

METRICS_TOKEN = "log-secrets-metrics-" + uuid.uuid4().hex


def test_a_whole_run_leaves_no_secret_in_the_log(api_server, migrated_database, start_auth_server):
    auth = start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false")  # sign-ups get a confirmation code by e-mail
    port = free_port()
    settings = app_settings(migrated_database, auth, APP_ENV="development", METRICS_TOKEN=METRICS_TOKEN,
                            OAUTH_REDIRECT_URL=f"http://127.0.0.1:{port}/auth/callback")
    server = api_server(settings, workers=2, port=port, GUNICORN_ACCESS_LOG="-")
    secrets: list[tuple[str, str]] = [("the metrics token", METRICS_TOKEN), ("the anon key", auth.anon_key),
                                      ("the service-role key", auth.service_role_key)]
    # A new connection per request, so that both workers serve (and log) part of the run.
    api = httpx.Client(base_url=server.url, timeout=15, limits=httpx.Limits(max_keepalive_connections=0))

    def remember(kind: str, *values: str) -> None:
        secrets.extend((kind, value) for value in values if value)

    # Sign-up, confirmation by code, sign-in (and a wrong password), refresh, the protected routes.
    email, password = unique_email("logs"), f"Pw-{uuid.uuid4().hex}"
    remember("a password", password)
    assert api.post("/auth/signup", json={"email": email, "password": password}).status_code == 201
    code = latest_otp(auth, email, "signup")
    assert api.post("/auth/verify-email", json={"email": email, "token": code}).status_code == 200
    wrong = f"Wrong-{uuid.uuid4().hex}"
    remember("a wrong password", wrong)
    assert api.post("/auth/signin", json={"email": email, "password": wrong}).status_code == 400
    session = api.post("/auth/signin", json={"email": email, "password": password}).json()
    remember("a session's tokens", session["access_token"], session["refresh_token"])
    refreshed = api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]}).json()
    remember("a refreshed session's tokens", refreshed["access_token"], refreshed["refresh_token"])
    unknown = f"unknown{uuid.uuid4().hex[:12]}"
    remember("an unknown refresh token", unknown)
    assert api.post("/auth/refresh", json={"refresh_token": unknown}).status_code == 401
    headers = {"Authorization": f"Bearer {refreshed['access_token']}", "Cookie": f"session=cookie-{uuid.uuid4().hex}"}
    remember("a cookie sent", headers["Cookie"].split("=", 1)[1])
    assert api.get("/auth/me", headers=headers).status_code == 200
    assert api.put("/users/profile-first", headers=headers, json={
        "full_name": "Log Test", "dob": "1990-01-01", "sex": "other", "phone_number": "1234567890",
        "address": "1 Log St", "school": "Log U", "major": "Logs"}).status_code == 200
    assert api.get("/users/profile", headers=headers).status_code == 200
    forged = refreshed["access_token"][:-4] + "AAAA"
    remember("a forged token", forged)
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert api.post("/auth/logout", headers=headers).status_code == 204
    assert api.get("/auth/me", headers=headers).status_code == 401

    # Password recovery by code, with a new password.
    assert api.post("/auth/password/forgot", json={"email": email}).status_code == 202
    recovery, new_password = latest_otp(auth, email, "recovery"), f"New-{uuid.uuid4().hex}"
    remember("a new password", new_password)
    assert api.post("/auth/password/reset", json={"email": email, "token": recovery, "password": new_password}
                    ).status_code == 204

    # Google sign-in in a cookie-keeping client: start link, consent, callback with code, flow and cookie.
    with httpx.Client(base_url=server.url, timeout=15) as browser:
        link = browser.get("/auth/google/url").json()["url"]
        flow = parse_qs(urlsplit(link).query)["flow"][0]
        started = browser.get(link)
        assert started.status_code == 302
        # Set for the callback and for the start link (the same secret): read from the jar, not by name.
        cookie = next(c.value for c in browser.cookies.jar if c.name.startswith("coner_oauth_"))
        landing = Helpers.consent(started.headers["Location"], unique_email("logs-google")).headers["Location"]
        google_code = parse_qs(urlsplit(landing).query)["code"][0]
        page = browser.get(landing)
        assert page.status_code == 200
        tokens = re.findall(r'<textarea id="(?:access|refresh)-token"[^>]*>([^<]+)</textarea>', page.text)
        assert len(tokens) == 2
        remember("the Google sign-in's code, flow, cookie and tokens", google_code, flow, cookie, *tokens)
        assert browser.get(landing).status_code == 401  # the code again: refused, and logged

    # The dev routes, the metrics, and a logout everywhere.
    dev_password = f"Dev-{uuid.uuid4().hex}"
    remember("a dev password", dev_password)
    dev = api.post("/dev/auth/token", json={"email": unique_email("logs-dev"), "password": dev_password}).json()
    remember("dev tokens", dev["data"]["access_token"], dev["data"]["refresh_token"])
    assert api.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    assert api.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"}).status_code == 401
    assert api.post("/auth/logout-all", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 204

    server.stop()
    log = server.log()
    lines = request_lines(log)
    assert len(lines) >= 20 and {line["route"] for line in lines} >= {
        "/auth/signup", "/auth/verify-email", "/auth/signin", "/auth/refresh", "/auth/me", "/users/profile-first",
        "/auth/password/reset", "/auth/google/start", "/auth/callback", "/dev/auth/token", "/metrics",
        "/auth/logout", "/auth/logout-all"}
    assert len({line["pid"] for line in lines}) == 2  # both workers wrote
    assert '"GET /auth/callback HTTP/1.1" 401' in log  # gunicorn's access log was on too
    assert_no_secret(log, secrets, "the server's log")
    # Codes are short: besides their plain occurrence (checked above), none after a "token"/"code" key.
    for short in (code, recovery):
        assert not re.search(rf"(?<![0-9]){short}(?![0-9])", log), "an e-mail code is in the log"
