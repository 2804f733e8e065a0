"""TokenVerifier at its edges: the injected clock (never the wall clock), each limit at and one past its
value, strict base64url even where PyJWT would be lenient, the constructor's argument checks, the Bearer
header's blanks, and the role tuples shared between tokens. The main cases: the other modules of tests/tokens/."""
from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pytest
from jwt.algorithms import get_default_algorithms

from coner_api.caches import named_caches
from coner_api.errors import TokenExpired, Unauthorized
from coner_api.sessions import tokens
from coner_api.sessions.jwks import JwksCache
from coner_api.sessions.tokens import MAX_TOKEN_LENGTH, TokenVerifier, bearer_token
from tests.support.jwks import FakeClock, JwksServer, b64json, b64url, ec_key, forge_hs256, sign_raw

USER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
SECRET = "s" * 32  # exactly the minimum: 32 bytes
PAST = 1_000_000_000  # 2001: every token of these tests has long expired by the wall clock
FUTURE = 4_000_000_000  # 2096: and none has been issued yet by it


@pytest.fixture(scope="module")
def key():
    return ec_key("es-1")


@pytest.fixture
def server(key) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(key)
    yield server
    server.stop()


@pytest.fixture
def issuer(server) -> str:
    return server.base_url + "/auth/v1"


def verifier_at(issuer: str, server: JwksServer, now: float, **options: Any) -> TokenVerifier:
    clock = FakeClock(now)
    return TokenVerifier(issuer, JwksCache(server.url, clock=clock), clock=clock, **options)


def claims_at(issuer: str, now: int, **overrides: Any) -> dict[str, Any]:
    return {"iss": issuer, "sub": USER, "aud": "authenticated", "role": "authenticated", "iat": now,
            "exp": now + 3600, **overrides}


@pytest.mark.parametrize("now", [PAST, FUTURE])
def test_times_are_checked_against_the_injected_clock_only(key, server, issuer, now):
    verifier = verifier_at(issuer, server, now)
    assert verifier.verify(key.sign(claims_at(issuer, now))).exp == now + 3600
    with pytest.raises(TokenExpired):
        verifier.verify(key.sign(claims_at(issuer, now - 3600)))  # exp == now: expired
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(key.sign(claims_at(issuer, now + 31)))  # issued beyond the leeway
    assert type(refused.value) is Unauthorized


def test_not_before_is_accepted_up_to_the_leeway(key, server, issuer):
    verifier = verifier_at(issuer, server, PAST)
    assert verifier.verify(key.sign(claims_at(issuer, PAST, nbf=PAST + 30))).iat == PAST
    with pytest.raises(Unauthorized):
        verifier.verify(key.sign(claims_at(issuer, PAST, nbf=PAST + 31)))


def test_issued_at_up_to_the_leeway_and_equal_to_expiry(key, server, issuer):
    verifier = verifier_at(issuer, server, PAST)
    assert verifier.verify(key.sign(claims_at(issuer, PAST + 30))).iat == PAST + 30
    # iat == exp is not "issued after expiry": a token issued just ahead of our clock is good until then.
    assert verifier.verify(key.sign(claims_at(issuer, PAST + 10, exp=PAST + 10))).exp == PAST + 10
    with pytest.raises(TokenExpired):  # and, on our clock's second, expired (not malformed)
        verifier.verify(key.sign(claims_at(issuer, PAST, exp=PAST)))
    with pytest.raises(Unauthorized) as refused:
        verifier.verify(key.sign(claims_at(issuer, PAST + 10, exp=PAST + 9)))
    assert type(refused.value) is Unauthorized


def token_of_length(key, issuer: str, length: int) -> str:
    """A valid token exactly `length` characters long, padded with a claim."""
    for pad in range(length):
        for extra in ({}, {"x": ""}):
            token = key.sign(claims_at(issuer, PAST, pad="p" * pad), **extra)
            if len(token) == length:
                return token
            if len(token) > length + 8:
                break
    raise AssertionError(f"no token of {length} characters")


