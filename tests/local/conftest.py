"""Helpers for the auth stand-in's tests (unique e-mails, official clients, raw HTTP, consent pages), and the
switch that points the same tests at a real Supabase project.

With `SUPABASE_URL`, `SUPABASE_ANON_KEY` and `SUPABASE_SERVICE_ROLE_KEY` in the environment, these conformance
tests run against that project instead of spawned stand-ins (README, "Checking a real Supabase project"). What
only the stand-in has is skipped there with the reason: its mailbox (`/_local/mail`), its local Google consent
page, its key rotation, settings a hosted project cannot change per test, and tests marked `standin_only`.
`auth_server` is the project when its "Confirm email" is off, `confirm_server` when it is on.
"""
from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import ClientOptions, create_client

PROJECT_VARIABLES = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY")


@dataclass
class RealProject:
    """A real Supabase project, standing where tests expect an `AuthServer` stand-in."""

    url: str
    anon_key: str
    service_role_key: str
    jwt_secret: str | None = None
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.url}/auth/v1"

    def mail(self, to: str) -> list[dict]:
        pytest.skip("reads the stand-in's mailbox (/_local/mail); a real project sends real e-mail")

    def autoconfirm(self) -> bool:
        """The project's "Confirm email" setting, as GET /settings reports it (mailer_autoconfirm)."""
        response = httpx.get(f"{self.url}/auth/v1/settings", headers={"apikey": self.anon_key}, timeout=10)
        response.raise_for_status()
        return bool(response.json()["mailer_autoconfirm"])

    def start(self, fresh: bool = False, **settings: str) -> "RealProject":
        """What `start_auth_server` gives: the project itself, unless the test needs a stand-in setting."""
        if fresh or settings:
            pytest.skip(f"needs a stand-in of its own ({settings or 'fresh'}); a project has one config")
        return self


def real_project() -> RealProject | None:
    """The project named by the environment, or None (then the tests spawn stand-ins)."""
    if not all(os.environ.get(name) for name in PROJECT_VARIABLES):
        return None
    return RealProject(url=os.environ["SUPABASE_URL"].rstrip("/"), anon_key=os.environ["SUPABASE_ANON_KEY"],
                       service_role_key=os.environ["SUPABASE_SERVICE_ROLE_KEY"],
                       jwt_secret=os.environ.get("SUPABASE_JWT_SECRET") or None)


PROJECT = real_project()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "standin_only(reason): needs something only the local stand-in has")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PROJECT is None:
        return
    for item in items:
        marker = item.get_closest_marker("standin_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "only the stand-in can do this"
            item.add_marker(pytest.mark.skip(reason=f"stand-in only: {reason}"))


@pytest.fixture(scope="session")
def start_auth_server(request: pytest.FixtureRequest) -> Callable:
    """Spawned stand-ins (tests/conftest.py), or the real project when the environment names one."""
    if PROJECT is not None:
        return PROJECT.start
    return request.getfixturevalue("local_auth_servers")


@pytest.fixture(scope="session")
def auth_server(start_auth_server: Callable):
    """The default stand-in (autoconfirm on); a real project only when its "Confirm email" is off."""
    if PROJECT is not None and not PROJECT.autoconfirm():
        pytest.skip("expects autoconfirm; this project confirms e-mail (confirm_server tests cover it)")
    return start_auth_server()


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
        if PROJECT is not None:
            pytest.skip("plays the stand-in's local Google consent page; a real project uses Google itself")
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
    """A stand-in with autoconfirm off (hosted-style "Confirm email"), or a real project that confirms."""
    if PROJECT is not None:
        if PROJECT.autoconfirm():
            pytest.skip("expects e-mail confirmation; this project autoconfirms (auth_server tests cover it)")
        return PROJECT
    return start_auth_server(LOCAL_AUTH_AUTOCONFIRM="false")
