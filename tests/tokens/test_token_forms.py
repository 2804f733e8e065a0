"""TokenVerifier and bearer_token: dangerous or unknown headers, and every malformation of a token (segments,
encodings, sizes, types, fuzzing), are a 401, never anything else."""
from __future__ import annotations

import json
import random

import jwt
import pytest

from coner_api.errors import Unauthorized
from tests.support.jwks import b64json, b64url, ec_key, forge, sign_raw
from tests.support.tokens import SECRET, refused, swap_segment


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
