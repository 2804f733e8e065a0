"""Google sign-in is bound to the browser that started it: the start link sets a cookie, and the callback
exchanges the code only for the browser that brings it back (login CSRF, leaked callback URLs)."""
from __future__ import annotations

import uuid
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.servers import app_settings

CALLBACK = "http://127.0.0.1:8080/auth/callback"


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action, self.inputs = None, {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attributes.get("action")
        if tag == "input" and attributes.get("name"):
            self.inputs[attributes["name"]] = attributes.get("value") or ""


def consent_at_google(authorize_url: str, email: str) -> str:
    """Play the user on the stand-in's Google page; return the callback URL it sends the browser to."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(authorize_url, follow_redirects=True)
        assert page.status_code == 200, page.text
        form = _Form()
        form.feed(page.text)
        answer = browser.post(form.action, data={**form.inputs, "email": email})
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


def start_in(client, redirect_to: str | None = None) -> tuple[str, str]:
    """GET /auth/google/url, then open the start link in `client`; return (callback URL, flow id)."""
    query = {"redirect_to": redirect_to} if redirect_to else {}
    link = client.get("/auth/google/url", query_string=query).get_json()["url"]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1:8080/auth/google/start"
    started = client.get(f"{parts.path}?{parts.query}")
    assert started.status_code == 302
    callback = consent_at_google(started.headers["Location"], f"g-{uuid.uuid4().hex[:10]}@gmail.com")
    assert callback.startswith(CALLBACK + "?")
    return callback, parse_qs(urlsplit(link).query)["flow"][0]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture(scope="module")
def app(make_module_app, migrated_database, auth_server):
    return make_module_app(app_settings(migrated_database, auth_server, OAUTH_REDIRECT_URL=CALLBACK))


def test_the_start_link_sets_a_short_lived_httponly_cookie_and_goes_on_to_google(app):
    client = app.test_client()
    link = client.get("/auth/google/url").get_json()["url"]
    started = client.get(path_of(link))
    assert started.status_code == 302 and "provider=google" in started.headers["Location"]
    assert "code_challenge=" in started.headers["Location"]
    cookie = started.headers["Set-Cookie"]
    assert cookie.startswith("coner_oauth_") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Max-Age=600" in cookie and "Path=/auth/callback" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1: a browser would drop a Secure cookie there
    assert started.headers["Cache-Control"] == "no-store"


def test_the_cookie_is_secure_on_https(make_app, migrated_database, auth_server):
    app = make_app(app_settings(migrated_database, auth_server, OAUTH_REDIRECT_URL="https://api.example/auth/callback"))
    client = app.test_client()
    link = client.get("/auth/google/url").get_json()["url"]
    assert link.startswith("https://api.example/auth/google/start?flow=")
    started = client.get(link)
    cookie = started.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    # A __Host- cookie: a browser takes it only from this very host (no Domain, Path=/), so a sibling
    # subdomain cannot toss its own flow's secret into a victim's browser (login CSRF).
    assert cookie.startswith("__Host-coner_oauth_") and "Path=/;" in cookie and "Domain" not in cookie
    assert len(started.headers.getlist("Set-Cookie")) == 1
    again = client.get(link)  # the same browser, again: the same way on
    assert again.status_code == 302 and again.headers["Location"] == started.headers["Location"]
    flow = parse_qs(urlsplit(link).query)["flow"][0]
    # The flow id spelt otherwise (upper case) names the same cookie.
    assert client.get(f"https://api.example/auth/google/start?flow={flow.upper()}").status_code == 302


def test_another_client_without_the_cookie_gets_no_tokens(app):
    """The reproduction: a callback URL produced for one browser, opened by a client with no cookies."""
    victim_browser, other = app.test_client(), app.test_client()
    callback, _ = start_in(victim_browser)
    stolen = other.get(path_of(callback))
    assert stolen.status_code == 401
    page = stolen.get_data(as_text=True)
    assert "browser where you started" in page and "eyJ" not in page  # no token on the page
    # The owner still finishes, once; a replay by the owner is refused too.
    owned = victim_browser.get(path_of(callback))
    assert owned.status_code == 200 and 'id="access-token" readonly>eyJ' in owned.get_data(as_text=True)
    assert "coner_oauth_" in owned.headers["Set-Cookie"] and "Max-Age=0" in owned.headers["Set-Cookie"]
    assert victim_browser.get(path_of(callback)).status_code in (400, 401)


def test_a_user_who_cancels_at_google_gets_a_readable_page_and_no_tokens(app):
    """The consent page's Cancel answers as Google does (`error=access_denied`); Supabase passes it on to the
    callback (external_oauth.go, oAuthCallback), which says so in words."""
    browser = app.test_client()
    link = browser.get("/auth/google/url").get_json()["url"]
    with httpx.Client(timeout=10) as google:
        page = google.get(browser.get(path_of(link)).headers["Location"], follow_redirects=True)
        form = _Form()
        form.feed(page.text)
        cancelled = google.post(form.action, data={**form.inputs, "error": "access_denied"})
    assert cancelled.status_code == 302 and cancelled.headers["location"].startswith(CALLBACK + "?error=")
    answer = browser.get(path_of(cancelled.headers["location"]))
    assert answer.status_code == 400 and "cancelled" in answer.get_data(as_text=True)
    assert "eyJ" not in answer.get_data(as_text=True)


def test_a_wrong_cookie_is_refused(app):
    browser = app.test_client()
    callback, flow = start_in(browser)
    forger = app.test_client()
    forger.set_cookie("coner_oauth_" + flow.replace("-", ""), "guessed-value", path="/auth/callback")
    assert forger.get(path_of(callback)).status_code == 401
    assert browser.get(path_of(callback)).status_code == 200


def test_the_browser_that_opened_the_start_link_may_open_it_again(app):
    """A reload or a second tap in the same browser goes on to Google again, with the same secret (its cookie
    is set for the start link too); the sign-in still finishes once, and then the link is spent. Before, the
    cookie was set for the callback only, and the second open was told the link had expired."""
    browser = app.test_client()
    link = browser.get("/auth/google/url").get_json()["url"]
    first = browser.get(path_of(link))
    again = browser.get(path_of(link))
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    set_first, set_again = first.headers.getlist("Set-Cookie"), again.headers.getlist("Set-Cookie")
    assert {c.split(";")[0] for c in set_first + set_again} == {set_first[0].split(";")[0]}  # one secret
    assert sorted(c.split("Path=")[1].split(";")[0] for c in set_again) == ["/auth/callback", "/auth/google/start"]
    callback = consent_at_google(again.headers["Location"], f"g-{uuid.uuid4().hex[:10]}@gmail.com")
    done = browser.get(path_of(callback))
    assert done.status_code == 200 and 'id="access-token" readonly>eyJ' in done.get_data(as_text=True)
    forgotten = [c for c in done.headers.getlist("Set-Cookie") if "Max-Age=0" in c]
    assert sorted(c.split("Path=")[1].split(";")[0] for c in forgotten) == ["/auth/callback", "/auth/google/start"]
    spent = browser.get(path_of(link))
    assert spent.status_code == 400 and "expired" in spent.get_data(as_text=True)


def test_a_guessed_cookie_does_not_reopen_a_start_link_another_browser_owns(app):
    owner, forger = app.test_client(), app.test_client()
    link = owner.get("/auth/google/url").get_json()["url"]
    assert owner.get(path_of(link)).status_code == 302
    flow = parse_qs(urlsplit(link).query)["flow"][0]
    forger.set_cookie("coner_oauth_" + flow.replace("-", ""), "guessed-value", path="/auth/google/start")
    refused = forger.get(path_of(link))
    assert refused.status_code == 400 and "Set-Cookie" not in refused.headers


def test_a_start_link_binds_only_the_first_browser(app):
    first, second = app.test_client(), app.test_client()
    link = first.get("/auth/google/url").get_json()["url"]
    assert first.get(path_of(link)).status_code == 302
    again = second.get(path_of(link))
    assert again.status_code == 400 and "expired" in again.get_data(as_text=True)
    assert "Set-Cookie" not in again.headers


@pytest.mark.parametrize("query", ["", "flow=", "flow=not-a-uuid", f"flow={uuid.uuid4()}", "flow=%00",
                                   "flow=%ED%A0%80", "flow=%FF", "flow=a&flow=b"])
def test_bad_or_unknown_start_links_are_a_page_not_a_5xx(app, query):
    response = app.test_client().get(f"/auth/google/start?{query}")
    assert response.status_code == 400 and "text/html" in response.headers["Content-Type"]


@pytest.mark.parametrize("code", ["%00", "a%20b", "x" * 600, "%C3%A9", "%ED%A0%80", "%FF", "a%25b"])
def test_unusable_codes_are_a_page_not_a_5xx(app, code):
    """With the right cookie, too: a code that cannot be Supabase's never reaches it (NUL, spaces, non-ASCII,
    a `%`; an escape that is not UTF-8 reaches the route as its three characters)."""
    browser = app.test_client()
    callback, flow = start_in(browser)
    response = browser.get(f"/auth/callback?code={code}&flow={flow}")
    assert response.status_code == 400 and "text/html" in response.headers["Content-Type"]
    assert "eyJ" not in response.get_data(as_text=True)
