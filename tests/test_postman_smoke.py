"""The Postman collection run as a whole by newman against a gunicorn this test starts, as `make smoke`
runs it against `make run`: every request's assertions (status, body shape from the OpenAPI document) pass,
with the development routes (a run needs no e-mail) and without them. Skipped, saying why, where newman
cannot be installed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import newman
from tests.support.servers import REPO, app_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def newman_binary() -> str:
    binary, reason = newman.find_or_install()
    if binary is None:
        pytest.skip(reason)
    return binary


def run_collection(binary: str, url: str, folder) -> dict:
    """What `make smoke` does: the collection of the running server's own document, run by newman."""
    collection, report = folder / "collection.json", folder / "report.json"
    made = subprocess.run([sys.executable, "-m", "coner_api.postman", "--spec", f"{url}/openapi.json",
                           "--base-url", url], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    collection.write_text(made.stdout)
    done = subprocess.run([binary, "run", str(collection), "--env-var", f"baseUrl={url}", "--timeout-request", "15000",
                           "--reporters", "cli,json", "--reporter-json-export", str(report), "--color", "off"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return json.loads(report.read_text())["run"]


def retried(execution: dict) -> bool:
    """An answer the collection sent again: a 429, which asserts nothing (the next execution is its retry)."""
    return execution["response"]["code"] == 429 and not execution.get("assertions")


def check(run: dict, first: str) -> list[str]:
    assert run["stats"]["assertions"]["failed"] == 0 and run["failures"] == []
    run = {**run, "executions": [execution for execution in run["executions"] if not retried(execution)]}
    names = [execution["item"]["name"] for execution in run["executions"]]
    assert names[0] == "Health" and names[1:].count(first) == 1
    assert names[-3:] == ["The logged-out token is refused", "Log out everywhere (from the second device)",
                          "Every token of the user is refused"]
    for execution in run["executions"]:  # every request asserted something, and all of it held
        assertions = execution.get("assertions", [])
        assert assertions and not any(a.get("error") for a in assertions), execution["item"]["name"]
    return names


def test_the_collection_is_green_against_a_development_server(newman_binary, api_server, migrated_database,
                                                              auth_server, tmp_path):
    server = api_server(app_settings(migrated_database, auth_server, APP_ENV="development"), workers=2)
    names = check(run_collection(newman_binary, server.url, tmp_path), "Dev: a confirmed user and its tokens")
    assert names.index("Dev: a confirmed user and its tokens") < names.index("Sign up") < names.index("Sign in")


def test_the_collection_is_green_without_the_development_routes(newman_binary, api_server, migrated_database,
                                                                auth_server, tmp_path):
    server = api_server(app_settings(migrated_database, auth_server), workers=1)
    names = check(run_collection(newman_binary, server.url, tmp_path), "Sign up")
    assert not any(name.startswith("Dev:") for name in names)


def test_a_run_fits_the_credential_limit_by_waiting_out_each_429(newman_binary, api_server, migrated_database,
                                                                 auth_server, tmp_path):
    """As against production's 5 a minute, scaled down to seconds: every request refused with 429 goes again
    after its Retry-After, and the run is green with each request answered once otherwise."""
    server = api_server(app_settings(migrated_database, auth_server, APP_ENV="development",
                                     RATE_LIMIT_AUTH="4 per 1 second"), workers=1)
    run = run_collection(newman_binary, server.url, tmp_path)
    check(run, "Dev: a confirmed user and its tokens")
    refused = [execution for execution in run["executions"] if retried(execution)]
    assert refused, "the limit never refused a request: the test shows nothing"
    for execution in refused:
        following = run["executions"][run["executions"].index(execution) + 1]
        assert following["item"]["id"] == execution["item"]["id"]  # sent again, not skipped
