"""Helpers for the auth stand-in's tests: unique e-mails, official clients, raw HTTP, consent-page driving."""
from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import ClientOptions, create_client


class _FormParser(HTMLParser):
    """Collects the first form's action and its input values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self.method = attributes.get("action"), attributes.get("method")
        if tag == "input" and attributes.get("name"):
            self.inputs[attributes["name"]] = attributes.get("value") or ""


class Helpers:
    """Small tools the tests share."""

    @staticmethod
    def email() -> str:
        return f"t-{uuid.uuid4().hex[:16]}@example.com"

    @staticmethod
    def client(server, flow_type: str = "pkce"):
        return create_client(server.url, server.anon_key, options=ClientOptions(flow_type=flow_type,
                                                                                 auto_refresh_token=False))

    @staticmethod
    def admin(server):
        return create_client(server.url, server.service_role_key).auth.admin

    @staticmethod
    def http(server, version: bool = True, token: str | None = None) -> httpx.Client:
        headers = {"apikey": server.anon_key}
        if version:
            headers["X-Supabase-Api-Version"] = "2024-01-01"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=f"{server.url}/auth/v1", headers=headers, timeout=10)

    @staticmethod
    def admin_http(server) -> httpx.Client:
        return httpx.Client(base_url=f"{server.url}/auth/v1", timeout=10,
                            headers={"apikey": server.service_role_key,
                                     "X-Supabase-Api-Version": "2024-01-01",
                                     "Authorization": f"Bearer {server.service_role_key}"})

    @staticmethod
    def sign_up(server, email: str | None = None, password: str = "secret123") -> dict:
        """A confirmed user with a session (raw JSON), via the autoconfirming server."""
        with Helpers.http(server) as http:
            response = http.post("/signup", json={"email": email or Helpers.email(), "password": password})
        assert response.status_code == 200, response.text
        return response.json()

    @staticmethod
    def consent(authorize_url: str, email: str) -> httpx.Response:
        """Play the user on the local Google page: open it, fill in the e-mail, Continue; return the 302."""
        with httpx.Client(timeout=10) as browser:
            page = browser.get(authorize_url, follow_redirects=True)
            assert page.status_code == 200, page.text
            assert "text/html" in page.headers["content-type"]
            form = _FormParser()
            form.feed(page.text)
            assert form.method and form.method.lower() == "post" and form.action
            assert "Continue" in page.text and 'name="email"' in page.text
            return browser.post(form.action, data={**form.inputs, "email": email})

    @staticmethod
    def fragment(location: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment, keep_blank_values=True).items()}

    @staticmethod
    def query(location: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}

    @staticmethod
    def link_token(link: str) -> str:
        return re.search(r"[?&]token=([^&]+)", link).group(1)


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    return Helpers


@pytest.fixture(scope="session")
def confirm_server(start_auth_server):
    """A stand-in with autoconfirm off (hosted-style "Confirm email")."""
    return start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false")
