"""TokenVerifier and bearer_token: valid tokens pass; every forgery, confusion and malformation is a 401."""
from __future__ import annotations

import json
import random
import threading
from typing import Any, Iterator

import jwt
import pytest

from coner_api.errors import AuthUnavailable, TokenExpired, Unauthorized
from coner_api.sessions.jwks import JwksCache
from coner_api.sessions.tokens import Claims, TokenVerifier, bearer_token
from tests.support.jwks import (FakeClock, JwksServer, b64json, b64url, ec_key, forge, forge_hs256, rsa_key,
                                sign_raw)

NOW = 1_800_000_000
USER = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd"
SESSION = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "legacy-jwt-secret-with-at-least-32-characters"
DROP = object()


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


def refused(verifier: TokenVerifier, token: Any) -> None:
    """The token is refused with exactly 401 UNAUTHORIZED (not expired, not another exception)."""
    with pytest.raises(Unauthorized) as raised:
        verifier.verify(token)
    assert type(raised.value) is Unauthorized
    assert raised.value.status == 401 and raised.value.code == "UNAUTHORIZED"
    assert raised.value.message == "Unauthorized: JWT token missing or invalid"


def swap_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


# ---------------------------------------------------------------------------------------------- valid
@pytest.mark.parametrize("name", ["es", "rs"])
def test_valid_asymmetric_tokens(verifier, keys, claims, name):
    result = verifier.verify(keys[name].sign(claims()))
    assert isinstance(result, Claims)
    assert result.user_id == USER and result.session_id == SESSION and result.role == "authenticated"
    assert result.email == "ada@example.com"
    assert result.iat == NOW and result.exp == NOW + 3600
    assert result.roles == ("admin", "user")  # only strings, only from app_metadata


def test_uuids_are_canonicalised_and_optional_claims_default(verifier, keys, claims):
    token = keys["es"].sign(claims(sub=USER.upper(), session_id=DROP, email=DROP, aal=DROP,
                                   app_metadata=DROP, is_anonymous=DROP))
    result = verifier.verify(token)
    assert result.user_id == USER and result.session_id is None and result.email is None
    assert result.roles == ()


def test_hs256_only_with_the_secret_configured(verifier, hs_verifier, claims):
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert hs_verifier.verify(token).user_id == USER
    refused(verifier, token)
    refused(hs_verifier, jwt.encode(claims(), SECRET + "x", algorithm="HS256"))
    refused(verifier, jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "legacy"}))


def test_hs256_with_a_kid_is_verified_with_the_secret(hs_verifier, server, claims):
    """A project that moved to signing keys keeps issuing HS256 tokens with the legacy key's kid until it
    rotates (GoTrue's parseJWTClaims falls back to the secret for HS256): they verify, without a JWKS fetch."""
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "legacy-key-id"})
    assert hs_verifier.verify(token).user_id == USER
    assert server.requests == 0
    refused(hs_verifier, jwt.encode(claims(), SECRET + "x", algorithm="HS256", headers={"kid": "legacy-key-id"}))


def test_anonymous_sessions_are_refused(verifier, keys, claims):
    refused(verifier, keys["es"].sign(claims(is_anonymous=True)))
    assert verifier.verify(keys["es"].sign(claims(is_anonymous=False))).user_id == USER


@pytest.mark.parametrize("client_id", ["9a8b7c6d-1111-2222-3333-444455556666", "", None])
def test_tokens_issued_to_oauth_clients_are_refused(verifier, keys, claims, client_id):
    """Supabase's OAuth server puts `client_id` in the tokens it issues to third-party apps."""
    refused(verifier, keys["es"].sign(claims(client_id=client_id)))


@pytest.mark.parametrize("name", ["es", "rs"])
def test_padded_signature_is_refused(verifier, keys, claims, name):
    """Compact JWS segments are base64url without padding (RFC 7515 §2), the signature as much as the others."""
    token = keys[name].sign(claims())
    assert verifier.verify(token).user_id == USER
    header, payload, signature = token.split(".")
    for padded in (signature + "=", signature + "==", signature + "=" * (-len(signature) % 4 or 4),
                   signature[:-1] + "+", signature[:-1] + "/", signature + "A"):
        refused(verifier, f"{header}.{payload}.{padded}")