def test_a_token_of_exactly_the_maximal_length_is_verified_one_more_is_not(key, server, issuer):
    verifier = verifier_at(issuer, server, PAST)
    assert verifier.verify(token_of_length(key, issuer, MAX_TOKEN_LENGTH)).user_id == USER
    with pytest.raises(Unauthorized):
        verifier.verify(token_of_length(key, issuer, MAX_TOKEN_LENGTH + 1))


@pytest.mark.parametrize("kid", ["k", "k" * 128])
def test_kids_of_one_to_128_characters_select_their_key(server, issuer, kid):
    key = ec_key(kid)
    server.publish(key)
    assert verifier_at(issuer, server, PAST).verify(key.sign(claims_at(issuer, PAST))).user_id == USER


def padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def non_canonical(segment: str) -> str:
    """The same bytes spelled otherwise: one unused low bit of the last character set (RFC 4648 §3.5)."""
    assert len(segment) % 4 in (2, 3)
    return segment[:-1] + _BASE64URL[_BASE64URL.index(segment[-1]) ^ 1]


def uneven_claims(key, issuer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A header and payload whose base64url lengths are not multiples of 4: each has a padding to drop and
    unused bits in its last character."""
    header, payload = {"alg": "ES256", "typ": "JWT", "kid": key.kid}, claims_at(issuer, PAST)
    while len(b64json(header)) % 4 == 0 or len(b64url(json.dumps(payload))) % 4 == 0:
        payload["pad"] = payload.get("pad", "") + "p"
        header["x"] = header.get("x", "") + "x"
    return header, payload


def signed_as_spelled(segments: list[str], key) -> str:
    """A token of these header and payload segments, signed over them as they are spelled."""
    signing_input = ".".join(segments)
    return f"{signing_input}.{b64url(get_default_algorithms()['ES256'].sign(signing_input.encode(), key.private))}"


@pytest.mark.parametrize("part", [0, 1])
def test_padded_base64_is_refused_even_where_pyjwt_would_accept_it(key, server, issuer, part):
    """Compact JWS has no padding (RFC 7515 §2); PyJWT decodes padded segments: only our check refuses."""
    header, payload = uneven_claims(key, issuer)
    segments = [b64json(header), b64url(json.dumps(payload))]
    segments[part] = padded(segments[part])
    with pytest.raises(Unauthorized):
        verifier_at(issuer, server, PAST).verify(signed_as_spelled(segments, key))
    assert verifier_at(issuer, server, PAST).verify(
        sign_raw(header, json.dumps(payload).encode(), key.private, "ES256")).user_id == USER  # unpadded: fine


@pytest.mark.parametrize("part", [0, 1, 2])
def test_a_segment_spelled_with_nonzero_unused_bits_is_refused(key, server, issuer, part):
    """One token, one spelling: Python's decoder ignores the unused bits of a last base64 character, so the
    same header, payload or signature could be sent under many spellings (each a new cache key). The
    signature's respelling keeps a valid signature; the header's and payload's are signed as spelled."""
    header, payload = uneven_claims(key, issuer)
    canonical = sign_raw(header, json.dumps(payload).encode(), key.private, "ES256")
    assert verifier_at(issuer, server, PAST).verify(canonical).user_id == USER
    segments = canonical.split(".")
    assert len(segments[2]) % 4 == 2  # 64 bytes: 4 unused bits
    if part < 2:
        segments[part] = non_canonical(segments[part])
        token = signed_as_spelled(segments[:2], key)
    else:
        token = ".".join(segments[:2] + [non_canonical(segments[2])])
    with pytest.raises(Unauthorized):
        verifier_at(issuer, server, PAST).verify(token)


def test_the_hs256_secret_must_have_32_bytes(issuer, server):
    jwks = JwksCache(server.url)
    verifier = TokenVerifier(issuer, jwks, hs256_secret=SECRET, clock=FakeClock(PAST))
    token = forge_hs256({"alg": "HS256", "typ": "JWT"}, claims_at(issuer, PAST), SECRET.encode())
    assert verifier.verify(token).user_id == USER
    assert TokenVerifier(issuer, jwks, hs256_secret="é" * 16)  # 32 bytes in 16 characters
    for short in ("s" * 31, "é" * 15 + "s"):
        with pytest.raises(ValueError):
            TokenVerifier(issuer, jwks, hs256_secret=short)


@pytest.mark.parametrize("options", [{"leeway_iat": 301}, {"leeway_iat": -1}, {"cache_size": -1},
                                     {"cache_ttl": -0.1}])
def test_constructor_refuses_out_of_range_settings(server, issuer, options):
    with pytest.raises(ValueError):
        TokenVerifier(issuer, JwksCache(server.url), **options)


def test_constructor_accepts_the_range_limits(server, issuer, key):
    for options in ({"leeway_iat": 0}, {"leeway_iat": 300}, {"cache_size": 0, "cache_ttl": 0}):
        verifier = TokenVerifier(issuer, JwksCache(server.url), **options)
        assert verifier.leeway_iat == options.get("leeway_iat", 30)
    with pytest.raises(ValueError):
        TokenVerifier("", JwksCache(server.url))


def test_the_defaults(server, issuer):
    verifier = TokenVerifier(issuer, JwksCache(server.url))
    assert (verifier.leeway_iat, verifier.cache_size, verifier.cache_ttl) == (30, 10_000, 300.0)
    assert verifier.issuer == issuer


def test_the_default_clock_is_the_wall_clock(server, issuer, key):
    now = int(time.time())
    verifier = TokenVerifier(issuer, JwksCache(server.url))
    assert verifier.verify(key.sign(claims_at(issuer, now))).iat == now


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer tokenX", "tokenX"),
    ("Bearer Xtoken", "Xtoken"),
    ("\t Bearer  abc.def \t", "abc.def"),
])
def test_bearer_strips_only_spaces_and_tabs_around_and_spaces_before_the_token(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["\x0cBearer abc", "Bearer abc\x0b", "Bearer \tabc", "Bearer\tabc",
                                    "Bearer abc\r\n"])
