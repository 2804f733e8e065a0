"""The admin API through the official client and raw HTTP: CRUD, pagination, bans, deletion, generate_link."""
from __future__ import annotations

import hashlib
import time
import uuid

import httpx
import jwt
import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError


def test_create_get_update_delete(auth_server, h):
    admin = h.admin(auth_server)
    email = h.email()
    created = admin.create_user({"email": email, "password": "secret123", "email_confirm": True,
                                 "user_metadata": {"name": "Ada"}, "app_metadata": {"tier": "gold"}}).user
    assert created.email == email and created.email_confirmed_at is not None
    assert created.user_metadata == {"name": "Ada", "email_verified": True}
    assert created.app_metadata == {"provider": "email", "providers": ["email"], "tier": "gold"}
    assert [i.provider for i in created.identities] == ["email"]
    assert admin.get_user_by_id(created.id).user.email == email
    updated = admin.update_user_by_id(created.id, {"user_metadata": {"name": None, "city": "Oslo"},
                                                   "app_metadata": {"tier": None, "roles": ["admin"]}}).user
    assert updated.user_metadata == {"email_verified": True, "city": "Oslo"}
    assert updated.app_metadata == {"provider": "email", "providers": ["email"], "roles": ["admin"]}
    h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "secret123"})
    assert admin.delete_user(created.id) is None
    with pytest.raises(AuthApiError) as caught:
        admin.get_user_by_id(created.id)
    assert caught.value.status == 404 and caught.value.code == "user_not_found"


def test_create_without_confirm_cannot_sign_in(auth_server, h):
    email = h.email()
    user = h.admin(auth_server).create_user({"email": email, "password": "secret123"}).user
    assert user.email_confirmed_at is None and user.user_metadata == {}
    with pytest.raises(AuthApiError) as caught:
        h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "secret123"})
    assert caught.value.code == "email_not_confirmed"
    assert auth_server.mail(email) == []  # admin create sends nothing


def test_create_errors(auth_server, h):
    admin = h.admin(auth_server)
    email = h.email()
    admin.create_user({"email": email, "password": "secret123"})
    with pytest.raises(AuthApiError) as exists:
        admin.create_user({"email": email.upper(), "password": "secret123"})
    assert exists.value.status == 422 and exists.value.code == "email_exists"
    with pytest.raises(AuthApiError) as empty:
        admin.create_user({"password": "secret123"})
    assert empty.value.message == "Cannot create a user without either an email or phone"
    short = admin.create_user({"email": h.email(), "password": "123"})  # no strength check on create
    assert short.user.id
    with h.admin_http(auth_server) as http:
        response = http.post("/admin/users", json={"email": h.email(), "password": "x" * 73})
    # GoTrue admin.go, adminUserCreate: no strength check, so bcrypt's 72-byte limit makes
    # crypto.GenerateFromPassword panic, and errors.go's recoverer answers a bare 500.
    assert response.status_code == 500 and response.json() == {"code": "unexpected_failure",
                                                                "message": "Internal Server Error"}


def test_sign_in_with_now_weak_password_reports_it(auth_server, h):
    email = h.email()
    h.admin(auth_server).create_user({"email": email, "password": "123", "email_confirm": True})
    with h.http(auth_server) as http:
        body = http.post("/token", params={"grant_type": "password"},
                         json={"email": email, "password": "123"}).json()
    assert body["access_token"] and body["weak_password"] == {
        "message": "Password should be at least 6 characters.", "reasons": ["length"]}
    assert h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "123"}).session


def test_custom_id_and_role(auth_server, h):
    wanted = str(uuid.uuid4())
    user = h.admin(auth_server).create_user({"id": wanted, "email": h.email(), "role": "editor"}).user
    assert user.id == wanted and user.role == "editor"


