"""Log lines: one JSON line per request with its fields (route template, user, resolved client address,
request id), the app's own warnings and errors as JSON lines with the same request id, nothing of a request's
secrets, and readable text with LOG_FORMAT=text. (A whole run under gunicorn: tests/test_log_secrets.py.)"""
from __future__ import annotations

import json
import logging
import re
import uuid

import pytest

from coner_api.config import Config, ConfigError
from coner_api.observability.logs import JsonFormatter, mask_secrets
from tests.support.logs import json_lines, request_lines
from tests.support.servers import app_settings, unreachable_url

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def json_app(make_app, migrated_database, auth_server):
    return make_app(app_settings(migrated_database, auth_server, LOG_FORMAT="json", TRUSTED_PROXIES="1"))


def test_a_request_writes_one_json_line_with_its_fields(json_app, new_user, capsys):
    user = new_user()
    capsys.readouterr()
    response = json_app.test_client().get("/auth/me", headers={**user.headers, "X-Request-ID": "log-fields-1",
                                                               "X-Forwarded-For": "203.0.113.7"})
    assert response.status_code == 200
    out = capsys.readouterr().out
    [line] = [entry for entry in request_lines(out) if entry["request_id"] == "log-fields-1"]
    assert TIME.match(line["time"]) and line["level"] == "info" and isinstance(line["pid"], int)
    assert {key: line[key] for key in ("message", "method", "route", "status", "user_id", "client_ip")} == {
        "message": "GET /auth/me 200", "method": "GET", "route": "/auth/me", "status": 200,
        "user_id": user.id, "client_ip": "203.0.113.7"}
    assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 10_000
    assert user.access_token not in out and "Bearer" not in out
    assert len(out.splitlines()) == len(json_lines(out))  # every line is a JSON object


def test_the_line_names_the_route_template_never_the_path_or_query(json_app, new_user, capsys):
    user, other_id = new_user(), str(uuid.uuid4())
    client = json_app.test_client()
    capsys.readouterr()
    assert client.get(f"/admin/users/{other_id}", headers={**user.headers, "X-Request-ID": "log-route-1"}
                      ).status_code == 403
    assert client.get("/auth/callback?code=secret-code-1&flow=secret-flow-1",
                      headers={"X-Request-ID": "log-route-2", "Cookie": "coner_oauth_x=secret-cookie-1"}
                      ).status_code == 401
    assert client.get("/no/such/secret-path-1", headers={"X-Request-ID": "log-route-3"}).status_code == 404
    out = capsys.readouterr().out
    by_id = {line["request_id"]: line for line in request_lines(out)}
    assert by_id["log-route-1"]["route"] == "/admin/users/{user_id}" and by_id["log-route-1"]["user_id"] == user.id
    assert by_id["log-route-2"]["route"] == "/auth/callback" and by_id["log-route-2"]["user_id"] is None
    assert by_id["log-route-3"]["route"] is None and by_id["log-route-3"]["message"] == "GET (no route) 404"
    for secret in (other_id, "secret-code-1", "secret-flow-1", "secret-cookie-1", "secret-path-1"):
        assert secret not in out


def test_warnings_are_json_lines_with_the_request_id_of_their_request(make_app, migrated_database, auth_server,
                                                                     capsys):
    app = make_app(app_settings(migrated_database, auth_server, SUPABASE_URL=unreachable_url(), LOG_FORMAT="json"))
    capsys.readouterr()
    password = f"pw-{uuid.uuid4().hex}"
    response = app.test_client().post("/auth/signin", json={"email": "who@example.com", "password": password},
                                      headers={"X-Request-ID": "log-warn-1"})
    assert response.status_code == 503
    out = capsys.readouterr().out
    mine = [line for line in json_lines(out) if line["request_id"] == "log-warn-1"]
    warnings = [line for line in mine if line["level"] == "warning"]
    assert any("Supabase Auth unreachable" in line["message"] for line in warnings)
    assert any("AUTH_UNAVAILABLE" in line["message"] for line in warnings)
    assert [line["status"] for line in mine if line["logger"] == "coner_api.request"] == [503]
    assert password not in out


