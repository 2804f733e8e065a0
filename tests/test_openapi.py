"""The OpenAPI document (valid, complete, secured where it must be), the offline /docs page, the Postman export."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from coner_api.postman import collection
from tests.support.servers import REPO, app_settings

ERROR_REF = {"$ref": "#/components/schemas/ApiError"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module", params=["production", "development"])
def spec(request, app, dev_app) -> dict:
    """The document as served, without and with the /dev routes."""
    served_by = dev_app if request.param == "development" else app
    response = served_by.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    return response.get_json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_the_document_passes_an_openapi_validator(spec):
    from openapi_spec_validator import validate

    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_route_of_the_app_is_documented(spec, app, dev_app):
    served_by = dev_app if "/dev/auth/token" in spec["paths"] else app
    documented = {(path, method.upper()) for path, method, _ in operations(spec)}
    for rule in served_by.url_map.iter_rules():
        if rule.endpoint in ("static", "api-docs.openapi_json") or rule.endpoint.startswith("docs."):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"
    for path in ("/auth/signup", "/auth/signin", "/auth/refresh", "/auth/logout", "/auth/logout-all", "/auth/me",
                 "/auth/bootstrap", "/auth/verify-email", "/auth/resend-verification", "/auth/password/forgot",
                 "/auth/password/reset", "/auth/google/url", "/auth/callback", "/users/me", "/users/profile",
                 "/users/profile-first", "/health", "/ready", "/auth/health", "/auth/password/change",
                 "/auth/email/change", "/auth/email/verify", "/users/me/export"):
        assert path in spec["paths"], path


def test_protected_operations_declare_bearer_and_401_public_ones_no_security(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert "security" not in spec, "no global security: public routes must stay public"
    protected_prefixes = ("/users/", "/admin/", "/auth/mfa/")
    protected_auth = {"/auth/me", "/auth/logout", "/auth/logout-all", "/auth/bootstrap",
                      "/auth/password/change", "/auth/email/change"}
    for path, method, operation in operations(spec):
        if path.startswith(protected_prefixes) or path in protected_auth:
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == ERROR_REF, path
        else:
            assert "security" not in operation, (method, path)


# What an aal1 token of a user with a verified factor may call (the contract: the MFA routes and /auth/me).
ONE_FACTOR_ROUTES = {"/auth/me", "/auth/mfa/enroll", "/auth/mfa/verify", "/auth/mfa/factors",
                     "/auth/mfa/factors/{factor_id}"}


def test_protected_operations_document_what_the_token_guard_answers(spec):
    """Every guarded route can answer 401 and 503 (no JWKS; Postgres needed and down), and every one but the
    MFA routes and /auth/me 403 MFA_REQUIRED: clients generated from the document must know those answers."""
    for path, method, operation in operations(spec):
        if "security" not in operation:
            continue
        responses = operation["responses"]
        assert {"401", "503"} <= set(responses), (method, path)
        if path in ONE_FACTOR_ROUTES:
            assert "MFA_REQUIRED: the token is aal1" not in json.dumps(responses.get("403")), (method, path)
        else:
            assert "MFA_REQUIRED" in responses["403"]["description"], (method, path)
            assert responses["403"]["content"]["application/json"]["schema"] == ERROR_REF


def test_the_callback_page_documents_each_of_its_answers(spec):
    answers = spec["paths"]["/auth/callback"]["get"]["responses"]
    assert {"200", "302", "400", "401", "429", "503"} <= set(answers)
    for status in ("200", "400", "401", "503"):
        assert set(answers[status]["content"]) == {"text/html"}, status


# Google sign-in's steps in the browser answer HTML pages, errors included.
BROWSER_PAGES = {"/auth/google/start", "/auth/callback"}


def test_every_operation_documents_its_answers_in_the_error_shape(spec):
    assert spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"] == ERROR_REF
    assert set(spec["components"]["schemas"]["ApiError"]["required"]) == {"error", "code"}
    assert "Error" not in spec["components"]["schemas"], "flask-smorest's own error schema is not ours"
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        assert operation.get("summary"), (method, path)
        assert any(status.startswith(("2", "3")) for status in responses), (method, path)
        assert responses["default"] == {"$ref": "#/components/responses/DEFAULT_ERROR"}, (method, path)
        assert "422" not in responses, (method, path)  # validation answers 400
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")) and path not in ("/health", "/ready"):
                if path in BROWSER_PAGES and "text/html" in response.get("content", {}):
                    continue  # a page a person reads in the browser, by design
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (method, path, status)
        if path not in ("/health", "/ready", "/auth/health"):
            assert "429" in responses, (method, path)
            assert {"Retry-After", "X-RateLimit-Limit"} <= set(responses["429"]["headers"])


def test_the_me_answer_is_documented_open_to_new_keys_and_a_null_email(spec):
    """The contract: extra keys "may be added" to /auth/me's user; `email` is null for a token without one."""
    me_user = spec["components"]["schemas"]["MeUser"]
    assert me_user.get("additionalProperties") is True
    assert me_user["properties"]["email"].get("nullable") is True


