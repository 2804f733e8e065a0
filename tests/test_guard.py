"""The route guards (sessions/guard.py) in-process: a bare Flask app holding the real verifier (against a local
JWKS), the real revocation store (test Postgres) and the real factor cache, filled as a sign-in answer fills
it, so no call to Supabase is made. Each guard runs in a request context; the app-level contract (status
codes, error bodies) is tests/test_auth.py, tests/test_admin.py and tests/test_mfa.py."""
from __future__ import annotations

import time
import uuid
from typing import Iterator

import pytest
from flask import Flask

from coner_api.errors import Forbidden, MfaRequired, SessionRevoked, TokenExpired, Unauthorized
from coner_api.mfa.status import FactorStatus
from coner_api.sessions import guard
from coner_api.sessions.jwks import JwksCache
from coner_api.sessions.revocation import Revocations
from coner_api.sessions.tokens import TokenVerifier
from tests.support.jwks import JwksServer, ec_key
from tests.support.revocations import config_without_supabase, open_database


@pytest.fixture(scope="module")
def key():
    return ec_key("es-guard")


@pytest.fixture(scope="module")
def app(key, migrated_database) -> Iterator[Flask]:
    server = JwksServer()
    server.publish(key)
    app = Flask(__name__)
    with open_database(migrated_database) as db:
        app.extensions["coner.verifier"] = TokenVerifier(server.base_url + "/auth/v1", JwksCache(server.url))
        app.extensions["coner.revocations"] = Revocations(db, migrated_database)  # untrusted: reads Postgres
        app.extensions["coner.factor_status"] = FactorStatus()
        app.extensions["coner.config"] = config_without_supabase(migrated_database, ADMIN_REQUIRE_MFA="true")
        app.config["ISSUER"] = server.base_url + "/auth/v1"
        yield app
    server.stop()


def user(app: Flask, *, factor: bool = False) -> str:
    """A new user whose factor status this process knows (as after their sign-in)."""
    user_id = str(uuid.uuid4())
    status = app.extensions["coner.factor_status"]
    status.store(status.generation, user_id, factor)
    return user_id


def token(app: Flask, key, user_id: str, *, aal: str = "aal1", roles: tuple[str, ...] = (),
          iat: int | None = None) -> str:
    now = int(time.time()) if iat is None else iat
    return key.sign({"iss": app.config["ISSUER"], "sub": user_id, "aud": "authenticated",
                     "role": "authenticated", "iat": now, "exp": now + 3600, "aal": aal,
                     "session_id": str(uuid.uuid4()), "app_metadata": {"roles": list(roles)}})


def request(app: Flask, access_token: str | None):
    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}
    return app.test_request_context("/", headers=headers)


def view() -> str:
    """A route's body."""
    return "served"


def test_a_valid_token_is_verified_once_per_request(app, key):
    user_id = user(app)
    access_token = token(app, key, user_id)
    with request(app, access_token):
        claims = guard.verified_claims()
        assert claims.user_id == user_id and guard.verified_claims() is claims
        assert guard.current_token() == access_token


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer not-a-token"])
def test_a_refusal_is_remembered_for_the_request(app, header):
    with app.test_request_context("/", headers={"Authorization": header} if header else {}):
        with pytest.raises(Unauthorized) as first:
            guard.verified_claims()
        with pytest.raises(Unauthorized) as second:
            guard.authenticated_claims()
        assert second.value is first.value


def test_an_expired_token_is_refused_as_expired(app, key):
    with request(app, token(app, key, user(app), iat=int(time.time()) - 7200)):
        with pytest.raises(TokenExpired):
            guard.authenticate()


def test_a_revoked_token_is_refused_once_and_for_the_whole_request(app, key, db_conn):
    user_id = user(app)
    access_token = token(app, key, user_id, iat=int(time.time()) - 5)
    db_conn.execute("INSERT INTO user_profiles (user_id, logout_at) VALUES (%s, now())", (user_id,))
    with request(app, access_token):
        assert guard.verified_claims().user_id == user_id  # the signature is fine
        with pytest.raises(SessionRevoked) as first:
            guard.authenticated_claims()
        assert guard.authenticated_user_id() is None  # a logged-out token counts against its IP
        assert guard.request_user_id() is None
        with pytest.raises(SessionRevoked) as again:
            guard.authenticate()
        assert again.value is first.value


def test_the_request_user_is_known_only_once_authenticated(app, key):
    user_id = user(app)
    with request(app, token(app, key, user_id)):
        assert guard.request_user_id() is None  # never verifies by itself
        assert guard.authenticated_user_id() == user_id
        assert guard.request_user_id() == user_id
        claims = guard.authenticate()
        assert guard.current_user() is claims and guard.authenticated_claims() is claims
    with request(app, None):
        assert guard.authenticated_user_id() is None and guard.request_user_id() is None


def test_auth_required_serves_a_user_without_a_factor_and_asks_for_it_from_a_user_with_one(app, key):
    guarded = guard.auth_required(view)
    assert guarded.__name__ == "view"
    with request(app, token(app, key, user(app))):
        assert guarded() == "served"
        assert guard.current_user().aal == 1
    with_factor = user(app, factor=True)
    with request(app, token(app, key, with_factor)):
        with pytest.raises(MfaRequired):
            guarded()
    with request(app, token(app, key, with_factor, aal="aal2")):
        assert guarded() == "served"
    with request(app, None):
        with pytest.raises(Unauthorized):
            guarded()


def test_auth_required_aal1_skips_only_the_second_factor(app, key):
    guarded = guard.auth_required_aal1(view)
    assert guarded.__name__ == "view"
    with request(app, token(app, key, user(app, factor=True))):
        assert guarded() == "served"
        assert guard.current_user().aal == 1
    with request(app, "nonsense"):
        with pytest.raises(Unauthorized):
            guarded()


@pytest.mark.parametrize("roles", [(), ("root",), ("admin", "owner")])
def test_roles_required_takes_known_roles_only(roles):
    with pytest.raises(ValueError):
        guard.roles_required(*roles)


def test_roles_required_refuses_a_token_without_the_role(app, key):
    guarded = guard.roles_required("admin", "super_admin")(view)
    assert guarded.__name__ == "view"
    with request(app, token(app, key, user(app), aal="aal2", roles=("user",))):
        with pytest.raises(Forbidden) as refused:
            guarded()
    assert refused.value.message == "Forbidden: requires the admin or super_admin role"


def test_admin_roles_need_a_second_factor_while_admin_require_mfa_is_on(app, key):
    guarded = guard.roles_required("admin")(view)
    with request(app, token(app, key, user(app), roles=("admin",))):
        with pytest.raises(MfaRequired) as refused:
            guarded()
    assert "enrol" in refused.value.message  # an admin without a factor is told to enrol one
    with request(app, token(app, key, user(app, factor=True), aal="aal2", roles=("super_admin",))):
        assert guarded() == "served"  # super_admin includes admin


def test_a_user_role_route_needs_no_second_factor(app, key):
    guarded = guard.roles_required("user")(view)
    with request(app, token(app, key, user(app), roles=("user",))):
        assert guarded() == "served"


def test_admin_roles_without_admin_require_mfa(app, key):
    config = app.extensions["coner.config"]
    app.extensions["coner.config"] = config_without_supabase(config.database_url, ADMIN_REQUIRE_MFA="false")
    try:
        with request(app, token(app, key, user(app), roles=("admin",))):
            assert guard.roles_required("admin")(view)() == "served"
    finally:
        app.extensions["coner.config"] = config