def test_hs256_mode_does_not_need_the_jwks(hs_verifier, server, claims):
    server.stop()
    assert hs_verifier.verify(jwt.encode(claims(), SECRET, algorithm="HS256")).user_id == USER


def test_short_hs256_secret_is_refused_at_construction(issuer, jwks):
    with pytest.raises(ValueError):
        TokenVerifier(issuer, jwks, hs256_secret="short")


# ----------------------------------------------------------------------------- algorithm confusion
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None])
@pytest.mark.parametrize("with_kid", [True, False])
def test_alg_none(verifier, hs_verifier, keys, claims, alg, with_kid):
    header = {"alg": alg, "typ": "JWT", **({"kid": "es-1"} if with_kid else {})}
    signed = keys["es"].sign(claims()).split(".")[2]
    for signature in (b"", b"x"):
        refused(verifier, forge(header, claims(), signature))
        refused(hs_verifier, forge(header, claims(), signature))
    refused(verifier, swap_segment(keys["es"].sign(claims()), 0, b64json(header)))
    refused(hs_verifier, f"{b64json(header)}.{b64json(claims())}.{signed}")


@pytest.mark.parametrize("name", ["es", "rs"])
def test_hs256_with_the_public_key_as_secret(verifier, hs_verifier, keys, claims, name):
    key = keys[name]
    secrets = [key.public_pem, json.dumps(key.public_jwk).encode(),
               json.dumps(key.public_jwk, separators=(",", ":")).encode(), key.public_pem.strip()]
    for secret in secrets:
        for header in ({"alg": "HS256", "typ": "JWT", "kid": key.kid}, {"alg": "HS256", "typ": "JWT"}):
            token = forge_hs256(header, claims(), secret)
            refused(verifier, token)
            refused(hs_verifier, token)


def test_header_alg_swapped(verifier, keys, claims):
    es_token, rs_token = keys["es"].sign(claims()), keys["rs"].sign(claims())
    refused(verifier, swap_segment(rs_token, 0, b64json({"alg": "ES256", "kid": "rs-1", "typ": "JWT"})))
    refused(verifier, swap_segment(es_token, 0, b64json({"alg": "RS256", "kid": "es-1", "typ": "JWT"})))
    # A genuine ES256 signature presented under the RSA key's kid, and vice versa.
    refused(verifier, keys["es"].sign(claims(), kid="rs-1"))
    refused(verifier, keys["rs"].sign(claims(), kid="es-1"))
    for alg in ("PS256", "RS512", "RS384"):
        refused(verifier, keys["rs"].sign(claims(), alg=alg))
    for alg in ("ES384", "ES512"):
        refused(verifier, swap_segment(es_token, 0, b64json({"alg": alg, "kid": "es-1"})))


def test_case_sensitive_alg(verifier, keys, claims):
    token = keys["es"].sign(claims())
    refused(verifier, swap_segment(token, 0, b64json({"alg": "es256", "kid": "es-1", "typ": "JWT"})))


# ------------------------------------------------------------------------------------ signatures
def test_tampered_payload(verifier, keys, claims):
    token = keys["es"].sign(claims())
    refused(verifier, swap_segment(token, 1, b64json(claims(sub="11111111-2222-4333-8444-555555555555"))))
    refused(verifier, swap_segment(keys["rs"].sign(claims()), 1, b64json(claims(exp=NOW + 10**6))))


def test_bad_signatures(verifier, keys, claims):
    token = keys["es"].sign(claims())
    for signature in (b"", b"\x00" * 64, b"\x00" * 32 + b"\x01" * 32, bytes(range(64)), b"\xff" * 512):
        refused(verifier, swap_segment(token, 2, b64url(signature)))
    refused(verifier, swap_segment(token, 2, ""))
    refused(verifier, swap_segment(keys["rs"].sign(claims()), 2, b64url(b"\x00" * 256)))
    refused(verifier, token[:-2])


