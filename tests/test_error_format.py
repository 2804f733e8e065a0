"""Every error path answers in the contract's JSON, with a request id; token answers are never cached."""
from __future__ import annotations

import re
import uuid

import httpx
import pytest

from coner_api.blueprint import NOT_JSON_MESSAGE
from tests.support.logs import json_lines
from tests.support.servers import app_settings, unreachable_url
from tests.support.users import unique_email


@pytest.fixture(scope="module")
def body_operations(dev_app) -> list[tuple[str, str, bool]]:
    """(path, method, needs a token) of every documented operation that takes a JSON body."""
    spec = dev_app.test_client().get("/openapi.json").get_json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                assert list(operation["requestBody"]["content"]) == ["application/json"], path
                found.append((path.replace("{user_id}", str(uuid.uuid4())), method,
                              bool(operation.get("security"))))
    assert len(found) >= 14
    return found


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]
    body = response.get_json()
    assert body["code"] == code and isinstance(body["error"], str) and body["error"]
    assert set(body) <= {"error", "code", "details", "request_id"}
    return body


def test_unknown_route(client):
    body = assert_error(client.get("/nope"), 404, "NOT_FOUND")
    assert body == {"error": "Not found", "code": "NOT_FOUND"}
    assert_error(client.post("/auth/nope", json={}), 404, "NOT_FOUND")
    assert_error(client.get("/docs/assets/../../config.py"), 404, "NOT_FOUND")


def test_wrong_method(client):
    response = client.put("/auth/signin", json={})
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_oversized_body_on_every_json_route(dev_client, body_operations, new_user):
    user = new_user()
    big = '{"email": "' + "a" * (70 * 1024) + '"}'
    for path, method, secured in body_operations:
        headers = user.headers if secured else {}
        response = dev_client.open(path, method=method.upper(), data=big, content_type="application/json",
                                   headers=headers)
        # Before any token or role check, on the admin routes too (body_gate: size is the server's business).
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")


def test_a_body_that_is_not_declared_json_is_the_same_400_on_every_json_route(dev_client, body_operations,
                                                                                new_user):
    user = new_user()
    for path, method, secured in body_operations:
        if path.startswith("/admin/"):
            continue
        response = dev_client.open(path, method=method.upper(), data='{"email": "a@example.com"}',
                                   content_type="text/plain", headers=user.headers if secured else {})
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert body["details"] == {"_schema": [NOT_JSON_MESSAGE]}, path


@pytest.mark.parametrize("data", ['{"email": ', "\xff\xfe", "{'single': 'quotes'}", "[1, 2]", "null"])
def test_malformed_json_on_every_json_route(dev_client, body_operations, new_user, data):
    user = new_user()
    for path, method, secured in body_operations:
        if path.startswith("/admin/"):
            continue
        response = dev_client.open(path, method=method.upper(), data=data.encode("latin-1"),
                                   content_type="application/json", headers=user.headers if secured else {})
        body = assert_error(response, 400, "VALIDATION_FAILED")
        assert body["error"] == "ValidationError" and body["details"], (path, body)


def test_head_answers_like_get_without_a_body(client):
    assert client.head("/health").status_code == 200
    response = client.head("/auth/me")
    assert response.status_code == 401 and response.data == b""
    assert response.headers["Content-Type"] == "application/json" and response.headers["X-Request-ID"]
    response = client.head("/nope")
    assert response.status_code == 404 and response.headers["X-Request-ID"]
    response = client.head("/auth/signin")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]


@pytest.mark.parametrize("method,path", [("post", "/auth//signin"), ("get", "/auth//callback?code=c&flow=f"),
                                         ("get", "//health")])
def test_a_doubled_slash_is_an_unknown_path_not_a_redirect_to_the_host_header(client, method, path):
    """werkzeug's merge_slashes answered 308 with Location http://<Host>/auth/signin: HTML, and the callback's
    code carried along to whatever host the request named."""
    response = getattr(client, method)(path, headers={"Host": "evil.example"})
    assert_error(response, 404, "NOT_FOUND")
    assert "Location" not in response.headers