def test_admin_routes_need_service_role(auth_server, h):
    session = h.sign_up(auth_server)
    headers = {"apikey": auth_server.anon_key, "X-Supabase-Api-Version": "2024-01-01"}
    with httpx.Client(base_url=f"{auth_server.url}/auth/v1", headers=headers) as http:
        anon = http.get("/admin/users", headers={"Authorization": f"Bearer {auth_server.anon_key}"})
        user = http.get("/admin/users", headers={"Authorization": f"Bearer {session['access_token']}"})
        basic = http.get("/admin/users", headers={"Authorization": "Basic abc"})
    assert anon.status_code == 403 and anon.json() == {"code": "not_admin", "message": "User not allowed"}
    assert user.status_code == 403 and user.json()["code"] == "not_admin"
    assert basic.status_code == 401 and basic.json()["code"] == "no_authorization"


def test_bad_user_id(auth_server, h):
    with h.admin_http(auth_server) as http:
        response = http.get("/admin/users/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"code": "validation_failed", "message": "user_id must be an UUID"}
    with pytest.raises(ValueError):
        h.admin(auth_server).get_user_by_id("not-a-uuid")  # the client checks before sending


def test_list_pagination(auth_server, h):
    admin = h.admin(auth_server)
    tag = uuid.uuid4().hex[:10]
    with h.admin_http(auth_server) as http:
        empty = http.get("/admin/users", params={"filter": tag})
        assert empty.json() == {"users": [], "aud": "authenticated"}
        assert empty.headers["X-Total-Count"] == "0"
        assert empty.headers["Link"] == f'</admin/users?filter={tag}&page=0>; rel="last"'
        emails = [f"p{n}-{tag}@example.com" for n in range(5)]
        for email in emails:
            admin.create_user({"email": email})
        page = http.get("/admin/users", params={"page": 2, "per_page": 2, "filter": tag})
        assert page.headers["X-Total-Count"] == "5"
        assert page.headers["Link"] == (f'</admin/users?filter={tag}&page=3&per_page=2>; rel="next", '
                                        f'</admin/users?filter={tag}&page=3&per_page=2>; rel="last"')
        assert [u["email"] for u in page.json()["users"]] == emails[::-1][2:4]
        assert all(u["identities"] is None for u in page.json()["users"])
        last = http.get("/admin/users", params={"page": 3, "per_page": 2, "filter": tag})
        assert last.headers["Link"] == f'</admin/users?filter={tag}&page=3&per_page=2>; rel="last"'
        oldest_first = http.get("/admin/users", params={"filter": tag, "sort": "created_at asc"})
        oldest_first = oldest_first.json()["users"]
        assert [u["email"] for u in oldest_first] == emails
        assert http.get("/admin/users", params={"page": "x"}).status_code == 400
        total = int(http.get("/admin/users").headers["X-Total-Count"])
    listed = admin.list_users()  # sends ?page=&per_page=: the defaults (page 1, 50 per page)
    assert len(listed) == min(total, 50)
    newest, second = admin.list_users(page=1, per_page=1)[0], admin.list_users(page=2, per_page=1)[0]
    assert newest.created_at >= second.created_at


def test_ban_blocks_every_path(auth_server, h):
    email = h.email()
    session = h.sign_up(auth_server, email)
    user_id = session["user"]["id"]
    admin = h.admin(auth_server)
    banned = admin.update_user_by_id(user_id, {"ban_duration": "24h"}).user
    assert banned.banned_until is not None
    with pytest.raises(AuthApiError) as wrong_password:
        h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "not-the-password"})
    assert wrong_password.value.code == "user_banned" and wrong_password.value.message == "User is banned"
    with pytest.raises(AuthApiError) as refresh:
        h.client(auth_server).auth.refresh_session(session["refresh_token"])
    assert refresh.value.status == 400 and refresh.value.message == "Invalid Refresh Token: User Banned"
    with h.http(auth_server, token=session["access_token"]) as http:
        me = http.get("/user")
        out = http.post("/logout")
    assert me.status_code == 403 and me.json() == {"code": "user_banned", "message": "User is banned"}
    assert out.status_code == 403
    link = admin.generate_link({"type": "magiclink", "email": email})
    with h.http(auth_server) as http:
        verify = http.post("/verify", json={"type": "magiclink", "token_hash": link.properties.hashed_token})
    assert verify.status_code == 403 and verify.json()["code"] == "user_banned"
    admin.update_user_by_id(user_id, {"ban_duration": "none"})
    h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "secret123"})
    assert h.client(auth_server).auth.get_user(session["access_token"]).user.id == user_id