def test_bearer_refuses_other_blanks(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_equal_role_lists_share_one_tuple_and_the_sharing_is_bounded(key, server, issuer, monkeypatch):
    monkeypatch.setattr(tokens, "_ROLE_TUPLES", {})
    verifier = verifier_at(issuer, server, PAST)
    first = verifier.verify(key.sign(claims_at(issuer, PAST, app_metadata={"roles": ["admin", "user"]})))
    second = verifier.verify(key.sign(claims_at(issuer, PAST, app_metadata={"roles": ["admin", "user"]},
                                                email="b@example.com")))
    assert first.roles == ("admin", "user") and second.roles is first.roles
    for n in range(tokens._ROLE_TUPLES_MAX + 10):
        assert tokens._shared_roles((f"r{n}",)) == (f"r{n}",)
    assert len(tokens._ROLE_TUPLES) == tokens._ROLE_TUPLES_MAX


def test_the_aal_reaches_the_claims(key, server, issuer):
    claims = verifier_at(issuer, server, PAST).verify(key.sign(claims_at(issuer, PAST, aal="aal2")))
    assert claims.aal == 2


def test_the_verified_tokens_cache_is_reported_to_metrics_by_its_name(key, server, issuer):
    def named() -> int:
        return sum(1 for cache in named_caches() if cache.name == "verified_tokens")

    before = named()
    verifier = verifier_at(issuer, server, PAST)
    assert named() == before + 1
    access_token = key.sign(claims_at(issuer, PAST))
    assert verifier.verify(access_token) is verifier.verify(access_token)  # the second from the cache
