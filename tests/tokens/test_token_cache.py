"""TokenVerifier with its JWKS (outages, rotation) and its cache of verified tokens (no crypto on a hit, never
served at or after exp, re-verified after its TTL)."""
from __future__ import annotations

import threading

import pytest

from coner_api.errors import AuthUnavailable, TokenExpired, Unauthorized
from coner_api.sessions.tokens import TokenVerifier, bearer_token
from tests.support.jwks import ec_key
from tests.support.tokens import NOW, USER, refused


# ------------------------------------------------------------------------------- JWKS interplay
def test_jwks_outage_with_warm_cache_keeps_verifying(verifier, keys, claims, server, clock):
    assert verifier.verify(keys["es"].sign(claims()))
    server.mode = "error"
    clock.advance(601)
    assert verifier.verify(keys["rs"].sign(claims(exp=NOW + 3600, iat=NOW + 600)))


def test_jwks_outage_with_cold_cache_is_503(verifier, keys, claims, server):
    server.stop()
    with pytest.raises(AuthUnavailable):
        verifier.verify(keys["es"].sign(claims()))


def test_rotated_key_is_accepted_after_one_refetch(verifier, keys, claims, server, clock):
    new_key = ec_key("es-2")
    assert verifier.verify(keys["es"].sign(claims()))
    server.publish(keys["es"], keys["rs"], new_key)
    clock.advance(30)
    assert verifier.verify(new_key.sign(claims(iat=NOW + 30)))
    assert server.requests == 2


# -------------------------------------------------------------------------------- verified cache
# A verification builds a new Claims; a cache hit hands back the cached one. Identity tells them apart.
def test_cache_hit_costs_no_crypto_and_no_jwks(verifier, keys, claims, server):
    token = keys["es"].sign(claims())
    first = verifier.verify(token)
    server.stop()
    for _ in range(5):
        assert verifier.verify(token) is first
    assert server.requests == 1


def test_cache_never_serves_at_or_after_exp(verifier, keys, claims, clock):
    token = keys["es"].sign(claims(exp=NOW + 100))
    first = verifier.verify(token)
    clock.now = NOW + 99.9
    assert verifier.verify(token) is first
    clock.now = NOW + 100
    with pytest.raises(TokenExpired):  # only a fresh verification can say so
        verifier.verify(token)


def test_cache_entries_are_reverified_after_cache_ttl(verifier, keys, claims, clock, server):
    token = keys["es"].sign(claims())
    first = verifier.verify(token)
    clock.advance(300)
    assert verifier.verify(token) is not first
    server.publish(keys["rs"])  # es-1 withdrawn: the cached token stops working at the next refetch
    clock.advance(600)
    refused(verifier, token)


def test_cache_is_bounded(issuer, jwks, clock, keys, claims):
    verifier = TokenVerifier(issuer, jwks, cache_size=3, clock=clock)
    tokens = [keys["es"].sign(claims(iat=NOW - i)) for i in range(5)]
    verified = [verifier.verify(token) for token in tokens]
    assert verifier.verify(tokens[4]) is verified[4]
    assert verifier.verify(tokens[0]) is not verified[0]  # evicted: verified again


def test_failures_are_not_cached(verifier, keys, claims, server, clock):
    new_key = ec_key("es-2")
    token = new_key.sign(claims())
    refused(verifier, token)
    server.publish(keys["es"], new_key)
    clock.advance(30)
    assert verifier.verify(token)


def test_concurrent_verification(verifier, keys, claims):
    tokens = [keys["es" if i % 2 else "rs"].sign(claims(iat=NOW - i)) for i in range(10)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for round_ in range(20):
                assert verifier.verify(tokens[(index + round_) % 10]).user_id == USER
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []


# ----------------------------------------------------------------------------------------- bearer
@pytest.mark.parametrize("value", ["Bearer a.b.c", "bearer a.b.c", "BEARER a.b.c", "Bearer  a.b.c",
                                   "  Bearer a.b.c \t", "Bearer a-b_c.d~e+f/g=="])
def test_bearer_token_accepts(value):
    assert bearer_token(value) in ("a.b.c", "a-b_c.d~e+f/g==")


@pytest.mark.parametrize("value", [None, "", " ", "Bearer", "Bearer ", "Bearer  ", "Basic dXNlcjpwYXNz",
                                   "Token a.b.c", "Bearera.b.c", "Bearer\ta.b.c", "Bearer a.b.c d.e.f",
                                   "Bearer a.b.c,d", "Bearer é.b.c", "Bearér a.b.c", "Bearer a.b.c\x00",
                                   "Bearer\na.b.c", b"Bearer a.b.c", "a.b.c", "Bearer =abc"])
def test_bearer_token_refuses(value):
    with pytest.raises(Unauthorized) as raised:
        bearer_token(value)
    assert type(raised.value) is Unauthorized
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")
