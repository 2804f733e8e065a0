"""TokenVerifier: valid tokens pass; algorithm confusion, bad signatures and bad claims are a 401. Headers and
malformed tokens: tests/tokens/test_token_forms.py; the JWKS and the verified cache: tests/tokens/test_token_cache.py."""
from __future__ import annotations

import json

import jwt
import pytest

from coner_api.errors import TokenExpired
from coner_api.sessions.tokens import Claims, TokenVerifier, bearer_token
from tests.support.jwks import b64json, b64url, forge, forge_hs256
from tests.support.tokens import DROP, NOW, SECRET, SESSION, USER, refused, swap_segment


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


@pytest.mark.parametrize("email", ["a\u0000b@example.com", "a\ud800@example.com", "a\nb@example.com",
                                   "a\x7f@example.com"], ids=["nul", "surrogate", "newline", "delete"])
def test_an_email_claim_that_is_not_text_is_refused(verifier, keys, claims, email):
    """Supabase writes no such address; a token carrying one (signed by a misbehaving issuer) reached the
    profile row, where Postgres refused the NUL: a 500. Its signature is good, its claims are not."""
    refused(verifier, keys["es"].sign(claims(email=email)))
    assert verifier.verify(keys["es"].sign(claims(email="zoë@example.com"))).email == "zoë@example.com"


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


@pytest.mark.parametrize("name", ["es", "rs"])
def test_a_public_key_as_the_hs256_secret_is_refused_at_construction(issuer, jwks, keys, name):
    """Algorithm confusion by configuration: PyJWT's HMAC key preparation refuses a PEM public key."""
    with pytest.raises(jwt.InvalidKeyError):
        TokenVerifier(issuer, jwks, hs256_secret=keys[name].public_pem.decode())


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


@pytest.mark.parametrize("jti", [None, 1, ["x"], {"id": "x"}])
def test_a_jti_that_is_not_a_string_is_refused(verifier, keys, claims, jti):
    """RFC 7519 §4.1.7: a case-sensitive string (as PyJWT's own check has it). GoTrue sends none."""
    refused(verifier, keys["es"].sign(claims(jti=jti)))
    assert verifier.verify(keys["es"].sign(claims(jti="f3a1"))).user_id == USER


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