def test_options_lists_the_methods(client):
    response = client.options("/users/profile")
    assert response.status_code == 200
    assert {"GET", "PATCH"} <= set(response.headers["Allow"].replace(" ", "").split(","))
    assert response.headers["X-Request-ID"] and response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == b"" and "Content-Type" not in response.headers  # no content, no type
    assert_error(client.options("/nope"), 404, "NOT_FOUND")


def test_an_answer_without_content_has_no_content_type(client, auth_server):
    """RFC 9110 §8.3: the type describes content; a 204 has none (it said application/json)."""
    from tests.support.users import sign_up_user

    user = sign_up_user(auth_server)
    response = client.post("/auth/logout", headers=user.headers)
    assert response.status_code == 204 and response.get_data() == b""
    assert "Content-Type" not in response.headers and response.headers["X-Request-ID"]


def test_unhandled_exception_answer_and_log(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server))

    @app.route("/_explode", methods=["POST"])
    def explode():
        raise KeyError("internal detail")

    response = app.test_client().post("/_explode", headers={"X-Request-ID": "rid-500"})
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert body == {"error": "Internal server error", "code": "INTERNAL_ERROR", "request_id": "rid-500"}


def test_dev_token_answers_are_not_cached(dev_client):
    email = unique_email("nocache")
    response = dev_client.post("/dev/auth/token", json={"email": email})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    response = dev_client.post("/dev/auth/tokens/batch", json={"count": 1})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


@pytest.mark.slow
def test_gunicorn_logs_carry_the_request_id_and_its_refusals_are_json(api_server, migrated_database, auth_server):
    """An upstream failure is logged with the request id, and so is the access line; gunicorn's own 414/431."""
    server = api_server(app_settings(migrated_database, auth_server, SUPABASE_URL=unreachable_url()),
                        workers=1, GUNICORN_ACCESS_LOG="-")
    response = httpx.post(f"{server.url}/auth/signin", json={"email": "a@example.com", "password": "12345678"},
                          headers={"X-Request-ID": "trace-me-42"}, timeout=15)
    assert response.status_code == 503 and response.json()["code"] == "AUTH_UNAVAILABLE"
    assert response.headers["X-Request-ID"] == "trace-me-42"
    malformed = httpx.post(f"{server.url}/auth/signin", content=b"{", headers={"Content-Type": "application/json"},
                           timeout=15)
    assert malformed.status_code == 400 and malformed.json()["code"] == "VALIDATION_FAILED"
    # gunicorn refuses these before the app sees them, in the same JSON shape.
    too_long = httpx.get(f"{server.url}/auth/google/url?redirect_to={'x' * 5000}", timeout=15)
    assert too_long.status_code == 414 and too_long.headers["Content-Type"] == "application/json"
    assert too_long.json() == {"error": "Request URI too long", "code": "URI_TOO_LONG"}
    assert too_long.headers["X-Request-ID"] and too_long.headers["X-Content-Type-Options"] == "nosniff"
    crowded = {"X-Request-ID": "trace-me-431", **{f"x-h{n}": "v" for n in range(150)}}
    many_headers = httpx.get(f"{server.url}/health", headers=crowded, timeout=15)
    assert many_headers.status_code == 431 and many_headers.json()["code"] == "HEADERS_TOO_LARGE"
    assert many_headers.headers["X-Request-ID"] == "trace-me-431"  # the client's, as on every answer
    refused = httpx.get(f"{server.url}/health", headers={"Expect": "nothing", "x-request-id": "trace-me-417"},
                        timeout=15)
    assert refused.status_code == 417 and refused.headers["X-Request-ID"] == "trace-me-417"
    unacceptable = httpx.get(f"{server.url}/health", headers={"Expect": "x", "X-Request-ID": "a b"},
                             timeout=15)
    assert re.fullmatch(r"[0-9a-f]{32}", unacceptable.headers["X-Request-ID"])  # refused as an id: a new one
    server.stop()
    log = server.log()
    traced = [line for line in json_lines(log) if line["request_id"] == "trace-me-42"]
    assert any(line["logger"].startswith("coner_api.") and "AUTH_UNAVAILABLE" in line["message"] for line in traced)
    assert any(line["logger"] == "coner_api.request" and line["status"] == 503 for line in traced)
    assert 'POST /auth/signin HTTP/1.1" 503' in log and "request_id=trace-me-42" in log
    assert f"request_id={malformed.headers['X-Request-ID']}" in log
