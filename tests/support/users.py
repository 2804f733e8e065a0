"""Test users: unique e-mail addresses, users made and signed in on the stand-in through the official
`supabase` client (`sign_up_user`, `with_roles`), the stand-in's admin API, and sign-up and sign-in through
our own API (`sign_up`, `sign_in`, `bearer`).

Every test makes the users it needs with `unique_email`, so tests never share or collide on an account (the
isolation rule in tests/conftest.py).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from supabase import ClientOptions, create_client

from tests.support.addresses import next_address
from tests.support.logs import remember
from tests.support.servers import AuthServer

PASSWORD = "correct-horse-1"


def unique_email(prefix: str = "user") -> str:
    """An address no other test uses; the prefix says which kind of test made it when reading the database."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}@example.com"


# ---------------------------------------------------------------------- on the stand-in (official client)
@dataclass
class SignedInUser:
    """A fresh user of a stand-in, signed in through the official `supabase` client."""

    id: str
    email: str
    password: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def supabase_client(server: AuthServer):
    """The official client as a backend holds it for an end user (no background refresh, no storage): the
    anon key as `Authorization`, the service-role key as `apikey` and the end user's address in
    `Sb-Forwarded-For`, a new one each time (tests/support/addresses.py), so that arranging users never
    meets the stand-in's per-address limits."""
    headers = {"Authorization": f"Bearer {server.anon_key}", "Sb-Forwarded-For": next_address()}
    options = ClientOptions(auto_refresh_token=False, persist_session=False, headers=headers)
    return create_client(server.url, server.service_role_key, options=options)


def supabase_admin(server: AuthServer):
    """The stand-in's admin API through the official client (what an operator's script would use)."""
    options = ClientOptions(auto_refresh_token=False, persist_session=False)
    return create_client(server.url, server.service_role_key, options=options).auth.admin


def supabase_sign_in(server: AuthServer, email: str, password: str = PASSWORD):
    """A password sign-in on the stand-in itself: the official client's session (raises AuthApiError)."""
    session = supabase_client(server).auth.sign_in_with_password({"email": email, "password": password}).session
    remember(password, session.access_token, session.refresh_token)
    return session


def sign_up_user(server: AuthServer, email: str | None = None, password: str = PASSWORD) -> SignedInUser:
    """Sign a new user up (the default stand-in autoconfirms) and sign it in; a unique e-mail by default."""
    email = email or unique_email()
    supabase_client(server).auth.sign_up({"email": email, "password": password})
    session = supabase_sign_in(server, email, password)
    return SignedInUser(id=str(session.user.id), email=email, password=password,
                        access_token=session.access_token)


def with_roles(server: AuthServer, user: SignedInUser, roles: list[str]) -> SignedInUser:
    """Set the user's roles in Supabase and sign in again: roles arrive with the next token."""
    supabase_admin(server).update_user_by_id(user.id, {"app_metadata": {"roles": roles}})
    session = supabase_sign_in(server, user.email, user.password)
    return SignedInUser(user.id, user.email, user.password, session.access_token)


def user_with(server: AuthServer, *roles: str) -> SignedInUser:
    """A new user holding `roles`."""
    return with_roles(server, sign_up_user(server), list(roles))


def latest_otp(server: AuthServer, email: str, kind: str) -> str:
    """The one-time code of the newest `kind` mail ("signup", "recovery") the stand-in sent to `email`."""
    messages = [m for m in server.mail(email) if m["type"] == kind]
    assert messages, f"no {kind} mail for {email}: {server.mail(email)}"
    return messages[0]["otp"]


# ------------------------------------------------------------------------------------- through our API
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up(api, email: str | None = None, password: str = PASSWORD, **extra) -> tuple[str, str]:
    """POST /auth/signup, which must answer 201: (email, userId). `api` is a Flask test client or the base
    URL of a running server."""
    email = email or unique_email()
    status, body = _post(api, "/auth/signup", {"email": email, "password": password, **extra})
    assert status == 201, body
    return email, body["userId"]


def sign_in(api, email: str, password: str = PASSWORD) -> dict:
    """POST /auth/signin, which must answer 200: the session. `api` as for `sign_up`."""
    status, body = _post(api, "/auth/signin", {"email": email, "password": password})
    assert status == 200, body
    remember(password, body["access_token"], body["refresh_token"])
    return body


def _post(api, path: str, body: dict) -> tuple[int, Any]:
    if isinstance(api, str):  # a real server: a connection of its own, like any client, from an address of its own
        # (the test servers trust one proxy: tests/support/servers.py)
        response = httpx.post(f"{api}{path}", json=body, timeout=10, headers={"X-Forwarded-For": next_address()})
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text
    response = api.post(path, json=body)
    return response.status_code, response.get_json() if response.is_json else response.get_data(as_text=True)
