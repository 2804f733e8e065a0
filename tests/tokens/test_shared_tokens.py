"""The tokens a server's workers share (coner_api/shared_tokens.py): a token one worker verified is
taken by its siblings without a signature check, but only that exact token, only with the same settings, only
until its exp and only while the key that signed it is still published."""
from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import time

import pytest
from jwt.algorithms import ECAlgorithm

from coner_api.errors import TokenExpired
from coner_api.sessions.jwks import JwksCache
from coner_api.shared_tokens import WAYS, SharedTokens
from coner_api.sessions.tokens import TokenVerifier
from tests.support.jwks import b64json, b64url
from tests.support.tokens import NOW, SECRET, refused


@pytest.fixture
def table() -> SharedTokens:
    return SharedTokens(buckets=1 << 8)


@pytest.fixture
def sibling(issuer, server, clock, table):
    """A factory of verifiers as two workers of one server have them: each its own JWKS cache and token cache,
    one shared table."""

    def make(**options) -> TokenVerifier:
        return TokenVerifier(issuer, JwksCache(server.url, clock=clock), clock=clock, shared=table, **options)

    return make


def test_a_token_verified_by_one_worker_is_taken_by_its_sibling_without_a_signature_check(sibling, keys, claims):
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims())
    verified = first.verify(token)
    assert (first.shared_hits, first.shared_misses) == (0, 1)
    assert second.verify(keys["es"].sign(claims(iat=NOW - 1)))  # its own first token of this header: in full
    assert second.verify(token) == verified
    assert (second.shared_hits, second.shared_misses) == (1, 1)
    assert second.verify(token) == verified  # then from its own cache
    assert second.shared_hits == 1


def test_a_header_the_worker_never_verified_is_a_miss_before_any_decoding(sibling, keys, claims):
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims())
    first.verify(token)
    assert second.verify(token)  # in full: no token of that header verified here yet
    assert (second.shared_hits, second.shared_misses) == (0, 1)
    for forged in ("e30.e30.AA", "x" * 8000 + ".e30.AA", "W" * 5000 + ".e30.AA", token.replace(".", "..", 1)):
        refused(second, forged)
    assert second.shared_hits == 0


def _verify_in_child(issuer: str, url: str, token: str) -> None:
    TokenVerifier(issuer, JwksCache(url), shared=_TABLE).verify(token)
    os._exit(0)  # nothing of the parent's (its threads, pytest) runs again in the child


_TABLE = SharedTokens(buckets=1 << 8)  # made before the fork, as gunicorn's master makes it


def test_the_table_is_shared_across_forked_processes(issuer, server, keys, claims):
    token = keys["es"].sign(claims(iat=int(time.time()), exp=2**31))  # the child's clock is the real one
    child = multiprocessing.get_context("fork").Process(target=_verify_in_child, args=(issuer, server.url, token))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    here = TokenVerifier(issuer, JwksCache(server.url), shared=_TABLE)
    assert here.verify(keys["es"].sign(claims(iat=int(time.time()) - 1, exp=2**31)))
    assert here.verify(token).user_id
    assert here.shared_hits == 1


def test_a_tampered_token_never_matches_what_was_vouched_for(sibling, keys, claims):
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims())
    first.verify(token)
    header, payload, signature = token.split(".")
    other_signature = b64url(secrets.token_bytes(64))
    other_payload = keys["es"].sign(claims(sub="00000000-0000-4000-8000-000000000000")).split(".")[1]
    for forged in (f"{header}.{payload}.{other_signature}", f"{header}.{other_payload}.{signature}"):
        refused(second, forged)
    assert second.shared_hits == 0


def test_an_expired_token_is_expired_for_the_sibling_too(sibling, keys, claims, clock):
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims(exp=NOW + 100))
    first.verify(token)
    clock.now = NOW + 100
    with pytest.raises(TokenExpired):
        second.verify(token)
    assert second.shared_hits == 0


