"""A password change and an account deletion refuse the old tokens on every worker of a gunicorn the moment
they answer: each worker had verified and cached them before."""
from __future__ import annotations

import httpx
import pytest

from tests.support.faults import GENEROUS_LIMITS, hammer, warm
from tests.support.servers import app_settings
from tests.support.users import PASSWORD, bearer, sign_in, sign_up

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workers(module_api_server, migrated_database, auth_server):
    """The API under gunicorn with three worker processes, shared by the module's tests."""
    return module_api_server(app_settings(migrated_database, auth_server, **GENEROUS_LIMITS), workers=3)


def two_warm_sessions(workers) -> tuple[dict, dict]:
    email, _ = sign_up(workers.url)
    sessions = sign_in(workers.url, email), sign_in(workers.url, email)
    for session in sessions:
        warm(workers.url, session["access_token"])
    return sessions


def test_a_password_change_reaches_every_worker_at_once(workers):
    caller, other = two_warm_sessions(workers)
    answer = httpx.post(f"{workers.url}/auth/password/change", headers=bearer(caller["access_token"]),
                        json={"current_password": PASSWORD, "new_password": "harbor-kite-64"}, timeout=30)
    assert answer.status_code == 200, answer.text
    for session in (caller, other):
        assert set(hammer(workers.url, session["access_token"], 60)) == {401}
    assert set(hammer(workers.url, answer.json()["access_token"], 60)) == {200}


def test_a_deletion_reaches_every_worker_at_once(workers):
    caller, other = two_warm_sessions(workers)
    answer = httpx.request("DELETE", f"{workers.url}/users/me", headers=bearer(caller["access_token"]),
                           json={"password": PASSWORD}, timeout=30)
    assert answer.status_code == 204, answer.text
    for session in (caller, other):
        assert set(hammer(workers.url, session["access_token"], 60)) == {401}
        refused = httpx.post(f"{workers.url}/auth/refresh", json={"refresh_token": session["refresh_token"]},
                             timeout=15)
        assert refused.status_code == 401 and refused.json()["code"] == "INVALID_REFRESH_TOKEN"