def test_token_from_another_key_set_with_the_same_kid(verifier, keys, claims):
    refused(verifier, keys["es_other"].sign(claims()))
    refused(verifier, keys["rs_other"].sign(claims()))


# ----------------------------------------------------------------------------------------- claims
@pytest.mark.parametrize("make_iss", [
    lambda ours: ours[:-3], lambda ours: ours + "/x", lambda ours: ours[7:-2], lambda ours: ours + "/",
    lambda ours: ours.upper(), lambda ours: [ours], lambda ours: {"iss": ours},
    lambda ours: "https://evil.example/auth/v1", lambda ours: "supabase", lambda ours: "",
    lambda ours: DROP, lambda ours: None, lambda ours: 1,
], ids=["prefix", "suffix", "substring", "slash", "upper", "list", "object", "evil", "supabase", "empty",
        "missing", "null", "int"])
def test_issuer_must_match_exactly(verifier, keys, claims, issuer, make_iss):
    refused(verifier, keys["es"].sign(claims(iss=make_iss(issuer))))


@pytest.mark.parametrize("aud", [DROP, None, "", "anon", "Authenticated", ["authenticated"],
                                 ["authenticated", "x"], 1])
def test_audience(verifier, keys, claims, aud):
    refused(verifier, keys["es"].sign(claims(aud=aud)))


@pytest.mark.parametrize("exp", [DROP, None, str(NOW + 3600), float(NOW + 3600), NOW + 3600.5, True,
                                 [NOW + 3600]])
def test_exp_must_be_an_integer(verifier, keys, claims, exp):
    refused(verifier, keys["es"].sign(claims(exp=exp)))


@pytest.mark.parametrize("iat", [DROP, None, str(NOW), float(NOW), True, NOW + 31, NOW + 3601])
def test_iat(verifier, keys, claims, iat):
    refused(verifier, keys["es"].sign(claims(iat=iat)))


def test_iat_leeway_and_nbf(verifier, keys, claims):
    assert verifier.verify(keys["es"].sign(claims(iat=NOW + 30)))
    refused(verifier, keys["es"].sign(claims(nbf=NOW + 31)))
    refused(verifier, keys["es"].sign(claims(nbf=str(NOW))))
    assert verifier.verify(keys["es"].sign(claims(nbf=NOW)))


@pytest.mark.parametrize("exp", [NOW, NOW - 1, NOW - 10**6])
def test_expired(verifier, keys, claims, exp):
    with pytest.raises(TokenExpired) as raised:
        verifier.verify(keys["es"].sign(claims(exp=exp, iat=exp - 3600)))
    assert raised.value.status == 401 and raised.value.code == "TOKEN_EXPIRED"


def test_expiry_has_no_leeway(verifier, keys, claims, clock):
    token = keys["es"].sign(claims(exp=NOW + 1))
    clock.now = NOW + 0.999
    assert verifier.verify(token)
    clock.now = NOW + 1
    with pytest.raises(TokenExpired):
        verifier.verify(token)


def test_expired_forgery_is_not_told_it_expired(verifier, keys, claims):
    refused(verifier, keys["es_other"].sign(claims(exp=NOW - 10)))
    refused(verifier, keys["es"].sign(claims(exp=NOW - 10, role="anon")))


@pytest.mark.parametrize("sub", [DROP, None, "", "not-a-uuid", 42, USER + "0", "{" + USER + "}",
                                 USER.replace("-", ""), "urn:uuid:" + USER, " " + USER, [USER]])
def test_subject_must_be_a_uuid(verifier, keys, claims, sub):
    refused(verifier, keys["es"].sign(claims(sub=sub)))


@pytest.mark.parametrize("role", [DROP, None, "anon", "service_role", "supabase_admin", "Authenticated", ""])
def test_role_must_be_authenticated(verifier, keys, claims, role):
    refused(verifier, keys["es"].sign(claims(role=role)))


@pytest.mark.parametrize("claim, value", [("session_id", "not-a-uuid"), ("session_id", 5), ("email", 5),
                                          ("app_metadata", []), ("is_anonymous", "false"), ("aal", 2)])
def test_malformed_optional_claims(verifier, keys, claims, claim, value):
    refused(verifier, keys["es"].sign(claims(**{claim: value})))


