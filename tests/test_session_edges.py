"""Tokens at the edges of a session: one without a `session_id` (logging it out logs out everywhere, as GoTrue
does), and a logged-out token that keeps being sent (it must not spend its owner's rate-limit budget)."""
from __future__ import annotations

import jwt
import pytest

from tests.support.servers import app_settings
from tests.support.users import bearer, sign_up_user, supabase_sign_in




@pytest.fixture(scope="module")
def hs256_server(start_auth_server):
    """A legacy-style project: tokens signed with the HS256 secret, which lets the test mint its own."""
    return start_auth_server(LOCAL_AUTH_JWT_ALG="HS256")


def without_session(server, token: str) -> str:
    """The same user's token re-signed without `session_id` (tokens minted by other means lack it)."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims["session_id"]
    return jwt.encode(claims, server.jwt_secret, algorithm="HS256", headers={k: v for k, v in header.items()
                                                                           if k == "kid"})


def test_logout_with_a_token_without_session_id_logs_out_everywhere(make_app, migrated_database, hs256_server):
    client = make_app(app_settings(migrated_database, hs256_server)).test_client()
    user = sign_up_user(hs256_server)
    sessionless = without_session(hs256_server, user.access_token)
    assert client.get("/auth/me", headers=bearer(sessionless)).status_code == 200
    assert client.post("/auth/logout", headers=bearer(sessionless)).status_code == 204
    for token in (sessionless, user.access_token):  # this token, and every other of the user's sessions
        refused = client.get("/auth/me", headers=bearer(token))
        assert refused.status_code == 401 and refused.get_json()["code"] == "SESSION_REVOKED"


def test_a_logged_out_token_does_not_spend_its_owners_budget(make_app, migrated_database, auth_server):
    """A leaked token, logged out by its owner and then replayed by whoever holds it, is refused and counted
    against the replaying address, not against the user: the owner's other sessions keep their full budget."""
    client = make_app(app_settings(migrated_database, auth_server, RATE_LIMIT_USER="3/minute")).test_client()
    user = sign_up_user(auth_server)
    other = bearer(supabase_sign_in(auth_server, user.email, user.password).access_token)  # a second session
    assert client.post("/auth/logout", headers=user.headers).status_code == 204
    replays = [client.get("/auth/me", headers=user.headers).status_code for _ in range(6)]
    assert replays[:3] == [401, 401, 401] and set(replays[3:]) == {429}  # the replayer's address runs out
    # The replays spent nothing of the user's (nor did the logout, counted per address): a whole budget.
    answers = [client.get("/auth/me", headers=other, environ_base={"REMOTE_ADDR": "10.9.8.7"})
               for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Remaining"] == "2"
