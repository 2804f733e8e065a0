"""JwksCache against a local HTTP endpoint: caching, cooldown, single flight, rotation, stale-if-error."""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Iterator

import pytest

from coner_api.errors import AuthUnavailable
from coner_api.sessions.jwks import JwksCache, JwksFetchError, http_fetch, parse_jwks
from tests.support.jwks import FakeClock, JwksServer, ec_key, rsa_key

TIMEOUT = 0.5  # fetches expected to fail are bounded by this; working ones get the default 3 s
FAILURES = ["error", "hang", "drip", "garbage", "redirect", "huge", "huge_unsized", "stopped"]


@pytest.fixture(scope="module")
def keys():
    return {"a": ec_key("kid-a"), "b": ec_key("kid-b"), "r": rsa_key("kid-r")}


@pytest.fixture
def server(keys) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(keys["a"], keys["r"])
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def cache(server: JwksServer, clock: FakeClock) -> JwksCache:
    return JwksCache(server.url, clock=clock)


@pytest.fixture
def impatient_cache(server: JwksServer, clock: FakeClock) -> JwksCache:
    return JwksCache(server.url, clock=clock, timeout=TIMEOUT)


def test_fetched_lazily_once_then_cached(server, cache, clock):
    assert server.requests == 0
    assert cache.get_key("kid-a").algorithm_name == "ES256"
    assert cache.get_key("kid-r").algorithm_name == "RS256"
    clock.advance(599)
    assert cache.get_key("kid-a") is not None
    assert server.requests == 1
    assert cache.kids == {"kid-a", "kid-r"}


def test_refresh_fetches_eagerly(server, cache):
    cache.refresh()
    assert server.requests == 1 and cache.is_usable()
    cache.get_key("kid-a")
    assert server.requests == 1


def test_for_supabase_builds_the_jwks_url(server):
    cache = JwksCache.for_supabase(server.base_url + "/")
    assert cache.url == server.url
    assert cache.get_key("kid-a") is not None


def test_refetched_after_max_age(server, cache, clock):
    cache.get_key("kid-a")
    clock.advance(600)
    cache.get_key("kid-a")
    assert server.requests == 2


def test_shorter_cache_control_max_age_is_honoured(server, clock):
    server.cache_control = "public, max-age=60"
    cache = JwksCache(server.url, clock=clock)
    cache.get_key("kid-a")
    clock.advance(59)
    cache.get_key("kid-a")
    assert server.requests == 1
    clock.advance(1)
    cache.get_key("kid-a")
    assert server.requests == 2


def test_longer_cache_control_is_capped_and_no_cache_is_floored(server, clock):
    server.cache_control = "max-age=86400"
    cache = JwksCache(server.url, clock=clock, max_age=100)
    cache.get_key("kid-a")
    clock.advance(100)
    cache.get_key("kid-a")
    assert server.requests == 2
    server.cache_control = "no-cache"
    clock.advance(100)
    cache.get_key("kid-a")  # fetched with no-cache: still kept a few seconds, not refetched per lookup
    cache.get_key("kid-a")
    assert server.requests == 3


def test_unknown_kid_refetches_once_then_is_unknown(server, cache, clock):
    cache.get_key("kid-a")
    assert cache.get_key("kid-unknown") is None
    assert server.requests == 2  # mirrors PyJWT's test_get_jwt_set_refresh_cache
    clock.advance(29)
    assert cache.get_key("kid-unknown") is None
    assert server.requests == 2


