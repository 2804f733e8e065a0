"""Every input rule of the /users routes at its boundaries, and the one 400 shape for every bad body."""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.profiles import VALID
from tests.support.users import SignedInUser, sign_up_user


def today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def years_ago(years: int) -> str:
    """The date exactly `years` years before today (UTC); 28 February stands in for a missing 29th."""
    now = today()
    try:
        return now.replace(year=now.year - years).isoformat()
    except ValueError:
        return now.replace(year=now.year - years, day=28).isoformat()


def assert_validation_error(response, field: str, message: str | None = None) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "code", "details"}
    assert body["error"] == "ValidationError"
    assert body["code"] == "VALIDATION_FAILED"
    assert field in body["details"], body
    assert all(isinstance(m, str) for messages in body["details"].values() for m in messages)
    if message is not None:
        assert body["details"][field] == [message]


@pytest.fixture(scope="module")
def setup_user(auth_server) -> SignedInUser:
    """Never set up: every request it makes in this module is refused, so it can be shared."""
    return sign_up_user(auth_server)


@pytest.fixture(scope="module")
def ready_user(app, auth_server) -> SignedInUser:
    """Set up once; PATCHes in this module either fail or set valid values."""
    user = sign_up_user(auth_server)
    response = app.test_client().put("/users/profile-first", json=VALID, headers=user.headers)
    assert response.status_code == 200
    return user


# ------------------------------------------------------------------------------ first-time setup: refused
REFUSED_SETUP_VALUES = [
    ("phone_number", "1234567", "Invalid phone number"),             # 7 digits
    ("phone_number", "1234567890123456", "Invalid phone number"),    # 16 digits
    ("phone_number", "12345678a", "Invalid phone number"),
    ("phone_number", "+12345678", "Invalid phone number"),
    ("phone_number", "1234 5678", "Invalid phone number"),
    ("phone_number", "1234-5678", "Invalid phone number"),
    ("phone_number", " 12345678", "Invalid phone number"),
    ("phone_number", "١٢٣٤٥٦٧٨٩", "Invalid phone number"),           # digits, but not ASCII ones
    ("phone_number", "", "Invalid phone number"),
    ("phone_number", 12345678, "Invalid phone number"),
    ("dob", "not-a-date", None),
    ("dob", "2023-02-30", None),
    ("dob", "2023-13-01", None),
    ("dob", "20230203", None),
    ("dob", "2023-W01-1", None),
    ("dob", "1995-03-15T00:00:00", None),
    ("dob", "1995-3-15", None),
    ("dob", "", None),
    ("dob", 19950315, None),
    ("sex", "Male", None),
    ("sex", "unknown", None),
    ("sex", "", None),
    ("sex", 1, None),
    ("full_name", "", None),
    ("full_name", "   ", None),
    ("full_name", "a" * 256, None),
    ("full_name", 123, None),
    ("full_name", ["Alice"], None),
    ("full_name", "Ali\x00ce", None),
    ("full_name", "Alice\nSmith", None),
    ("full_name", "Alice \ud800", None),                              # unpaired surrogate
    ("address", "", None),
    ("address", "a" * 501, None),
    ("school", "", None),
    ("school", "a" * 256, None),
    ("major", "", None),
    ("major", "a" * 256, None),
    ("major", True, None),
]


@pytest.mark.parametrize("field,value,message", REFUSED_SETUP_VALUES)
def test_setup_refuses_a_bad_value(client, setup_user, field, value, message):
    response = client.put("/users/profile-first", json={**VALID, field: value}, headers=setup_user.headers)
    assert_validation_error(response, field, message)


def test_setup_refuses_a_date_of_birth_in_the_future(client, setup_user):
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    response = client.put("/users/profile-first", json={**VALID, "dob": tomorrow}, headers=setup_user.headers)
    assert_validation_error(response, "dob", "Date of birth cannot be in the future")


def test_setup_refuses_an_age_of_151(client, setup_user):
    response = client.put("/users/profile-first", json={**VALID, "dob": years_ago(151)},
                          headers=setup_user.headers)
    assert_validation_error(response, "dob", "Age must be between 0 and 150 years")


@pytest.mark.parametrize("field", sorted(VALID))
def test_setup_requires_every_field(client, setup_user, field):
    body = {k: v for k, v in VALID.items() if k != field}
    response = client.put("/users/profile-first", json=body, headers=setup_user.headers)
    assert_validation_error(response, field, "Missing data for required field.")


@pytest.mark.parametrize("field", sorted(VALID))
def test_setup_refuses_null(client, setup_user, field):
    response = client.put("/users/profile-first", json={**VALID, field: None}, headers=setup_user.headers)
    assert_validation_error(response, field)


