"""Fixtures of the token verification tests: a JWKS server publishing an EC and an RSA key (and a second key set
that reuses their kids), a settable clock, verifiers with and without the HS256 secret, and a factory of
Supabase-shaped claims. Constants and helpers: tests/support/tokens.py."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from coner_api.sessions.jwks import JwksCache
from coner_api.sessions.tokens import TokenVerifier
from tests.support.jwks import FakeClock, JwksServer, ec_key, rsa_key
from tests.support.tokens import DROP, NOW, SECRET, SESSION, USER


@pytest.fixture(scope="module")
def keys():
    # *_other: a different key set that reuses the same kids.
    return {"es": ec_key("es-1"), "rs": rsa_key("rs-1"),
            "es_other": ec_key("es-1"), "rs_other": rsa_key("rs-1")}


@pytest.fixture
def server(keys) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(keys["es"], keys["rs"])
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def issuer(server) -> str:
    return server.base_url + "/auth/v1"


@pytest.fixture
def jwks(server, clock) -> JwksCache:
    return JwksCache(server.url, clock=clock)  # the real 3 s timeout: a loaded CI box is slow


@pytest.fixture
def verifier(issuer, jwks, clock) -> TokenVerifier:
    return TokenVerifier(issuer, jwks, clock=clock)


@pytest.fixture
def hs_verifier(issuer, jwks, clock) -> TokenVerifier:
    return TokenVerifier(issuer, jwks, hs256_secret=SECRET, clock=clock)


@pytest.fixture
def claims(issuer):
    """A factory for Supabase-shaped access token claims; DROP removes a claim."""

    def make(**overrides: Any) -> dict[str, Any]:
        base = {
            "iss": issuer, "sub": USER, "aud": "authenticated", "exp": NOW + 3600, "iat": NOW,
            "email": "ada@example.com", "phone": "", "role": "authenticated", "aal": "aal1",
            "app_metadata": {"provider": "email", "roles": ["admin", 7, None, "user"]},
            "user_metadata": {"roles": ["super_admin"]}, "amr": [{"method": "password", "timestamp": NOW}],
            "session_id": SESSION, "is_anonymous": False,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not DROP}

    return make
