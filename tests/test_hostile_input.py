"""Hostile request bodies: lone surrogates, NULs, control characters, deep nesting, huge and non-finite numbers,
duplicate members, bytes that are not UTF-8. Each is a 400 VALIDATION_FAILED naming the field (or `_schema`
for the body as a whole), never a 5xx, and nothing of it reaches Supabase Auth or Postgres."""
from __future__ import annotations

import json

import pytest

from tests.support.users import sign_up_user, unique_email, with_roles

LONE = "abcdefgh\ud800"  # valid JSON ("\ud800" escaped), but no UTF-8 encoder can write it
NUL = "abcdefgh\x00ij"


def post(client, path: str, body, headers: dict | None = None, method: str = "post"):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)  # ensure_ascii: "\ud800" stays escaped
    return getattr(client, method)(path, data=raw, headers={"Content-Type": "application/json", **(headers or {})})


def refused(response, field: str, fragment: str = "") -> None:
    body = response.get_json()
    assert response.status_code == 400, (response.status_code, body)
    assert body["code"] == "VALIDATION_FAILED" and body["error"] == "ValidationError", body
    assert field in body["details"], body
    assert fragment in " ".join(body["details"][field]), body


def email() -> str:
    return unique_email("hostile")


@pytest.fixture(scope="module")
def user(auth_server):
    return sign_up_user(auth_server)


@pytest.fixture(scope="module")
def admin(auth_server):
    return with_roles(auth_server, sign_up_user(auth_server), ["super_admin"])


# ------------------------------------------------------------------------------------ lone surrogates, NUL
CASES = [
    ("/auth/signin", lambda bad: {"email": "a@example.com", "password": bad}, "password"),
    ("/auth/signup", lambda bad: {"email": email(), "password": bad}, "password"),
    ("/auth/signup", lambda bad: {"email": email(), "password": "correct-horse-1", "displayName": bad},
     "displayName"),
    ("/auth/refresh", lambda bad: {"refresh_token": bad}, "refresh_token"),
    ("/auth/verify-email", lambda bad: {"email": "a@example.com", "token": bad}, "token"),
    ("/auth/password/reset", lambda bad: {"email": "a@example.com", "token": "123456", "password": bad},
     "password"),
    ("/auth/password/reset", lambda bad: {"email": "a@example.com", "token": bad, "password": "correct-horse-1"},
     "token"),
    ("/auth/password/forgot", lambda bad: {"email": bad}, "email"),
]


@pytest.mark.parametrize("bad, fragment", [(LONE, "Unicode"), (NUL, "NUL")])
@pytest.mark.parametrize("path, make, field", CASES)
def test_unencodable_text_in_auth_bodies_is_refused_by_name(client, path, make, field, bad, fragment):
    refused(post(client, path, make(bad)), field, fragment)


@pytest.mark.parametrize("bad, fragment", [(LONE, "Unicode"), (NUL, "NUL")])
def test_unencodable_text_in_admin_and_profile_bodies(client, admin, user, bad, fragment):
    refused(post(client, "/admin/users", {"email": email(), "password": bad}, admin.headers), "password", fragment)
    refused(post(client, "/admin/users", {"email": email(), "password": "correct-horse-1", "displayName": bad},
                 admin.headers), "displayName", fragment)
    refused(post(client, "/users/me", {"display_name": bad}, user.headers, method="put"), "display_name", fragment)
    refused(post(client, "/users/profile", {"school": bad}, user.headers, method="patch"), "school", fragment)


@pytest.mark.parametrize("bad, fragment", [(LONE, "Unicode"), (NUL, "NUL")])
def test_unencodable_text_in_dev_bodies(dev_client, bad, fragment):
    refused(post(dev_client, "/dev/auth/token", {"password": bad}), "password", fragment)
    refused(post(dev_client, "/dev/auth/token", {"metadata": {"full_name": bad}}), "metadata.full_name", fragment)
    refused(post(dev_client, "/dev/auth/token", {"metadata": {bad: "x"}}), "metadata", fragment)


def test_a_nul_in_the_password_is_not_blamed_on_the_email(client):
    """It used to reach Supabase, whose refusal came back as an error on `email`."""
    response = post(client, "/auth/signup", {"email": email(), "password": "password\x00123"})
    refused(response, "password", "NUL")
    assert "email" not in response.get_json()["details"]