@pytest.mark.parametrize("field", ["nickname", "user_id", "id", "email", "profile_initialized_at"])
def test_setup_refuses_unknown_fields(client, setup_user, field):
    response = client.put("/users/profile-first", json={**VALID, field: "x"}, headers=setup_user.headers)
    assert_validation_error(response, field, "Unknown field.")


def test_every_error_of_a_body_is_reported_at_once(client, setup_user):
    response = client.put("/users/profile-first", json={**VALID, "phone_number": "1", "sex": "x"},
                          headers=setup_user.headers)
    assert_validation_error(response, "phone_number", "Invalid phone number")
    assert "sex" in response.get_json()["details"]


# --------------------------------------------------------------------------------- bodies that are not JSON
@pytest.mark.parametrize("path,method", [("/users/profile-first", "put"), ("/users/profile", "patch"),
                                         ("/users/me", "put")])
@pytest.mark.parametrize("data,content_type", [
    (None, None),                                    # no body at all
    ("", "application/json"),                        # empty body
    ("{}", "application/json"),                      # an empty object
    ('{"full_name": "x"', "application/json"),       # invalid JSON
    ("[1, 2]", "application/json"),                  # JSON, not an object
    ('"text"', "application/json"),
    ("null", "application/json"),
    ("\xff\xfe", "application/json"),                # not UTF-8
    ('{"display_name": "x"}', "text/plain"),         # JSON, but not declared as JSON
    ("display_name=x", "application/x-www-form-urlencoded"),
])
def test_a_missing_or_malformed_body_is_a_400_validation_error(client, setup_user, ready_user, path, method,
                                                               data, content_type):
    user = ready_user if method == "patch" else setup_user
    kwargs = {"headers": user.headers}
    if data is not None:
        kwargs["data"] = data.encode("latin-1") if data == "\xff\xfe" else data
        kwargs["content_type"] = content_type
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.get_json()
    assert body["error"] == "ValidationError" and body["code"] == "VALIDATION_FAILED"
    assert body["details"] and all(isinstance(v, list) for v in body["details"].values())


def test_a_non_json_body_is_explained(client, setup_user):
    response = client.put("/users/me", data='{"display_name": "x"}', content_type="text/plain",
                          headers=setup_user.headers)
    assert response.get_json()["details"] == {
        "_schema": ["Request body must be JSON (Content-Type: application/json)"]}


def test_an_empty_patch_is_refused(client, ready_user):
    response = client.patch("/users/profile", json={}, headers=ready_user.headers)
    assert_validation_error(response, "_schema", "At least one field must be provided")


# ------------------------------------------------------------------------------ first-time setup: accepted
ACCEPTED_SETUP_VALUES = [
    ("phone_number", "12345678"),                    # 8 digits
    ("phone_number", "123456789012345"),             # 15 digits
    ("phone_number", "00000000"),
    ("full_name", "A"),
    ("full_name", "a" * 255),
    ("full_name", "  Zoë Ñúñez 李  "),               # kept exactly as sent
    ("address", "a" * 500),
    ("address", "Line 1\nLine 2\tApt 3"),            # an address may span lines
    ("school", "s" * 255),
    ("major", "m" * 255),
    ("sex", "male"),
    ("sex", "other"),
    ("dob", "2000-02-29"),
]