def test_request_bodies_come_from_the_validating_schemas(spec):
    schemas = spec["components"]["schemas"]
    signup = schemas["SignUp"]
    assert set(signup["required"]) == {"email", "password"} and "displayName" in signup["properties"]
    assert signup.get("additionalProperties") is False
    signin = next(op for path, method, op in operations(spec) if path == "/auth/signin")
    assert signin["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SignIn"}


# --------------------------------------------------------------------------------------------------- /docs
def test_docs_page_loads_every_asset_from_this_app(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp and "unsafe-eval" not in csp
    html = page.get_data(as_text=True)
    assert "<script>" not in html, "no inline script"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "nothing from another origin"
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", html)
    assert {f"/docs/assets/{name}" for name in ("swagger-ui-bundle.js", "swagger-ui.css", "docs-init.js")} <= set(assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.data) > 100, asset
    init = client.get("/docs/assets/docs-init.js").get_data(as_text=True)
    assert "validatorUrl: null" in init  # Swagger UI would otherwise call validator.swagger.io
    assert 'data-spec-url="/openapi.json"' in html


def test_docs_assets_are_an_allow_list(client):
    for name in ("index.html", "LICENSE", "..%2F__init__.py", "swagger-ui.js.map"):
        assert client.get(f"/docs/assets/{name}").status_code == 404


@pytest.mark.browser
@pytest.mark.slow
def test_docs_render_in_a_browser_without_the_internet(api_server, migrated_database, auth_server):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("Chromium is not installed here (apt-get install chromium chromium-driver); .ci/run installs it")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    server = api_server(app_settings(migrated_database, auth_server), workers=1)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    # Every host but 127.0.0.1 resolves nowhere: a CDN reference would fail to load.
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(f"{server.url}/docs")
        WebDriverWait(driver, 20).until(expected_conditions.text_to_be_present_in_element(
            (By.CSS_SELECTOR, ".swagger-ui .info .title"), "Coner API"))
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {e.text.replace("\u200b", "") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/auth/signin", "/users/profile"} <= paths
        problems = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not problems, problems
    finally:
        driver.quit()


# ------------------------------------------------------------------------------------------------ Postman
def test_postman_collection_has_every_operation_in_session_order_with_tests(spec):
    exported = collection(spec, "http://api.example")
    assert exported["info"]["schema"].endswith("/v2.1.0/collection.json")
    requests = exported["item"]
    covered = {(i["request"]["method"], i["request"]["url"]["raw"].split("?")[0]) for i in requests}
    assert covered == {(method.upper(), "{{baseUrl}}" + re.sub(r"\{(\w+)\}", r":\1", path))
                       for path, method, _ in operations(spec)}
    names = [item["name"] for item in requests]
    signin = requests[names.index("Sign in")]
    assert json.loads(signin["request"]["body"]["raw"]) == {"email": "{{email}}", "password": "{{password}}"}
    assert "accessToken" in "".join(signin["event"][0]["script"]["exec"])
    # A user's session: signed up and in before the profile, the logouts last.
    assert names.index("Sign up") < names.index("Sign in") < names.index("Who am I") \
        < names.index("Profile: first-time setup") < names.index("Profile") < names.index("Profile: change some fields") \
        < names.index("Refresh the session") < names.index("Log out") < names.index("Log out everywhere (from the second device)")
    assert names[-1] == "Every token of the user is refused"
    for item in requests:
        script = "\n".join(line for event in item["event"] if event["listen"] == "test"
                           for line in event["script"]["exec"])
        assert "pm.test(" in script and ("pm.response.to.have.status(" in script or "documented" in script), item["name"]
    assert "pm.collectionVariables.set(\"email\"" in "".join(requests[0]["event"][0]["script"]["exec"])
    by_name = {item["name"]: item for item in requests}
    assert by_name["Who am I"]["request"]["auth"]["type"] == "bearer"
    assert by_name["Sign up"]["request"]["auth"]["type"] == "noauth"
    assert {"key": "baseUrl", "value": "http://api.example"} in exported["variable"]


@pytest.mark.slow
def test_postman_export_is_one_command():
    result = subprocess.run([sys.executable, "-m", "coner_api.postman", "--base-url", "https://coner.example"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    exported = json.loads(result.stdout)
    names = [item["name"] for item in exported["item"]]
    assert names[:4] == ["Health", "Readiness", "Trivial route", "Dev: a confirmed user and its tokens"]
    assert result.stderr == ""