def test_auth_time_is_the_newest_amr_timestamp(verifier, keys, claims):
    """GoTrue lists one {method, timestamp} per way the session signed in, newest first, kept by refreshes."""
    amr = [{"method": "totp", "timestamp": NOW - 60}, {"method": "password", "timestamp": NOW - 600},
           {"method": "sso/saml", "timestamp": NOW - 900, "provider": "acme"}, "otp"]
    assert verifier.verify(keys["es"].sign(claims(amr=amr))).auth_time == NOW - 60
    assert verifier.verify(keys["es"].sign(claims(amr=list(reversed(amr))))).auth_time == NOW - 60
    # No time to be had: no amr, an empty one, or bare method names (GoTrue's parser reads those too).
    for amr in (DROP, None, [], ["password"]):
        assert verifier.verify(keys["es"].sign(claims(amr=amr))).auth_time is None


@pytest.mark.parametrize("amr", [{}, "password", [7], [None], [{"method": "password"}], [{"timestamp": NOW}],
                                 [{"method": "password", "timestamp": str(NOW)}],
                                 [{"method": "password", "timestamp": NOW + 0.5}],
                                 [{"method": "password", "timestamp": True}], [{"method": 5, "timestamp": NOW}]])
def test_a_garbled_amr_is_refused(verifier, keys, claims, amr):
    refused(verifier, keys["es"].sign(claims(amr=amr)))


@pytest.mark.parametrize("role", ["anon", "service_role"])
def test_supabase_api_keys_are_not_user_tokens(verifier, hs_verifier, role):
    api_key = jwt.encode({"iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": role, "iat": NOW - 10**6,
                          "exp": NOW + 10**8}, SECRET, algorithm="HS256")
    for candidate in (verifier, hs_verifier):
        refused(candidate, bearer_token(f"Bearer {api_key}"))


# ------------------------------------------------------------------------------------------ headers
def test_kid_unknown(verifier, keys, claims, server, clock):
    token = ec_key("unknown-kid").sign(claims())
    refused(verifier, token)
    assert server.requests == 1  # the cold fetch just happened: no point refetching for the kid
    clock.advance(29)
    refused(verifier, token)
    assert server.requests == 1  # nothing more within the cooldown
    clock.advance(1)
    refused(verifier, token)
    assert server.requests == 2  # one refetch per cooldown


@pytest.mark.parametrize("kid", ["k" * 129, "k" * 4000, 1, 1.5, None, True, [], ["es-1"], {"kid": "es-1"},
                                 ""])
def test_kid_must_be_a_short_string(verifier, keys, claims, kid, server):
    token = keys["es"].sign(claims(), kid=kid)
    refused(verifier, token)
    assert server.requests == 0  # a malformed kid never costs a fetch


@pytest.mark.parametrize("header", [
    {"jku": "http://127.0.0.1:1/jwks.json"}, {"x5u": "http://127.0.0.1:1/cert.pem"}, {"x5c": ["MIIB"]},
    {"crit": ["exp"]}, {"crit": []}, {"crit": ["b64"], "b64": True}, {"zip": "DEF"}, {"enc": "A256GCM"},
])
def test_dangerous_headers(verifier, keys, claims, header):
    refused(verifier, keys["es"].sign(claims(), **header))


def test_embedded_jwk_header(verifier, claims):
    attacker = ec_key("es-1")
    refused(verifier, attacker.sign(claims(), jwk=attacker.public_jwk))


# ------------------------------------------------------------------------------------ malformations
def test_jwe_and_wrong_segment_counts(verifier, keys, claims):
    token = keys["es"].sign(claims())
    head, body, sig = token.split(".")
    jwe = ".".join([b64json({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "rs-1"}), b64url(b"k" * 32),
                    b64url(b"iv"), body, sig])
    for candidate in (jwe, f"{head}.{body}", f"{head}.{body}.{sig}.", f"{token}.{sig}", head, "", ".", "..",
                      "....", f".{body}.{sig}", f"{head}..{sig}"):
        refused(verifier, candidate)


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize("garbage", ["!!!!", "abc=", "a", "a+b/", "%7B%7D", "e30=", " ", "\x00", "é"])
def test_garbage_segments(verifier, keys, claims, index, garbage):
    refused(verifier, swap_segment(keys["es"].sign(claims()), index, garbage))