def test_a_withdrawn_key_stops_vouching_once_the_sibling_has_the_new_key_set(sibling, keys, claims, server):
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims())
    first.verify(token)
    server.publish(keys["rs"])  # es-1 withdrawn
    assert second.verify(keys["rs"].sign(claims()))  # the sibling's first key set already lacks it
    refused(second, token)
    assert second.shared_hits == 0


def test_a_key_replaced_under_the_same_kid_vouches_for_nothing_it_did_not_sign(sibling, keys, claims, server):
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims())
    first.verify(token)
    server.publish(keys["es_other"], keys["rs"])  # a new key under the old kid, es-1
    refused(second, token)
    assert second.shared_hits == 0
    assert second.verify(keys["es_other"].sign(claims()))  # what the new key signed passes


def test_a_key_set_refreshed_while_a_token_was_checked_binds_it_to_the_key_that_checked_it(
        issuer, server, clock, table, keys, claims):
    # The refresh lands between the signature check and the vouch (another thread's revalidation): the entry
    # must name the old key, which its siblings no longer hold under that kid.
    jwks = JwksCache(server.url, clock=clock)
    first = TokenVerifier(issuer, jwks, clock=clock, shared=table)
    check = first._verify_uncached

    def check_then_refresh(token, now):
        checked = check(token, now)
        server.publish(keys["es_other"], keys["rs"])
        jwks.refresh()
        return checked

    first._verify_uncached = check_then_refresh
    token = keys["es"].sign(claims(exp=2**32 - 1))
    first.verify(token)
    second = TokenVerifier(issuer, JwksCache(server.url, clock=clock), clock=clock, shared=table)
    assert second.verify(keys["es_other"].sign(claims(iat=NOW - 1)))  # this header is known here now
    refused(second, token)
    assert second.shared_hits == 0


def _hs256(claims: dict, secret: str, **header) -> str:
    signing_input = b64json({"alg": "HS256", "typ": "JWT", **header}) + "." + b64url(json.dumps(claims))
    return signing_input + "." + b64url(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


def test_hs256_tokens_are_shared_only_between_workers_with_the_same_secret(issuer, server, clock, table, claims):
    def worker(secret: str) -> TokenVerifier:
        return TokenVerifier(issuer, JwksCache(server.url, clock=clock), secret, clock=clock, shared=table)

    token = _hs256(claims(), SECRET, kid="legacy")
    worker(SECRET).verify(token)
    sibling = worker(SECRET)
    assert sibling.verify(_hs256(claims(iat=NOW - 1), SECRET, kid="legacy"))
    assert sibling.verify(token) and sibling.shared_hits == 1
    other = worker("another-legacy-secret-of-32-or-more-bytes")
    assert other.verify(_hs256(claims(iat=NOW - 1), "another-legacy-secret-of-32-or-more-bytes", kid="legacy"))
    refused(other, token)
    assert other.shared_hits == 0


def test_a_jwks_entry_carrying_its_private_part_is_shared_like_any_key(sibling, server, keys, claims):
    # A misconfigured key set: PyJWK makes a private key of it and PyJWT verifies with it; sharing the token
    # must neither fail the request nor skip the binding.
    private_jwk = {**ECAlgorithm.to_jwk(keys["es"].private, as_dict=True), "kid": "es-1", "alg": "ES256"}
    server.publish(private_jwk, keys["rs"])
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims())
    assert first.verify(token).user_id
    assert second.verify(keys["es"].sign(claims(iat=NOW - 1)))
    assert second.verify(token).user_id and second.shared_hits == 1


class _CountingJwks(JwksCache):
    looked_up = 0

    def get_key(self, kid):
        self.looked_up += 1
        return super().get_key(kid)


