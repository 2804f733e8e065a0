"""Admin API and GET /verify rules the stand-in used to be kinder about (issue 14, point 7).

GoTrue internal/api/admin.go (adminUsers, adminUserDelete), sorting.go (sort), models/user.go
(FindUsersInAudience, SoftDeleteUser), middleware.go (requireAdminCredentials), verify.go (Verify /
VerifyParams.Validate) and mail.go (adminGenerateLink), verify.go (emailChangeVerify).
"""
from __future__ import annotations

import uuid

import httpx
import pytest
from supabase_auth.errors import AuthApiError


def _total(http: httpx.Client) -> int:
    return int(http.get("/admin/users", params={"per_page": 1}).headers["X-Total-Count"])


def test_list_shows_and_counts_soft_deleted_users(auth_server, h):
    email = h.email()
    session = h.sign_up(auth_server, email)
    user_id = session["user"]["id"]
    with h.admin_http(auth_server) as http:
        before = _total(http)
        h.admin(auth_server).delete_user(user_id, should_soft_delete=True)
        assert _total(http) == before  # still counted in X-Total-Count
        newest = http.get("/admin/users", params={"per_page": 20}).json()["users"]
    listed = {user["id"]: user for user in newest}
    assert user_id in listed and listed[user_id]["deleted_at"]
    # Raw HTTP: supabase-py's User model wants identity_data on every identity, which a soft-deleted user's
    # leave out (SoftDeleteUserIdentities empties them; `omitempty`), on GoTrue as here.
    with h.admin_http(auth_server) as http:
        kept = http.get(f"/admin/users/{user_id}").json()
    assert kept["deleted_at"] and kept["email"] != email  # obfuscated, so the address is free again
    assert kept["user_metadata"] == {} and kept["app_metadata"] == {}
    assert h.sign_up(auth_server, email)["user"]["id"] != user_id
    with h.http(auth_server, token=session["access_token"]) as http:
        gone = http.get("/user")  # maybeLoadUserOrSession: the user row is there, its sessions are not
    assert gone.status_code == 403 and gone.json()["code"] == "session_not_found"


@pytest.mark.parametrize("sort, message", [
    ("email", "Bad Sort Parameters: bad field for sort 'email'"),
    ("created_at sideways",
     "Bad Sort Parameters: bad direction for sort 'sideways', only 'asc' and 'desc' allowed"),
    ("", "Bad Sort Parameters: bad field for sort ''"),
])
def test_a_bad_sort_is_400(auth_server, h, sort, message):
    with h.admin_http(auth_server) as http:
        response = http.get("/admin/users", params={"sort": sort})
        assert http.get("/admin/users", params={"sort": "created_at DESC"}).status_code == 200
    assert response.status_code == 400
    assert response.json() == {"code": "validation_failed", "message": message}


@pytest.mark.parametrize("query, message", [
    ({"token": "abc"}, "Verify requires a verification type"),
    ({"type": "signup"}, "Verify requires a token or a token hash"),
    ({"type": "signup", "token": ""}, "Verify requires a token or a token hash"),
])
def test_get_verify_with_bad_parameters_is_a_json_400(auth_server, query, message):
    response = httpx.get(f"{auth_server.url}/auth/v1/verify",
                         headers={"X-Supabase-Api-Version": "2024-01-01"},
                         params={**query, "redirect_to": "http://127.0.0.1:8080/auth/callback"})
    assert response.status_code == 400 and "location" not in response.headers
    assert response.json() == {"code": "validation_failed", "message": message}


def test_get_verify_with_an_unknown_type_redirects_with_the_error(auth_server, h):
    response = httpx.get(f"{auth_server.url}/auth/v1/verify", params={"type": "bogus", "token": "abc"})
    assert response.status_code == 303
    assert h.fragment(response.headers["location"]) == {
        "error": "invalid_request", "error_code": "validation_failed",
        "error_description": "Invalid email verification type", "sb": ""}


@pytest.mark.parametrize("kind, status", [("password", 303), ("oauth_provider/authorization_code", 303),
                                          ("bogus", 500), ("email", 500)])
def test_a_pkce_link_of_a_type_verify_does_not_serve(auth_server, kind, status):
    """verify.go, verifyGet: a `pkce_` token's type goes through models.ParseAuthenticationMethod first; what
    it rejects is a plain error, GoTrue's generic 500; what it accepts reaches verifyTokenHash, whose 400 is a
    redirect."""
    response = httpx.get(f"{auth_server.url}/auth/v1/verify", params={"type": kind, "token": "pkce_abc"})
    assert response.status_code == status
    if status == 303:
        assert "error_code=validation_failed" in response.headers["location"].split("#")[0]