@pytest.mark.parametrize("control", ["\x1b", "\x7f", "\x85", "\x9f"])  # C0, DEL and C1: Unicode's Cc
def test_every_control_character_is_refused_in_text(client, user, control):
    refused(post(client, "/auth/signup", {"email": email(), "password": "correct-horse-1",
                                          "displayName": f"a{control}b"}), "displayName", "control")
    refused(post(client, "/users/profile", {"school": f"a{control}b"}, user.headers, method="patch"), "school",
            "control")
    refused(post(client, "/users/profile", {"address": f"line 1\nline 2{control}"}, user.headers, method="patch"),
            "address", "control")


def test_control_characters_where_text_is_expected(client):
    refused(post(client, "/auth/signup", {"email": email(), "password": "correct-horse-1", "displayName": "a\x1bb"}),
            "displayName", "control")
    refused(post(client, "/auth/signin", {"email": '"\x01"@example.com', "password": "correct-horse-1"}), "email")
    refused(post(client, "/auth/refresh", {"refresh_token": "abc\tdef"}), "refresh_token", "printable")


# ------------------------------------------------------------------------------ shape of the body itself
@pytest.mark.parametrize("raw", [
    "[" * 1000, "{\"a\":" * 1000, "[" * 60_000,  # the parser's recursion (60 KB: under the body limit)
    json.dumps({"metadata": json.loads("[" * 40 + "]" * 40)}),  # parses, but nests past the limit
])
def test_deep_nesting_is_a_400_for_the_body(client, dev_client, raw):
    for path, target in (("/auth/signin", client), ("/dev/auth/token", dev_client)):
        response = post(target, path, raw)
        refused(response, "_schema")


def test_nesting_within_the_limit_is_the_schemas_business(dev_client):
    metadata = {"a": {"b": {"c": [1, [2, [3]]]}}}
    response = post(dev_client, "/dev/auth/token", {"email": email(), "metadata": metadata})
    assert response.status_code == 200 and response.get_json()["data"]["user"]["user_metadata"]["a"] == metadata["a"]


@pytest.mark.parametrize("raw, message", [
    ('{"count": 1e999}', "Number out of range"),
    ('{"count": -1e999}', "Number out of range"),
    ('{"count": NaN}', "Invalid JSON body."),
    ('{"count": Infinity}', "Invalid JSON body."),
    ('{"count": ' + "9" * 5000 + "}", "Number out of range"),
    ('{"count": 9223372036854775808}', "Number out of range"),
    ('{"count": 1, "count": 2}', "Duplicate member"),
])
def test_numbers_and_members_json_does_not_define(dev_client, raw, message):
    refused(post(dev_client, "/dev/auth/tokens/batch", raw), "_schema", message)


def test_huge_but_representable_numbers_are_the_schemas_business(dev_client):
    refused(post(dev_client, "/dev/auth/tokens/batch", '{"count": 9223372036854775807}'), "count")


@pytest.mark.parametrize("raw", [b'{"email": "\xff@example.com", "password": "x"}', "{}".encode("utf-16"),
                                 b"\xef\xbb\xbf{}", b"\x00"])
def test_bodies_that_are_not_utf8_json(client, raw):
    refused(post(client, "/auth/signin", raw), "_schema")


def test_an_empty_body_is_still_no_body(dev_client):
    response = dev_client.post("/dev/auth/tokens/batch", data=b"", headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and len(response.get_json()["data"]) == 5


# --------------------------------------------------------------------------------- e-mail normalisation
def test_an_email_with_blanks_and_capitals_signs_up_and_in_as_its_normal_form(client, db_conn):
    """Supabase lower-cases but does not trim (" a@x.com" would be refused at sign-up and never match at
    sign-in); the API trims and lower-cases before asking."""
    address = email()
    typed = f"  {address.upper()} "
    assert post(client, "/auth/signup", {"email": typed, "password": "correct-horse-1"}).status_code == 201
    for attempt in (typed, address, f"{address}\t"):
        response = post(client, "/auth/signin", {"email": attempt, "password": "correct-horse-1"})
        assert response.status_code == 200, (attempt, response.get_json())
    stored = db_conn.execute("SELECT email FROM user_profiles WHERE email = %s", [address]).fetchone()
    assert stored == (address,)