def test_a_forgery_under_a_known_header_costs_no_more_key_look_ups_than_before(issuer, server, clock, table, keys,
                                                                            claims):
    jwks = _CountingJwks(server.url, clock=clock)
    worker = TokenVerifier(issuer, jwks, clock=clock, shared=table)
    verified = keys["es"].sign(claims())
    assert worker.verify(verified)
    header = verified.split(".")[0]
    jwks.looked_up = 0
    refused(worker, f"{header}.AAAAA.AA")  # refused at its payload, before any key is looked up
    refused(worker, f"{header}.{b64json(claims(iat=NOW - 2))}.{b64url(secrets.token_bytes(64))}")
    assert jwks.looked_up == 1  # the second one's signature check, and nothing from the shared path


def test_verifiers_with_other_settings_share_nothing(sibling, issuer, server, clock, table, keys, claims):
    token = keys["es"].sign(claims())
    sibling().verify(token)
    with_secret = sibling(hs256_secret=SECRET)
    assert with_secret.verify(token)  # verified in full
    assert (with_secret.shared_hits, with_secret.shared_misses) == (0, 1)
    other_table = TokenVerifier(issuer, JwksCache(server.url, clock=clock), clock=clock,
                                shared=SharedTokens(buckets=1 << 8))
    assert other_table.verify(token)
    assert other_table.shared_hits == 0


def test_no_cache_means_no_sharing(sibling, keys, claims):
    token = keys["es"].sign(claims())
    sibling().verify(token)
    uncached = sibling(cache_size=0)
    assert uncached.verify(token)
    assert (uncached.shared_hits, uncached.shared_misses) == (0, 0)


def test_the_smallest_cache_still_shares(sibling, keys, claims):
    # Sharing is off only without a cache (size 0); a cache of one entry is a cache.
    token = keys["es"].sign(claims())
    sibling().verify(token)
    small = sibling(cache_size=1)
    assert small.verify(keys["es"].sign(claims(iat=NOW - 1)))
    assert small.verify(token) and (small.shared_hits, small.shared_misses) == (1, 1)


def test_a_verifier_of_another_jwks_url_shares_nothing_even_where_it_serves_the_same_keys(
        issuer, server, clock, table, keys, claims):
    # The JWKS URL is one of the settings two verifiers must agree on (shared_tokens.py): a worker started
    # with another key source never trusts what the old one vouched for, even while both serve the same keys.
    token = keys["es"].sign(claims())
    TokenVerifier(issuer, JwksCache(server.url, clock=clock), clock=clock, shared=table).verify(token)
    mirror_url = server.base_url + "/other"  # the test server serves the same key set there
    mirror = TokenVerifier(issuer, JwksCache(mirror_url, clock=clock), clock=clock, shared=table)
    assert mirror.verify(keys["es"].sign(claims(iat=NOW - 1)))
    assert mirror.verify(token)  # in full
    assert (mirror.shared_hits, mirror.shared_misses) == (0, 2)


def test_with_the_hs256_secret_too_a_header_the_worker_never_verified_is_a_miss(issuer, server, clock, table,
                                                                               claims):
    # An unseen header has no kid known here; it must not be taken for the secret's (None) and looked up.
    def worker() -> TokenVerifier:
        return TokenVerifier(issuer, JwksCache(server.url, clock=clock), SECRET, clock=clock, shared=table)

    token = _hs256(claims(), SECRET)
    worker().verify(token)
    second = worker()
    assert second.verify(token)  # in full
    assert (second.shared_hits, second.shared_misses) == (0, 1)


def test_a_vouched_token_expired_since_is_expired_under_a_known_header_too(sibling, keys, claims, clock):
    # The claims decoded again on a hit are checked again: past its exp the token is told expired (401
    # token_expired), by the full verification, and the look-up counts as a miss.
    first, second = sibling(), sibling()
    token = keys["es"].sign(claims(exp=NOW + 100))
    first.verify(token)
    assert second.verify(keys["es"].sign(claims(iat=NOW - 1)))  # the header is known here
    clock.now = NOW + 100
    with pytest.raises(TokenExpired):
        second.verify(token)
    assert (second.shared_hits, second.shared_misses) == (0, 2)