@pytest.mark.parametrize("field,value", ACCEPTED_SETUP_VALUES)
def test_setup_accepts_a_boundary_value(client, auth_server, field, value):
    user = sign_up_user(auth_server)
    body = {**VALID, field: value}
    response = client.put("/users/profile-first", json=body, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == body
    assert client.get("/users/profile", headers=user.headers).get_json() == body


@pytest.mark.parametrize("dob", ["today", "150 years ago"])
def test_setup_accepts_ages_0_and_150(client, auth_server, dob):
    value = today().isoformat() if dob == "today" else years_ago(150)
    user = sign_up_user(auth_server)
    response = client.put("/users/profile-first", json={**VALID, "dob": value}, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["dob"] == value


# ---------------------------------------------------------------------------------------------- PATCH
@pytest.mark.parametrize("field,message", [("full_name", "Cannot update full name after first completion"),
                                           ("sex", "Cannot update sex after first completion")])
@pytest.mark.parametrize("value", ["Someone Else", "female", None, ""])
def test_patch_refuses_locked_fields(client, ready_user, field, message, value):
    response = client.patch("/users/profile", json={field: value, "school": "MIT"}, headers=ready_user.headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": "ValidationError", "code": "LOCKED_FIELD",
                                   "details": {field: [message]}}
    assert client.get("/users/profile", headers=ready_user.headers).get_json()[field] == VALID[field]


@pytest.mark.parametrize("body", [{"full_name": "X"}, {"sex": "male", "school": "MIT"},
                                  {"full_name": 5, "x": 1}])
def test_before_setup_a_locked_field_is_not_locked_yet_but_not_initialized(client, auth_server, body):
    user = sign_up_user(auth_server)
    response = client.patch("/users/profile", json=body, headers=user.headers)
    assert response.status_code == 400
    assert response.get_json() == {"error": "Profile not initialized", "code": "PROFILE_NOT_INITIALIZED"}
    setup = client.put("/users/profile-first", json=VALID, headers=user.headers)
    assert setup.status_code == 200, setup.get_json()


def test_patch_names_both_locked_fields(client, ready_user):
    response = client.patch("/users/profile", json={"full_name": "X", "sex": "male"}, headers=ready_user.headers)
    assert response.get_json()["details"] == {
        "full_name": ["Cannot update full name after first completion"],
        "sex": ["Cannot update sex after first completion"]}


@pytest.mark.parametrize("field,value", [
    (field, value) for field, value, _ in REFUSED_SETUP_VALUES if field not in ("full_name", "sex")
] + [("dob", "2999-01-01"), ("dob", None), ("address", None), ("phone_number", None)])
def test_patch_refuses_a_bad_value(client, ready_user, field, value):
    response = client.patch("/users/profile", json={field: value}, headers=ready_user.headers)
    assert_validation_error(response, field)
    assert client.get("/users/profile", headers=ready_user.headers).get_json() == VALID


@pytest.mark.parametrize("field", ["nickname", "user_id", "display_name", "profile_initialized_at"])
def test_patch_refuses_unknown_fields(client, ready_user, field):
    response = client.patch("/users/profile", json={"school": "MIT", field: "x"}, headers=ready_user.headers)
    assert_validation_error(response, field, "Unknown field.")


@pytest.mark.parametrize("field,value", [
    ("phone_number", "12345678"), ("phone_number", "123456789012345"), ("address", "a" * 500),
    ("school", "s" * 255), ("major", "m" * 255), ("dob", "today"), ("dob", "150 years ago"),
])
def test_patch_accepts_a_boundary_value(client, auth_server, field, value):
    if value == "today":
        value = today().isoformat()
    elif value == "150 years ago":
        value = years_ago(150)
    user = sign_up_user(auth_server)
    assert client.put("/users/profile-first", json=VALID, headers=user.headers).status_code == 200
    response = client.patch("/users/profile", json={field: value}, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {**VALID, field: value}


# ----------------------------------------------------------------------------------------- PUT /users/me
@pytest.mark.parametrize("body,field", [
    ({"display_name": ""}, "display_name"),
    ({"display_name": "   "}, "display_name"),
    ({"display_name": "d" * 101}, "display_name"),
    ({"display_name": None}, "display_name"),
    ({"display_name": 5}, "display_name"),
    ({"avatar_url": "not a url"}, "avatar_url"),
    ({"avatar_url": "ftp://cdn.example.com/a.png"}, "avatar_url"),
    ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
    ({"avatar_url": "https://cdn.example.com/" + "a" * 2025}, "avatar_url"),   # 2049 characters
    ({"avatar_url": ""}, "avatar_url"),
    ({"avatar_url": None}, "avatar_url"),
    ({}, "_schema"),
    ({"display_name": "ok", "email": "evil@example.com"}, "email"),
    ({"display_name": "ok", "id": "00000000-0000-0000-0000-000000000000"}, "id"),
])
def test_legacy_update_refuses(client, setup_user, body, field):
    response = client.put("/users/me", json=body, headers=setup_user.headers)
    assert_validation_error(response, field)


@pytest.mark.parametrize("body", [
    {"display_name": "d"},
    {"display_name": "d" * 100},
    {"avatar_url": "https://cdn.example.com/" + "a" * 2024},                 # 2048 characters
    {"avatar_url": "http://cdn.example.com/avatar.png"},
    {"display_name": "Alice Smith", "avatar_url": "https://cdn.example.com/new-avatar.png"},
])
def test_legacy_update_accepts(client, new_user, body):
    user = new_user()
    response = client.put("/users/me", json=body, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    for field, value in body.items():
        assert response.get_json()[field] == value
    assert client.get("/users/me", headers=user.headers).get_json() == response.get_json()


def test_concurrent_requests_sharing_one_schema_keep_their_errors_and_values_apart(client, ready_user):
    """Each route's schema is one instance for every request (coner_api/blueprint.py): bodies validated at
    once on several threads each get their own errors, and a valid one its own values."""
    bodies = {"school": {"school": "x" * 256}, "major": {"major": "x" * 256}, "dob": {"dob": "not a date"},
              None: {"address": "Somewhere"}}

    def send(field):
        return field, client.patch("/users/profile", json=bodies[field], headers=ready_user.headers)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, list(bodies) * 15))
    for field, response in answers:
        if field is None:
            assert response.status_code == 200 and response.get_json()["address"] == "Somewhere"
        else:
            assert_validation_error(response, field)
            assert set(response.get_json()["details"]) == {field}