def test_ban_duration_formats(auth_server, h):
    user_id = h.admin(auth_server).create_user({"email": h.email()}).user.id
    with h.admin_http(auth_server) as http:
        for duration in ("1h30m", "90m", "0.5h", "876000h", "1s"):
            assert http.put(f"/admin/users/{user_id}", json={"ban_duration": duration}).status_code == 200
        bad = http.put(f"/admin/users/{user_id}", json={"ban_duration": "1d"})
    assert bad.status_code == 400
    assert bad.json()["message"] == 'invalid format for ban duration: time: invalid duration "1d"'
    time.sleep(1.1)  # the "1s" ban has expired
    assert h.admin(auth_server).get_user_by_id(user_id).user.banned_until is not None


def test_admin_password_update_ends_sessions(auth_server, h):
    email = h.email()
    session = h.sign_up(auth_server, email)
    admin = h.admin(auth_server)
    with pytest.raises(AuthWeakPasswordError) as weak:
        admin.update_user_by_id(session["user"]["id"], {"password": "123"})
    assert weak.value.status == 422
    admin.update_user_by_id(session["user"]["id"], {"password": "changed-by-admin"})
    with h.http(auth_server, token=session["access_token"]) as http:
        assert http.get("/user").json()["code"] == "session_not_found"
    h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "changed-by-admin"})


def test_email_confirm_via_update(confirm_server, h):
    email = h.email()
    user = h.client(confirm_server).auth.sign_up({"email": email, "password": "secret123"}).user
    confirmed = h.admin(confirm_server).update_user_by_id(user.id, {"email_confirm": True}).user
    assert confirmed.email_confirmed_at is not None and confirmed.user_metadata["email_verified"] is True
    h.client(confirm_server).auth.sign_in_with_password({"email": email, "password": "secret123"})


def test_deleted_user_tokens_stop_working(auth_server, h):
    session = h.sign_up(auth_server)
    h.admin(auth_server).delete_user(session["user"]["id"])
    with h.http(auth_server, token=session["access_token"]) as http:
        me = http.get("/user")
        refresh = http.post("/token", params={"grant_type": "refresh_token"},
                            json={"refresh_token": session["refresh_token"]})
    assert me.status_code == 403 and me.json()["code"] == "user_not_found"
    assert refresh.status_code == 400 and refresh.json()["code"] == "refresh_token_not_found"
    with h.admin_http(auth_server) as http:
        response = http.delete(f"/admin/users/{uuid.uuid4()}")
    assert response.status_code == 404 and response.json()["code"] == "user_not_found"


def test_soft_delete(auth_server, h):
    email = h.email()
    session = h.sign_up(auth_server, email)
    h.admin(auth_server).delete_user(session["user"]["id"], should_soft_delete=True)
    with pytest.raises(AuthApiError):
        h.client(auth_server).auth.sign_in_with_password({"email": email, "password": "secret123"})
    with h.admin_http(auth_server) as admin:
        deleted = admin.get(f"/admin/users/{session['user']['id']}").json()
    # models.User.SoftDeleteUser obfuscates phone_change too (15 characters); SoftDeleteUserIdentities empties
    # identity_data, which `omitempty` then leaves out.
    assert len(deleted["new_phone"]) == 15 and deleted["deleted_at"]
    assert deleted["identities"] and all("identity_data" not in i for i in deleted["identities"])
    h.sign_up(auth_server, email)  # the address is free again