@pytest.mark.parametrize("segment", [b64json([]), b64json(["alg", "ES256"]), b64json("ES256"), b64json(1),
                                     b64json(None), b64url("not json"), b64url(b"\xff\xfe"), b64url("{")])
def test_header_must_be_a_json_object(verifier, keys, claims, segment):
    refused(verifier, swap_segment(keys["es"].sign(claims()), 0, segment))


def test_duplicate_header_members(verifier, keys, claims):
    # Correctly signed, and PyJWT alone (last member wins) would accept it.
    raw = '{"alg":"none","kid":"rs-1","kid":"es-1","alg":"ES256"}'
    refused(verifier, sign_raw(raw, json.dumps(claims()).encode(), keys["es"].private, "ES256"))


def test_non_utf8_header_and_payload(verifier, keys, claims):
    key = keys["es"]
    utf16 = json.dumps(claims()).encode("utf-16")
    refused(verifier, sign_raw({"alg": "ES256", "kid": "es-1"}, utf16, key.private, "ES256"))
    latin1 = json.dumps(claims(email="é@example.com"), ensure_ascii=False).encode("latin-1")
    refused(verifier, sign_raw({"alg": "ES256", "kid": "es-1"}, latin1, key.private, "ES256"))
    bad_header = b'{"alg":"ES256","kid":"es-1","x":"\xff"}'
    refused(verifier, swap_segment(key.sign(claims()), 0, b64url(bad_header)))
    refused(verifier, key.sign(claims()) + "é")
    refused(verifier, "\ud800" + key.sign(claims()))


def test_payload_must_be_a_json_object(verifier, keys):
    for payload in (b"[]", b'"x"', b"1", b"null"):
        refused(verifier, sign_raw({"alg": "ES256", "kid": "es-1"}, payload, keys["es"].private, "ES256"))


def test_oversized_token(verifier, keys, claims):
    token = keys["es"].sign(claims(user_metadata={"pad": "x" * 9000}))
    refused(verifier, token)
    assert len(keys["es"].sign(claims(user_metadata={"pad": "x" * 5000}))) < 8192
    assert verifier.verify(keys["es"].sign(claims(user_metadata={"pad": "x" * 5000})))


@pytest.mark.parametrize("value", [None, b"abc", 1, ["a.b.c"]])
def test_non_string_tokens(verifier, value):
    refused(verifier, value)


def test_fuzzed_tokens_only_ever_raise_401(verifier, hs_verifier, keys, claims):
    rng = random.Random(20261121)
    seeds = [keys["es"].sign(claims()), keys["rs"].sign(claims()),
             jwt.encode(claims(), SECRET, algorithm="HS256")]
    alphabet = "ABCDEFabcdef0123456789-_.=+/ {}\"'\\é\x00"
    header_values = [None, 1, 1.5, True, [], {}, "", "none", "HS256", "ES256", "x" * 300, ["ES256"], {"a": 1}]
    for _ in range(1500):
        token = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(token))
            action = rng.random()
            if action < 0.4:
                token[position] = rng.choice(alphabet)
            elif action < 0.7:
                del token[position]
            else:
                token.insert(position, rng.choice(alphabet))
        candidate = "".join(token)
        for target in (verifier, hs_verifier):
            try:
                target.verify(candidate)
            except Unauthorized:
                pass
    for _ in range(300):
        header = {"alg": rng.choice(header_values), "kid": rng.choice(header_values + ["es-1", "rs-1"])}
        if rng.random() < 0.3:
            header[rng.choice(["typ", "crit", "jku", "b64", "cty"])] = rng.choice(header_values)
        claim = rng.choice(["exp", "iat", "sub", "aud", "iss", "role"])
        payload = claims(**{claim: rng.choice(header_values)})
        try:
            verifier.verify(forge(header, payload, rng.randbytes(rng.choice([0, 64, 256]))))
        except Unauthorized:
            pass


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
