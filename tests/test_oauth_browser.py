"""Google sign-in in a real headless Chromium: the URL from /auth/google/url, the stand-in's consent page,
our callback page under its CSP (who signed in, both tokens, the expiry, its /auth/me button, the curl
line; a failed sign-in in words), and the token read off the page working on /auth/me. Screenshots of the
page go to the test's tmp_path."""
from __future__ import annotations

import shutil
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.servers import app_settings, free_port
from tests.support.users import unique_email

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Chromium is not installed here (apt-get install chromium chromium-driver); .ci/run installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are reported there
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1100,1500"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def api(module_api_server, migrated_database, auth_server):
    """The API under gunicorn on a port chosen first, so that its own callback page is the redirect URL."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/auth/callback"
    settings = app_settings(migrated_database, auth_server, OAUTH_REDIRECT_URL=callback)
    return module_api_server(settings, workers=1, port=port)


def consent(browser, email: str) -> None:
    """Submit the stand-in's consent form and wait until the browser has left that page.

    A click returns once the event is dispatched, not when the form's navigation (and its redirects) is done."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    consent_page = browser.current_url
    field = browser.find_element(By.ID, "email")
    field.clear()
    field.send_keys(email)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The address changes when the next document commits, after the form's redirects. (Waiting for the field to
    # go stale instead races ChromeDriver: "Node with given id does not belong to the document".)
    WebDriverWait(browser, 15).until(expected_conditions.url_changes(consent_page))


def token_on_page(browser) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(expected_conditions.visibility_of_element_located((By.ID, "access-token")))
    return browser.find_element(By.ID, "access-token").get_attribute("value")


def text_of(browser, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.ID, element_id).text


def csp_violations(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_google_pkce_sign_in_lands_on_the_callback_with_a_working_token(browser, api):
    email = unique_email("google")
    url = httpx.get(f"{api.url}/auth/google/url", timeout=10).json()["url"]
    assert url.startswith(f"{api.url}/auth/google/start?flow=")  # the browser meets this API first
    browser.get(url)
    consent(browser, email)
    assert browser.current_url.startswith(f"{api.url}/auth/callback")
    token = token_on_page(browser)
    # The address the document was loaded from (with the code), which the page's script has since replaced.
    callback_url = browser.execute_script("return performance.getEntriesByType('navigation')[0].name")
    assert "code=" in callback_url
    me = httpx.get(f"{api.url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["user"]["email"] == email
    # The page kept neither the code nor a token in the address bar, and the code cannot be used twice.
    assert browser.execute_script("return window.location.href") == f"{api.url}/auth/callback"
    browser.get(callback_url)
    assert "already used" in text_of(browser, "error-message") and token not in browser.page_source


def test_implicit_fragment_is_read_by_the_page_script_under_the_csp(browser, api, auth_server):
    email = unique_email("implicit")
    query = urlencode({"provider": "google", "redirect_to": f"{api.url}/auth/callback"})
    browser.get(f"{auth_server.url}/auth/v1/authorize?{query}")
    consent(browser, email)
    token = token_on_page(browser)
    assert "#" not in browser.current_url  # the script removed the tokens from the address
    me = httpx.get(f"{api.url}/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["user"]["email"] == email
    # Anyone can put a session in a link to this page (login CSRF): the page says it is not this browser's.
    assert "not from a sign-in this server finished for this browser" in text_of(browser, "unbound")


def test_callback_page_sends_a_strict_csp(api):
    response = httpx.get(f"{api.url}/auth/callback", timeout=10)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'nonce-" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"


def test_disallowed_redirect_is_refused(api):
    response = httpx.get(f"{api.url}/auth/google/url", params={"redirect_to": "https://evil.example/cb"}, timeout=10)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_FAILED"


def test_the_signed_in_page_shows_who_the_tokens_the_expiry_and_calls_me(browser, api, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    email = unique_email("page")
    browser.get_log("browser")  # start from an empty console
    browser.get(httpx.get(f"{api.url}/auth/google/url", timeout=10).json()["url"])
    consent(browser, email)
    token = token_on_page(browser)
    assert text_of(browser, "email") == email
    assert not browser.find_element(By.ID, "unbound").is_displayed()  # finished here, for this browser
    assert browser.find_element(By.ID, "refresh-token").get_attribute("value")
    # The expiry in the browser's local time, from the token's own `exp`, about an hour ahead.
    local = browser.execute_script("return new Date(Number(document.getElementById('signed-in').dataset.expiresAt)"
                                   " * 1000).toLocaleString()")
    assert text_of(browser, "expires-at") == local and "in about 60 min" in text_of(browser, "expires-in")
    assert text_of(browser, "curl") == f"curl -H 'Authorization: Bearer {token}' {api.url}/auth/me"
    assert {b.text for b in browser.find_elements(By.CSS_SELECTOR, "button[data-copy]")} == {
        "Copy access token", "Copy refresh token", "Copy curl line"}
    browser.find_element(By.ID, "call-me").click()
    WebDriverWait(browser, 15).until(lambda b: text_of(b, "me-answer").startswith("200"))
    assert f'"email": "{email}"' in text_of(browser, "me-answer")
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(tmp_path / "callback-signed-in.png"))
    assert csp_violations(browser) == []


@pytest.mark.parametrize("where", ["query", "fragment"])
def test_a_refused_consent_is_a_readable_error_page(browser, api, tmp_path, where):
    """What Supabase sends back when the user (or Google) says no: `?error=` for PKCE, `#error=` for implicit."""
    params = urlencode({"error": "access_denied", "error_code": "access_denied",
                        "error_description": "The user denied the request"})
    browser.get_log("browser")
    browser.get(f"{api.url}/auth/callback{'?' if where == 'query' else '#'}{params}")
    assert text_of(browser, "error-message") == "The sign-in was cancelled, or Google or Supabase refused it."
    assert text_of(browser, "error-detail") == "The user denied the request"
    assert text_of(browser, "error-code") == "access_denied"
    assert "GET /auth/google/url" in text_of(browser, "failed")
    assert not browser.find_element("id", "signed-in").is_displayed()
    browser.save_screenshot(str(tmp_path / f"callback-error-{where}.png"))
    assert csp_violations(browser) == []