def test_generate_link_types(auth_server, h):
    admin = h.admin(auth_server)
    email = h.email()
    signup = admin.generate_link({"type": "signup", "email": email, "password": "secret123",
                                  "options": {"redirect_to": "http://127.0.0.1:8080/auth/callback"}})
    props = signup.properties
    assert props.verification_type == "signup" and len(props.email_otp) == 6
    assert props.action_link.startswith(f"{auth_server.issuer}/verify?token={props.hashed_token}&type=signup")
    assert props.redirect_to == "http://127.0.0.1:8080/auth/callback"
    assert signup.user.email == email and signup.user.email_confirmed_at is None
    assert auth_server.mail(email) == []  # nothing is sent
    response = httpx.get(props.action_link)
    assert response.status_code == 303 and "access_token=" in response.headers["location"]
    with pytest.raises(AuthApiError) as exists:
        admin.generate_link({"type": "signup", "email": email, "password": "secret123"})
    assert exists.value.code == "email_exists"
    recovery = admin.generate_link({"type": "recovery", "email": email}).properties
    session = h.client(auth_server).auth.verify_otp({"type": "recovery", "email": email,
                                                     "token": recovery.email_otp}).session
    assert session is not None
    with pytest.raises(AuthApiError) as unknown:
        admin.generate_link({"type": "recovery", "email": h.email()})
    assert unknown.value.status == 404 and unknown.value.code == "user_not_found"
    fresh = h.email()
    magic = admin.generate_link({"type": "magiclink", "email": fresh})
    assert magic.properties.verification_type == "signup" and magic.user.email == fresh
    invite = admin.generate_link({"type": "invite", "email": h.email()})
    assert invite.properties.verification_type == "invite" and invite.user.invited_at is not None
    new_email = h.email()
    change = admin.generate_link({"type": "email_change_new", "email": email, "new_email": new_email})
    assert change.properties.verification_type == "email_change_new"
    assert "type=email_change&" in change.properties.action_link
    # GoTrue mail.go, adminGenerateLink: hashed_token is hash(email + otp) for every type, but the stored
    # email_change_new token hashes the new address, so only the link and the OTP (with new_email) verify.
    with h.http(auth_server) as http:
        stale = http.post("/verify", json={"type": "email_change",
                                           "token_hash": change.properties.hashed_token})
    assert stale.status_code == 403 and stale.json()["code"] == "otp_expired"
    assert h.link_token(change.properties.action_link) == mail_hash(new_email, change.properties.email_otp)
    done = h.client(auth_server).auth.verify_otp({"type": "email_change", "email": new_email,
                                                  "token": change.properties.email_otp})
    assert done.user.email == new_email  # autoconfirm on: one token is enough (verify.go, emailChangeVerify)
    with h.admin_http(auth_server) as http:
        assert http.post("/admin/generate_link", json={"type": "bogus", "email": email}).status_code == 400


@pytest.mark.standin_only("the CLI-style demo service key")
def test_service_role_key_claims(auth_server):
    claims = jwt.decode(auth_server.service_role_key, options={"verify_signature": False})
    assert claims["role"] == "service_role" and claims["iss"] == "supabase-demo"
    assert claims["exp"] > time.time()
    assert jwt.decode(auth_server.anon_key, options={"verify_signature": False})["role"] == "anon"


def test_invite_user_by_email(auth_server, h):
    import httpx as raw
    email = h.email()
    user = h.admin(auth_server).invite_user_by_email(email).user
    assert user.email == email and user.invited_at is not None and user.email_confirmed_at is None
    (message,) = auth_server.mail(email)
    assert message["type"] == "invite" and "type=invite" in message["link"]
    location = raw.get(message["link"]).headers["location"]
    assert h.fragment(location)["type"] == "invite"
    with pytest.raises(AuthApiError) as caught:
        h.admin(auth_server).invite_user_by_email(email)
    assert caught.value.code == "email_exists"
    with h.http(auth_server) as http:  # anon key only: not an admin
        assert http.post("/invite", json={"email": h.email()}).json()["code"] == "not_admin"


def mail_hash(email: str, otp: str) -> str:
    """GoTrue crypto.GenerateTokenHash."""
    return hashlib.sha224((email + otp).encode()).hexdigest()
