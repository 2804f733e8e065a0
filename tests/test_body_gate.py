"""Every request's body is read and checked before its route runs, on routes that take no body too
(coner_api/body_gate.py): a malformed body is refused and the route does nothing. On a real gunicorn for what
only the server shows (chunked framing, bodies over the limit, answers on one connection), and through the
Flask test client for the JSON rules."""
from __future__ import annotations

import json
import socket

import pytest

from tests.support.faults import GENEROUS_LIMITS
from tests.support.servers import app_settings
from tests.support.users import bearer, sign_up_user

READ_TIMEOUT = 2  # the server's REQUEST_READ_TIMEOUT: every answer below must come well before it


@pytest.fixture(scope="module")
def server(module_api_server, migrated_database, auth_server):
    return module_api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS,
                                          REQUEST_READ_TIMEOUT=str(READ_TIMEOUT)), workers=1, threads=4)


def exchange(server, data: bytes, timeout: float = READ_TIMEOUT / 2) -> bytes:
    """Send `data` on a fresh connection; everything the server sends until it closes (within `timeout`,
    shorter than the server's own read timeout: an answer only that timeout gives fails the test)."""
    port = int(server.url.rpartition(":")[2])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(data)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
        return answer


def answers(raw: bytes) -> list[tuple[int, bytes]]:
    """The (status, head) of each answer on the connection."""
    found = []
    while raw.startswith(b"HTTP/1.1 "):
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        found.append((int(head[9:12]), head))
        raw = rest[length:]
    return found


def head(method: str, path: str, token: str, *lines: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n" + "".join(
        line + "\r\n" for line in lines) + "\r\n").encode()


def still_signed_in(server, token: str) -> bool:
    import httpx

    return httpx.get(f"{server.url}/auth/me", headers=bearer(token), timeout=10).status_code == 200


def test_broken_chunked_framing_on_a_route_without_a_body_is_one_400_and_nothing_done(server, auth_server):
    user = sign_up_user(auth_server)
    raw = exchange(server, head("POST", "/auth/logout-all", user.access_token,
                                "Content-Type: application/json", "Transfer-Encoding: chunked")
                   + b"zz\r\n{}\r\n0\r\n\r\n"
                   + b"GET /auth/health HTTP/1.1\r\nHost: x\r\n\r\n")
    got = answers(raw)
    assert [status for status, _ in got] == [400], raw[:300]  # one answer, and the connection closed after it
    assert b"connection: close" in got[0][1].lower() and b'"code":"BAD_REQUEST"' in raw
    assert still_signed_in(server, user.access_token)  # the logout-all was not made


def test_a_chunked_body_over_the_limit_is_a_413_not_its_first_64_kib(server, auth_server):
    user = sign_up_user(auth_server)
    body = json.dumps({"display_name": "Chunky"}).encode() + b" " * 80_000
    pieces = [body[i:i + 4096] for i in range(0, len(body), 4096)]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    raw = exchange(server, head("PUT", "/users/me", user.access_token, "Content-Type: application/json",
                                "Transfer-Encoding: chunked") + chunks + b"0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 413 ") and b'"code":"PAYLOAD_TOO_LARGE"' in raw, raw[:300]
    import httpx

    legacy = httpx.get(f"{server.url}/users/me", headers=user.headers, timeout=10).json()
    assert legacy["display_name"] != "Chunky"


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(server, auth_server):
    user = sign_up_user(auth_server)
    prefix = json.dumps({"display_name": "Exactly"}).encode()
    body = prefix[:-1] + b" " * (65_536 - len(prefix)) + b"}"
    raw = exchange(server, head("PUT", "/users/me", user.access_token, "Content-Type: application/json",
                                "Transfer-Encoding: chunked", "Connection: close")
                   + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body), timeout=10)
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:300]


@pytest.mark.parametrize("request_line, status", [(b"GET /auth/health HTTP/1.1", 400),
                                                  (b"GET /auth/health HTTP/1.0", 200),
                                                  (b"GET /auth/health HTTP/1.9", 400)])
def test_an_http_1_1_request_without_host_is_a_400(server, request_line, status):
    """RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host (HTTP/1.0 had none)."""
    raw = exchange(server, request_line + b"\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 %d " % status) or raw.startswith(b"HTTP/1.0 %d " % status), raw[:200]
    if status == 400:
        assert b'"code":"BAD_REQUEST"' in raw


@pytest.mark.parametrize("version", [b"1.2", b"1.9"])
def test_a_later_http_1_minor_version_is_answered_as_http_1_1(server, version):
    """RFC 9110 §6.2: the answer carries the highest version the server conforms to (1.1), not the request's."""
    raw = exchange(server, b"GET /auth/health HTTP/" + version + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]


def test_a_declared_length_over_the_limit_is_refused_at_once_on_a_route_without_a_body(server, auth_server):
    """Content-Length 1,000,000 with a thousand bytes sent: a 413 before any wait for the rest."""
    user = sign_up_user(auth_server)
    raw = exchange(server, head("POST", "/auth/logout-all", user.access_token, "Content-Type: text/plain",
                                "Content-Length: 1000000") + b"x" * 1000)
    assert raw.startswith(b"HTTP/1.1 413 ") and b"\r\nconnection: close" in raw.lower(), raw[:300]
    assert still_signed_in(server, user.access_token)


# ------------------------------------------------------------------ the JSON rules, on routes without a body
@pytest.mark.parametrize("content_type,body,detail", [
    ("text/plain", b"\xff\x00junk", "Request body must be JSON (Content-Type: application/json)"),
    ("application/json", b'{"a": "\\ud800"}', "Must be valid Unicode text"),
    ("application/json", b'{"a": 1, "a": 2}', "Duplicate member"),
    ("application/json", b"[[[[", "Invalid JSON body."),
    ("application/json", b"[]", "Request body must be a JSON object"),
], ids=["form", "surrogate", "duplicate", "broken", "list"])
@pytest.mark.parametrize("method,path", [("post", "/auth/logout"), ("post", "/auth/logout-all"),
                                         ("post", "/auth/bootstrap"), ("get", "/auth/me")])
def test_a_malformed_body_on_a_route_without_one_is_refused_and_nothing_done(client, auth_server, method,
                                                                           path, content_type, body, detail):
    user = sign_up_user(auth_server)
    response = client.open(path, method=method.upper(), data=body,
                           headers={**user.headers, "Content-Type": content_type})
    assert response.status_code == 400, response.get_data()
    answer = response.get_json()
    assert answer["code"] == "VALIDATION_FAILED"
    assert detail in json.dumps(answer["details"], ensure_ascii=False)
    assert client.get("/auth/me", headers=user.headers).status_code == 200  # neither logout was made


def test_a_json_object_on_a_route_without_a_body_is_ignored(client, auth_server):
    """What clients commonly send with a POST that needs nothing: `{}`, or any object."""
    user = sign_up_user(auth_server)
    assert client.post("/auth/bootstrap", json={}, headers=user.headers).status_code == 200
    assert client.post("/auth/logout", json={"why": "done"}, headers=user.headers).status_code == 204


def test_an_admin_deletion_with_a_junk_body_deletes_nothing(client, auth_server):
    from tests.support.users import user_with

    admin, victim = user_with(auth_server, "super_admin"), sign_up_user(auth_server)
    response = client.delete(f"/admin/users/{victim.id}", data=b"\xff\x00junk",
                             headers={**admin.headers, "Content-Type": "text/plain"})
    assert response.status_code == 400 and response.get_json()["code"] == "VALIDATION_FAILED"
    assert client.get(f"/admin/users/{victim.id}", headers=admin.headers).status_code == 200