def test_an_unhandled_error_is_one_json_line_with_its_traceback_masked(make_app, migrated_database, auth_server,
                                                                      capsys):
    app = make_app(app_settings(migrated_database, auth_server, LOG_FORMAT="json"))
    leaked = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

    def boom():
        raise RuntimeError(f"failed while holding {leaked} and Bearer abc.def")

    app.add_url_rule("/test-boom", "test_boom", boom)
    capsys.readouterr()
    response = app.test_client().get("/test-boom", headers={"X-Request-ID": "log-boom-1"})
    assert response.status_code == 500 and response.get_json()["request_id"] == "log-boom-1"
    out = capsys.readouterr().out
    mine = [line for line in json_lines(out) if line["request_id"] == "log-boom-1"]
    [error] = [line for line in mine if line["logger"] == "coner_api.errors"]
    assert error["level"] == "error" and "Traceback" in error["exception"] and "RuntimeError" in error["exception"]
    [request] = [line for line in mine if line["logger"] == "coner_api.request"]
    assert request["level"] == "error" and request["status"] == 500
    assert leaked not in out and "abc.def" not in out


def test_the_database_pools_warnings_are_json_lines_too(make_app, auth_server, capsys):
    """psycopg-pool's "error connecting" (Postgres down) came out as bare text over two lines, through
    Python's last-resort handler: a log drain parsing JSON lost it."""
    app = make_app(app_settings(unreachable_url("postgresql", "/x"), auth_server, LOG_FORMAT="json"))
    capsys.readouterr()
    assert app.test_client().get("/ready").status_code == 503
    app.extensions["coner.db"].close()  # stops the pool's workers: what they logged is all out
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert lines and all(line.startswith("{") for line in lines), lines[:5]
    pool = [line for line in json_lines(captured.out) if line["logger"].startswith("psycopg")]
    assert pool and all(line["level"] == "warning" for line in pool)


def test_text_format_is_readable(make_app, migrated_database, auth_server, capsys):
    app = make_app(app_settings(migrated_database, auth_server, LOG_FORMAT="text"))
    try:
        capsys.readouterr()
        client = app.test_client()
        client.get("/auth/health", headers={"X-Request-ID": "log-text-1"})
        out = capsys.readouterr().out
        assert re.search(r"INFO \[log-text-1\] coner_api\.request: GET /auth/health 200 method=GET "
                         r"route=/auth/health status=200 duration_ms=[\d.]+ client_ip=" + re.escape(client.address)
                         + "$", out, re.M), out
    finally:
        make_app(app_settings(migrated_database, auth_server))  # the process's format back to the default


def test_masking_covers_jwts_and_bearer_credentials():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-nature_1"
    assert mask_secrets(f"got {token}, and Authorization: Bearer p9w2c4hx7tqa;") == \
        "got [redacted], and Authorization: [redacted];"
    assert mask_secrets("nothing to hide") == "nothing to hide"
    record = logging.LogRecord("coner_api.x", logging.WARNING, __file__, 1, "token %s", (token,), None)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "token [redacted]" and line["request_id"] is None


@pytest.mark.parametrize("name, value, problem", [
    ("LOG_FORMAT", "yaml", "LOG_FORMAT must be one of json, text"),
    ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16"),
])
def test_log_format_and_metrics_token_are_checked(name, value, problem):
    environ = {"APP_ENV": "test", "DATABASE_URL": "postgresql://x@127.0.0.1/x", "SUPABASE_URL": "http://127.0.0.1:9",
               "SUPABASE_ANON_KEY": "a", "SUPABASE_SERVICE_ROLE_KEY": "b", name: value}
    with pytest.raises(ConfigError, match=problem):
        Config.from_env(environ)
    assert Config.from_env({**environ, name: ""}).log_format == "json"