def test_a_vouched_token_this_workers_own_claim_checks_refuse_is_refused_not_taken(sibling, keys, claims):
    # The leeway is not part of what siblings agree on: a token vouched for under a sibling's wider leeway is
    # judged again here, and refused (401, never a 500) when its iat is too far ahead for this worker.
    first, second = sibling(leeway_iat=30), sibling(leeway_iat=0)
    token = keys["es"].sign(claims(iat=NOW + 20))
    assert first.verify(token)
    assert second.verify(keys["es"].sign(claims()))  # the header is known here
    refused(second, token)
    assert (second.shared_hits, second.shared_misses) == (0, 2)


def test_the_shared_hits_and_misses_count_every_look_up(sibling, keys, claims):
    # Both are reported (cache_stats): each look-up of the table counts once, hits and misses alike.
    first, second = sibling(), sibling()
    tokens = [keys["es"].sign(claims(iat=NOW - n)) for n in range(3)]
    for token in tokens:
        first.verify(token)
    assert first.shared_misses == 3
    assert second.verify(keys["es"].sign(claims(iat=NOW - 9)))  # the header is known here
    for token in tokens:
        assert second.verify(token)
    assert (second.shared_hits, second.shared_misses) == (3, 1)


def test_a_worker_remembers_the_headers_of_at_most_64_kinds_of_token(sibling, keys, claims):
    # The header segments a worker verified are kept to make a header it never verified a miss for one
    # dictionary look-up; their number is bounded (64): past it, tokens of a new header are verified in full.
    first, second = sibling(), sibling()
    for n in range(64):
        assert second.verify(keys["es"].sign(claims(), x=n))
    assert second.verify(keys["es"].sign(claims(), x=64))  # the 65th header: verified, not remembered
    token = keys["es"].sign(claims(iat=NOW - 1), x=64)
    first.verify(token)
    assert second.verify(token)  # in full
    assert second.shared_hits == 0
    known = keys["es"].sign(claims(iat=NOW - 1), x=0)
    first.verify(known)
    assert second.verify(known) and second.shared_hits == 1  # the first 64 are remembered


# ------------------------------------------------------------------------------------ the table alone
def _digest() -> bytes:
    return hashlib.sha256(secrets.token_bytes(32)).digest()


def test_a_full_bucket_gives_up_the_entry_that_ends_first():
    table = SharedTokens(buckets=1)
    key = table.key_for(b"settings")
    digests = [_digest() for _ in range(WAYS + 1)]
    for ends, digest in zip((NOW + 500, NOW + 100, NOW + 400, NOW + 300, NOW + 200), digests):
        table.vouch(digest, key, ends, NOW)
    assert [table.vouched(digest, key, NOW) for digest in digests] == [True, False, True, True, True]


def test_an_entry_stands_until_its_end_and_only_for_its_key():
    table = SharedTokens(buckets=4)
    key, other_key = table.key_for(b"a"), table.key_for(b"b")
    digest = _digest()
    table.vouch(digest, key, NOW + 10, NOW)
    assert table.vouched(digest, key, NOW + 9.9)
    assert not table.vouched(digest, key, NOW + 10)
    assert not table.vouched(digest, other_key, NOW)
    assert not any(table.vouched(_digest(), key, NOW) for _ in range(1000))


def test_an_expired_entry_makes_room_before_a_live_one():
    table = SharedTokens(buckets=1)
    key = table.key_for(b"settings")
    digests = [_digest() for _ in range(WAYS)]
    for index, digest in enumerate(digests):
        table.vouch(digest, key, NOW + 1 if index == 2 else NOW + 1000, NOW)
    newcomer = _digest()
    table.vouch(newcomer, key, NOW + 1000, NOW + 5)
    assert [table.vouched(digest, key, NOW + 5) for digest in digests + [newcomer]] == [True, True, False, True, True]


def test_buckets_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        SharedTokens(buckets=3)