def test_admin_route_with_a_user_jwt_whose_session_is_gone(auth_server, h):
    session = h.sign_up(auth_server)
    with h.http(auth_server, token=session["access_token"]) as http:
        assert http.get("/admin/users").json() == {"code": "not_admin", "message": "User not allowed"}
        assert http.post("/logout").status_code == 204
        gone = http.get("/admin/users")
    assert gone.status_code == 403
    assert gone.json() == {"code": "session_not_found",
                           "message": "Session from session_id claim in JWT does not exist"}


def test_generate_link_email_change_needs_both_halves(confirm_server, h):
    """With secure e-mail change (the default) and autoconfirm off, one generated token is only half of it."""
    admin = h.admin(confirm_server)
    old, new = h.email(), h.email()
    admin.create_user({"email": old, "password": "secret123", "email_confirm": True})
    client = h.client(confirm_server)
    alone = admin.generate_link({"type": "email_change_new", "email": old, "new_email": new}).properties
    half = client.auth.verify_otp({"type": "email_change", "email": new, "token": alone.email_otp})
    assert half.session is None and half.user is None  # "Confirmation link accepted..."
    assert client.auth.sign_in_with_password({"email": old, "password": "secret123"}).user.email == old
    # Both halves, generated before either is used, complete the change.
    current = admin.generate_link({"type": "email_change_current", "email": old, "new_email": new}).properties
    future = admin.generate_link({"type": "email_change_new", "email": old, "new_email": new}).properties
    first = client.auth.verify_otp({"type": "email_change", "email": old, "token": current.email_otp})
    assert first.user is None
    with pytest.raises(AuthApiError):
        client.auth.sign_in_with_password({"email": new, "password": "secret123"})
    done = client.auth.verify_otp({"type": "email_change", "email": new, "token": future.email_otp})
    assert done.user.email == new and done.user.new_email is None
    assert client.auth.sign_in_with_password({"email": new, "password": "secret123"}).session


@pytest.mark.parametrize("raw", ["+1555{n}", "+1 555 {n}", "+1{short}", "1{short}"])
def test_phone_numbers_are_e164_digits_after_one_plus_and_spaces_go(auth_server, h, raw):
    """phone.go, validatePhone: formatPhoneNumber drops one leading '+' and every space; e164Format wants 2 to
    15 digits, the first not 0."""
    digits = str(uuid.uuid4().int)
    raw = raw.format(n=digits[:7], short=digits[:3])
    with h.admin_http(auth_server) as admin:
        created = admin.post("/admin/users", json={"phone": raw})
        assert created.status_code == 200, created.text
        try:
            assert created.json()["phone"] == raw.removeprefix("+").replace(" ", "")
        finally:
            admin.delete(f"/admin/users/{created.json()['id']}")


@pytest.mark.parametrize("raw", ["+1 (555) 123-4567", "+1-555-1234567", "0123456", "1", "++15551234567",
                                 "1234567890123456"])
def test_other_phone_spellings_are_refused(auth_server, h, raw):
    with h.admin_http(auth_server) as admin:
        refused = admin.post("/admin/users", json={"phone": raw})
    assert (refused.status_code, refused.json()) == (
        400, {"code": "validation_failed", "message": "Invalid phone number format (E.164 required)"})


def test_an_admin_phone_change_makes_or_updates_the_phone_identity(auth_server, h):
    """admin.go, adminUserUpdate: a phone identity is made when there is none (phone_verified as
    phone_confirm says), updated otherwise; app_metadata.providers stays as it was. The answer is the user
    loadUser loaded, its identities as they were plus the ones made (a changed one shows its old data; the
    next read, the new), and UpdateIdentityData leaves updated_at."""
    user_id = h.sign_up(auth_server)["user"]["id"]
    first, second = "1555" + str(uuid.uuid4().int)[:7], "1556" + str(uuid.uuid4().int)[:7]
    with h.admin_http(auth_server) as admin:
        made = admin.put(f"/admin/users/{user_id}", json={"phone": first, "phone_confirm": True}).json()
        (phone,) = [i for i in made["identities"] if i["provider"] == "phone"]
        assert phone["identity_data"] == {"sub": user_id, "email_verified": False, "phone": first,
                                          "phone_verified": True}
        assert made["app_metadata"]["providers"] == ["email"]
        changed = admin.put(f"/admin/users/{user_id}", json={"phone": second}).json()
        (stale,) = [i for i in changed["identities"] if i["provider"] == "phone"]
        assert stale["identity_data"]["phone"] == first and changed["phone"] == second
        reread = admin.get(f"/admin/users/{user_id}").json()["identities"]
    (now,) = [i for i in reread if i["provider"] == "phone"]
    assert now["identity_data"]["phone"] == second and now["identity_data"]["phone_verified"] is False
    assert now["updated_at"] == phone["updated_at"]