def test_burst_of_unknown_kids_costs_one_fetch_per_cooldown(server, cache, clock):
    cache.get_key("kid-a")

    def burst() -> None:
        results: list[object] = []
        threads = [threading.Thread(target=lambda i=i: results.append(cache.get_key(f"random-{i}")))
                   for i in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        assert results == [None] * 200

    burst()
    assert server.requests == 2  # the first unknown kid refetches once; the other 199 wait or are refused
    clock.advance(29)
    burst()
    assert server.requests == 2  # within the cooldown of that kid-miss refetch
    clock.advance(1)
    burst()
    assert server.requests == 3
    clock.advance(10)
    burst()
    assert server.requests == 3


def test_cold_cache_fetch_is_single_flight(server, cache):
    server.mode = "slow"
    found: list[object] = []
    threads = [threading.Thread(target=lambda: found.append(cache.get_key("kid-a"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(found) == 20 and all(key is not None for key in found)
    assert server.requests == 1


def test_unknown_kid_waits_for_a_fetch_in_flight(server, cache, clock, keys):
    cache.get_key("kid-a")
    server.publish(keys["a"], keys["b"], keys["r"])
    server.mode = "slow"
    clock.advance(600)
    revalidation = threading.Thread(target=cache.get_key, args=("kid-a",))
    revalidation.start()
    deadline = time.monotonic() + 5
    while server.requests < 2 and time.monotonic() < deadline:  # until the revalidation is in flight
        time.sleep(0.005)
    assert cache.get_key("kid-b") is not None  # within the cooldown, yet not refused
    revalidation.join(5)
    assert server.requests == 2


def test_key_rotation(server, cache, clock, keys):
    cache.get_key("kid-a")
    server.publish(keys["a"], keys["b"], keys["r"])  # a new key appears right after a fetch
    assert cache.get_key("kid-b") is not None       # one refetch finds it, no cooldown wait
    assert cache.get_key("kid-a") is not None  # the old key is still listed
    assert server.requests == 2
    server.publish(keys["b"], keys["r"])  # old key removed
    clock.advance(600)
    assert cache.get_key("kid-a") is None
    assert server.requests == 3
    assert cache.get_key("kid-b") is not None


@pytest.mark.parametrize("failure", FAILURES)
def test_failed_fetch_keeps_serving_known_keys(server, impatient_cache, clock, failure, caplog):
    cache = impatient_cache
    cache.get_key("kid-a")
    if failure == "stopped":
        server.stop()
    server.mode = failure
    clock.advance(601)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="coner_api.sessions.jwks"):
        assert cache.get_key("kid-a") is not None
    assert time.monotonic() - started < 2 * TIMEOUT + 1
    assert "JWKS fetch" in caplog.text and "serving the cached set" in caplog.text
    assert cache.get_key("kid-r") is not None
    assert cache.is_usable()


@pytest.mark.parametrize("failure", FAILURES)
def test_cold_cache_with_failing_fetch_is_unavailable_within_the_timeout(server, impatient_cache, failure):
    cache = impatient_cache
    if failure == "stopped":
        server.stop()
    server.mode = failure
    started = time.monotonic()
    with pytest.raises(AuthUnavailable) as raised:
        cache.get_key("kid-a")
    assert time.monotonic() - started < 2 * TIMEOUT + 1
    assert raised.value.status == 503 and raised.value.code == "AUTH_UNAVAILABLE"
    assert not cache.is_usable()


def test_stale_beyond_max_stale_is_unavailable(server, cache, clock):
    cache.get_key("kid-a")
    server.mode = "error"
    clock.advance(3600)
    assert cache.get_key("kid-a") is not None
    clock.advance(1)
    with pytest.raises(AuthUnavailable):
        cache.get_key("kid-a")
    server.mode = "ok"
    clock.advance(5)
    assert cache.get_key("kid-a") is not None  # recovers once the endpoint does


def test_failures_are_retried_at_most_every_retry_interval(server, cache, clock):
    server.mode = "error"
    for _ in range(10):
        with pytest.raises(AuthUnavailable):
            cache.get_key("kid-a")
    assert server.requests == 1
    clock.advance(5)
    server.mode = "ok"
    assert cache.get_key("kid-a") is not None
    assert server.requests == 2


def test_refresh_failure_raises_but_keeps_the_last_good_set(server, cache):
    cache.refresh()
    server.mode = "error"
    with pytest.raises(AuthUnavailable):
        cache.refresh()
    assert cache.get_key("kid-a") is not None
    assert server.requests == 2


def test_empty_key_set_is_valid(server, cache):
    server.publish()  # what an HS256-only Supabase project serves
    assert cache.get_key("kid-a") is None
    assert cache.is_usable() and cache.kids == frozenset()


def test_injected_fetch_function():
    calls: list[tuple[str, float, int]] = []
    jwk = ec_key("kid-x").public_jwk

    def fetch(url: str, timeout: float, max_bytes: int):
        calls.append((url, timeout, max_bytes))
        return 200, {"Cache-Control": "max-age=10"}, json.dumps({"keys": [jwk]}).encode()

    clock = FakeClock(0)
    cache = JwksCache("https://example.test/jwks.json", fetch=fetch, clock=clock)
    assert cache.get_key("kid-x") is not None
    clock.advance(10)
    cache.get_key("kid-x")
    assert calls == [("https://example.test/jwks.json", 3.0, 65536)] * 2


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/jwks", "data:,{}",
                                 "example.com/jwks",
                                 "https:///jwks.json", ""])
def test_only_http_urls(url):
    with pytest.raises(ValueError):
        JwksCache(url)


@pytest.mark.parametrize("options", [{"timeout": 6}, {"timeout": 0}, {"max_age": 0}, {"max_stale": 10},
                                     {"cooldown": -1}])
def test_bad_settings_are_refused(options):
    with pytest.raises(ValueError):
        JwksCache("https://example.test/jwks.json", **options)


def test_parse_jwks_keeps_only_well_formed_signature_keys(keys, caplog):
    ec_jwk, rsa_jwk = keys["a"].public_jwk, keys["r"].public_jwk
    small_rsa = rsa_key("kid-small", bits=1024).public_jwk
    p384 = {**ec_jwk, "crv": "P-384", "kid": "kid-384"}
    document = {"keys": [
        ec_jwk,
        rsa_jwk,
        {**ec_jwk, "kid": "kid-a", "x": rsa_jwk["n"]},  # duplicate kid: first wins
        {**ec_jwk, "kid": "ec-says-rs", "alg": "RS256"},
        {**rsa_jwk, "kid": "rs-says-es", "alg": "ES256"},
        {**rsa_jwk, "kid": "rs-says-ps", "alg": "PS256"},
        {**ec_jwk, "kid": "ec-says-hs", "alg": "HS256"},
        {**ec_jwk, "kid": "enc", "use": "enc"},
        {**ec_jwk, "kid": "sign-only", "key_ops": ["sign"]},
        {k: v for k, v in ec_jwk.items() if k != "kid"},
        {**ec_jwk, "kid": 7},
        {**ec_jwk, "kid": "k" * 129},
        {"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "oct", "alg": "HS256"},
        p384,
        {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed"},
        {**ec_jwk, "kid": "broken", "x": "AAAA"},
        small_rsa,
        "not a key",
        {k: v for k, v in ec_jwk.items() if k not in ("alg", "use", "key_ops")} | {"kid": "no-alg"},
    ]}
    parsed = parse_jwks(document)
    assert sorted(parsed) == ["kid-a", "kid-r", "no-alg"]
    assert parsed["kid-a"].algorithm_name == "ES256" and parsed["no-alg"].algorithm_name == "ES256"
    assert parsed["kid-r"].algorithm_name == "RS256"


@pytest.mark.parametrize("document", [[], {"keys": {}}, {"nokeys": []}, "x", None])
def test_not_a_jwks_document_is_a_failed_fetch(document):
    def fetch(url, timeout, max_bytes):
        return 200, {}, json.dumps(document).encode()

    with pytest.raises(AuthUnavailable):
        JwksCache("https://example.test/jwks.json", fetch=fetch).get_key("kid")


@pytest.mark.parametrize("mode", ["huge", "huge_unsized"])
def test_http_fetch_stops_reading_at_the_size_cap(server, mode):
    server.mode = mode
    with pytest.raises(JwksFetchError):
        http_fetch(server.url, 3.0, 1000)
