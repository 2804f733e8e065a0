"""Where GoTrue sends a browser: utilities/request.go, GetReferrer (the `redirect_to` header, else the query's,
else the Referer, each only when IsRedirectURLValid, else the Site URL) and IsRedirectURLValid (the Site URL's
scheme and host with any port on a local host; no address in decimal form; any loopback IP; no odd host names
on http(s); the allow-list's globs matched without the fragment). Seen here through the link of a recovery
e-mail, whose `redirect_to` is the one chosen (Site URL http://127.0.0.1:8080, allow-list
http://127.0.0.1:8080/auth/callback, the suite's defaults)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

SITE = "http://127.0.0.1:8080"
CALLBACK = f"{SITE}/auth/callback"


def _chosen(server, h, query: str | None = None, headers: dict | None = None) -> str:
    """The redirect_to of the recovery link mailed for a request with `query` and `headers`."""
    email = h.email()
    h.sign_up(server, email)
    with h.http(server) as http:
        answer = http.post("/recover", json={"email": email}, headers=headers or {},
                           params={"redirect_to": query} if query is not None else None)
    assert answer.status_code == 200, answer.text
    link = server.mail(email)[0]["link"]
    return parse_qs(urlsplit(link).query)["redirect_to"][0]


@pytest.mark.parametrize("target, chosen", [
    (CALLBACK, CALLBACK),
    (f"{CALLBACK}#anything", f"{CALLBACK}#anything"),  # the allow-list is matched without the fragment
    ("http://127.0.0.1:3000/app", "http://127.0.0.1:3000/app"),  # the Site URL's host, another port
    ("http://127.0.0.2:9999/anything", "http://127.0.0.2:9999/anything"),  # any loopback IP
    ("https://[::1]/x", "https://[::1]/x"),
    ("http://2130706433/", SITE),  # 127.0.0.1 in decimal form
    ("http://10.0.0.1:8080/auth/callback", SITE),  # an IP that is not a loopback one
    ("https://evil.example/x", SITE),
    ("http://evil_host.example/", SITE),  # not a regular host name
])
def test_which_redirects_are_valid(auth_server, h, target, chosen):
    assert _chosen(auth_server, h, query=target) == chosen


def test_the_header_comes_before_the_query_and_the_referer_after_both(auth_server, h):
    other = "http://127.0.0.1:4000/header"
    assert _chosen(auth_server, h, query=CALLBACK, headers={"redirect_to": other}) == other
    # An invalid header is not passed over for the query: the next candidate is the Referer.
    assert _chosen(auth_server, h, query=CALLBACK, headers={"redirect_to": "https://evil.example/"}) == SITE
    referer = "http://127.0.0.1:5000/came-from"
    assert _chosen(auth_server, h, query="https://evil.example/", headers={"Referer": referer}) == referer
    assert _chosen(auth_server, h, headers={"Referer": "https://evil.example/"}) == SITE


def _followed(server, h, redirect_to: str, pkce: bool) -> str:
    """Where the recovery link of a request with `redirect_to` sends the browser."""
    email = h.email()
    h.sign_up(server, email)
    body = {"email": email}
    if pkce:
        body.update(code_challenge="c" * 43, code_challenge_method="plain")
    with h.http(server) as http:
        assert http.post("/recover", json=body, params={"redirect_to": redirect_to}).status_code == 200
    answer = httpx.get(server.mail(email)[0]["link"])
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def test_a_verify_redirect_keeps_what_the_url_holds(auth_server, h):
    """tokens/service.go, AsRedirectURL appends `#` and the session to the URL as it is; verify.go,
    prepPKCERedirectURL sets `code` among the query's values, repeated keys kept (url.Values)."""
    implicit = _followed(auth_server, h, f"{SITE}/app?a=1&a=2#keep", pkce=False)
    assert implicit.startswith(f"{SITE}/app?a=1&a=2#keep#access_token=")
    pkce = _followed(auth_server, h, f"{SITE}/app?b=2&a=1&a=0", pkce=True)
    assert pkce.startswith(f"{SITE}/app?a=1&a=0&b=2&code=")