def test_the_user_list_is_of_one_audience(auth_server, h):
    """admin.go, adminUsers: models.FindUsersInAudience for requestAud (the X-JWT-AUD header, else the
    project's audience); adminUserCreate takes the same default."""
    tag = uuid.uuid4().hex[:8]
    with h.admin_http(auth_server) as admin:
        other = admin.post("/admin/users", json={"email": f"aud-{tag}@example.com", "aud": f"app-{tag}"}).json()
        mine = admin.post("/admin/users", json={"email": f"aud-{tag}-x@example.com"},
                          headers={"X-JWT-AUD": f"app-{tag}"}).json()
        assert (other["aud"], mine["aud"]) == (f"app-{tag}", f"app-{tag}")
        default = admin.get("/admin/users", params={"filter": tag})
        assert default.json() == {"users": [], "aud": "authenticated"}
        assert default.headers["X-Total-Count"] == "0"
        theirs = admin.get("/admin/users", params={"filter": tag}, headers={"X-JWT-AUD": f"app-{tag}"})
    assert {user["id"] for user in theirs.json()["users"]} == {other["id"], mine["id"]}
    assert theirs.json()["aud"] == f"app-{tag}" and theirs.headers["X-Total-Count"] == "2"


def test_get_user_wants_the_request_audience_to_be_the_tokens(auth_server, h):
    """user.go, UserGet: requestAud (X-JWT-AUD first) against the token's first audience."""
    token = h.sign_up(auth_server)["access_token"]
    with h.http(auth_server, token=token) as http:
        assert http.get("/user", headers={"X-JWT-AUD": "authenticated"}).status_code == 200
        refused = http.get("/user", headers={"X-JWT-AUD": "another-app"})
    assert (refused.status_code, refused.json()) == (
        400, {"code": "validation_failed", "message": "Token audience doesn't match request audience"})


def test_page_numbers_past_go_ints_wrap_as_pop_takes_them(auth_server, h):
    """pagination.go parses page and per_page as uint64; models.FindUsersInAudience hands pop int() of them,
    negative from 2**63 on, and pop's Paginate makes a page below 1 the first and a size below 1 twenty. The
    headers keep the numbers asked for, and the query's other values, repeated ones included."""
    tag = uuid.uuid4().hex[:10]
    with h.admin_http(auth_server) as admin:
        made = admin.post("/admin/users", json={"email": f"page-{tag}@example.com"}).json()
        huge = admin.get("/admin/users", params={"filter": tag, "per_page": str(2 ** 63)})
        far = admin.get("/admin/users", params={"filter": tag, "per_page": 1, "page": str(2 ** 63)})
        repeated = admin.get(f"/admin/users?filter={tag}&sort=created_at%20asc&sort=created_at")
    assert huge.status_code == 200 and [u["id"] for u in huge.json()["users"]] == [made["id"]]
    assert huge.headers["Link"] == f'</admin/users?filter={tag}&page=1&per_page={2 ** 63}>; rel="last"'
    assert far.status_code == 200 and [u["id"] for u in far.json()["users"]] == [made["id"]]
    assert repeated.headers["Link"] == (
        f'</admin/users?filter={tag}&page=1&sort=created_at+asc&sort=created_at>; rel="last"')


def test_the_admin_api_guards_every_path_below_it(auth_server, h):
    """api.go: /admin's requireAdminCredentials runs before its router looks for the route."""
    with h.http(auth_server, token=auth_server.anon_key) as http:
        for method, path in (("GET", "/admin/nothing"), ("DELETE", "/admin/generate_link")):
            refused = http.request(method, path)
            assert (refused.status_code, refused.json()["code"]) == (403, "not_admin"), path
    with h.admin_http(auth_server) as admin:
        assert admin.get("/admin/nothing").status_code == 404


def test_a_panic_is_a_500_without_an_error_code_header(auth_server, h):
    """errors.go, recoverer: per_page=0 divides by zero in calculateTotalPages."""
    with h.admin_http(auth_server) as admin:
        answer = admin.get("/admin/users", params={"per_page": 0})
    assert (answer.status_code, answer.json()["code"]) == (500, "unexpected_failure")
    assert "x-sb-error-code" not in answer.headers


def test_roles_are_trimmed(auth_server, h):
    """models.User.SetRole: strings.TrimSpace."""
    with h.admin_http(auth_server) as admin:
        made = admin.post("/admin/users", json={"email": h.email(), "role": " editor "}).json()
        assert made["role"] == "editor"
        assert admin.put(f"/admin/users/{made['id']}", json={"role": " viewer\t"}).json()["role"] == "viewer"
