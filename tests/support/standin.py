"""Tools for the stand-in's own tests (tests/local/), reached there through the `h` fixture: official
clients in either OAuth flow, raw HTTP clients for checking the wire format, a raw sign-up that returns the
stand-in's JSON, playing the user on the local Google consent page, and reading redirect locations; and the
real Supabase project the same tests run against when the environment names one (`PROJECT`)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import ClientOptions, create_client

from tests.support.servers import AuthServer
from tests.support.users import supabase_admin, unique_email

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
    """The tools as one namespace, so that a stand-in test reads `h.sign_up(server)`, `h.consent(url, e)`."""

    email = staticmethod(unique_email)
    admin = staticmethod(supabase_admin)

    @staticmethod
    def client(server: AuthServer, flow_type: str = "pkce"):
        """The official client in `flow_type`; it keeps its session (and PKCE verifier) between calls."""
        return create_client(server.url, server.anon_key, options=ClientOptions(flow_type=flow_type,
                                                                                 auto_refresh_token=False))

    @staticmethod
    def http(server: AuthServer, version: bool = True, token: str | None = None) -> httpx.Client:
        headers = {"apikey": server.anon_key}
        if version:
            headers["X-Supabase-Api-Version"] = "2024-01-01"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=f"{server.url}/auth/v1", headers=headers, timeout=10)

    @staticmethod
    def admin_http(server: AuthServer) -> httpx.Client:
        return httpx.Client(base_url=f"{server.url}/auth/v1", timeout=10,
                            headers={"apikey": server.service_role_key,
                                     "X-Supabase-Api-Version": "2024-01-01",
                                     "Authorization": f"Bearer {server.service_role_key}"})

    @staticmethod
    def sign_up(server: AuthServer, email: str | None = None, password: str = "secret123") -> dict:
        """A confirmed user with a session as the stand-in's raw JSON (its wire format is what these tests
        check; `tests.support.users.sign_up_user` is the official client's view), via the autoconfirming
        server."""
        with Helpers.http(server) as http:
            response = http.post("/signup", json={"email": email or unique_email(), "password": password})
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
    def google_user(server: AuthServer, email: str, redirect_to: str = "http://127.0.0.1:8080/auth/callback") -> str:
        """A Google sign-in as `email` (implicit flow): the access token it lands with."""
        client = Helpers.client(server, "implicit")
        url = client.auth.sign_in_with_oauth({"provider": "google", "options": {"redirect_to": redirect_to}}).url
        return Helpers.fragment(Helpers.consent(url, email).headers["location"])["access_token"]

    @staticmethod
    def fragment(location: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment, keep_blank_values=True).items()}

    @staticmethod
    def query(location: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}

    @staticmethod
    def link_token(link: str) -> str:
        return re.search(r"[?&]token=([^&]+)", link).group(1)
