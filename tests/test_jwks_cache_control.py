"""JwksCache: how long a fetched set stays fresh (Cache-Control or its absence), which published keys are
usable, and that an expired set is revalidated by one thread while the others keep being served."""
from __future__ import annotations

import json
import threading
import time
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from coner_api.errors import AuthUnavailable
from coner_api.sessions.jwks import JwksCache, http_fetch, parse_jwks
from tests.support.jwks import FakeClock, JwksServer, ec_key, rsa_key


@pytest.fixture(scope="module")
def keys():
    return {"a": ec_key("kid-a"), "r": rsa_key("kid-r")}


@pytest.fixture
def server(keys) -> Iterator[JwksServer]:
    server = JwksServer()
    server.publish(keys["a"])
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


def requests_after(server: JwksServer, cache: JwksCache, clock: FakeClock, seconds: float) -> int:
    """How many fetches a lookup of a known kid causes `seconds` after the first fetch."""
    cache.get_key("kid-a")
    before = server.requests
    clock.advance(seconds)
    assert cache.get_key("kid-a") is not None
    return server.requests - before


@pytest.mark.parametrize(("cache_control", "fresh_for"), [
    (None, 120.0),  # no Cache-Control at all: a good answer, fresh for max_age
    ("public", 120.0),  # no max-age in it: the same
    ("max-age=60", 60.0),
    ("public, max-age=\"30\", must-revalidate", 30.0),
    ("no-cache", 5.0),  # revalidate often, but not on every request: floored at 5 s
    ("private, No-Cache", 5.0),
    ("max-age=600, no-store", 5.0),
    ("max-age=0", 5.0),
    ("MAX-AGE=1000", 120.0),  # capped at max_age
])
def test_a_set_is_fresh_for_what_cache_control_allows_within_max_age(server, clock, cache_control, fresh_for):
    server.cache_control = cache_control
    assert requests_after(server, JwksCache(server.url, max_age=120, clock=clock), clock, fresh_for - 0.01) == 0
    assert requests_after(server, JwksCache(server.url, max_age=120, clock=clock), clock, fresh_for) == 1


def test_the_floor_is_never_above_max_age(server, clock):
    server.cache_control = "no-cache"
    cache = JwksCache(server.url, max_age=2, clock=clock)
    assert requests_after(server, cache, clock, 1.99) == 0
    assert requests_after(server, JwksCache(server.url, max_age=2, clock=clock), clock, 2) == 1


def test_a_fresh_set_is_dated_by_the_clock_at_the_fetch(server, clock):
    cache = JwksCache(server.url, max_age=60, max_stale=100, clock=clock)
    cache.refresh()
    assert cache.is_usable() and cache.kids == {"kid-a"}
    clock.advance(100)
    assert cache.is_usable()  # exactly max_stale old: still usable
    clock.advance(0.01)
    assert not cache.is_usable()
    server.stop()
    with pytest.raises(AuthUnavailable):
        cache.get_key("kid-a")


def test_nothing_is_usable_before_the_first_fetch(server, clock):
    cache = JwksCache(server.url, clock=clock)
    assert not cache.is_usable() and cache.kids == frozenset()


def p384_jwk(kid: str, **extra: str) -> dict:
    """A genuine P-384 public key, as a JWKS would list it."""
    jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def test_a_genuine_p384_key_is_not_usable_with_or_without_its_alg(keys):
    """Only P-256 (ES256) and RSA (RS256) keys verify: a well-formed P-384 key is skipped for its curve."""
    published = {"keys": [keys["a"].public_jwk, p384_jwk("p384-plain"), p384_jwk("p384-es384", alg="ES384"),
                          p384_jwk("p384-es256", alg="ES256")]}
    assert set(parse_jwks(published)) == {"kid-a"}


def test_the_algorithm_of_each_key_comes_from_its_type(keys):
    """Without an `alg` member the key's type decides: EC P-256 verifies ES256, RSA RS256."""
    ec_jwk = {k: v for k, v in keys["a"].public_jwk.items() if k != "alg"}
    rsa_jwk = {k: v for k, v in keys["r"].public_jwk.items() if k != "alg"}
    parsed = parse_jwks({"keys": [ec_jwk, rsa_jwk]})
    assert {kid: key.algorithm_name for kid, key in parsed.items()} == {"kid-a": "ES256", "kid-r": "RS256"}


def test_kids_of_1_to_128_characters_are_kept_others_skipped(keys, caplog):
    longest, too_long = "k" * 128, "k" * 129
    published = {"keys": [{**keys["a"].public_jwk, "kid": longest}, {**keys["r"].public_jwk, "kid": too_long},
                          {**keys["r"].public_jwk, "kid": ""}, {**keys["r"].public_jwk, "kid": ["list"]},
                          {**keys["r"].public_jwk, "kid": {"a": 1}}, {**keys["r"].public_jwk, "kid": "r"}]}
    assert set(parse_jwks(published)) == {longest, "r"}
    assert "twice" not in caplog.text  # no kid was listed twice
    assert set(parse_jwks({"keys": [keys["a"].public_jwk, keys["a"].public_jwk]})) == {"kid-a"}
    assert "JWKS lists kid 'kid-a' twice" in caplog.text


def test_for_supabase_keeps_the_options_and_strips_only_slashes():
    cache = JwksCache.for_supabase("http://127.0.0.1:9/prefiX//", timeout=1.5, max_age=30)
    assert cache.url == "http://127.0.0.1:9/prefiX/auth/v1/.well-known/jwks.json"
    assert (cache.timeout, cache.max_age) == (1.5, 30)


def test_refresh_fetches_again_even_when_a_fetch_is_in_flight(server, clock):
    """At start-up, `refresh()` means a fetch made now: it waits for one in flight, then makes its own."""
    cache = JwksCache(server.url, clock=clock)
    server.mode, server.slow_seconds = "slow", 1.0
    cold = threading.Thread(target=cache.get_key, args=("kid-a",))
    cold.start()
    try:
        wait_until(lambda: server.requests == 1)
        server.mode = "ok"  # for the next request; the one in flight stays slow
        cache.refresh()
        assert server.requests == 2 and cache.kids == {"kid-a"}
    finally:
        cold.join(5)


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_an_expired_set_is_served_at_once_while_one_thread_revalidates(server, clock, keys):
    cache = JwksCache(server.url, max_age=60, clock=clock)
    old_key = cache.get_key("kid-a")
    clock.advance(61)  # expired, well within max_stale
    server.mode, server.slow_seconds = "slow", 3.0
    revalidation = threading.Thread(target=cache.get_key, args=("kid-a",))
    revalidation.start()
    try:
        wait_until(lambda: server.requests == 2)  # the revalidating fetch is in flight, holding the lock
        started = time.monotonic()
        assert cache.get_key("kid-a") is old_key
        assert time.monotonic() - started < 1.0  # served without waiting for the slow fetch
        assert server.requests == 2  # and without a second fetch
    finally:
        server._release.set()  # let the slow answer go now
        revalidation.join(5)
    assert not revalidation.is_alive()


def test_refresh_gives_up_when_another_fetch_holds_the_lock_beyond_the_wait_bound(keys):
    """A fetch function that overruns its timeout (the default one cannot): waiters stop after
    2 × timeout + 1 s, and `refresh` says the set is not fresh."""
    release, calls = threading.Event(), []

    def stuck_fetch(url, timeout, max_bytes):
        calls.append(url)
        release.wait(10)
        return 200, {}, b'{"keys": []}'

    cache = JwksCache("http://127.0.0.1:9/jwks", timeout=2.0, fetch=stuck_fetch)
    cold = threading.Thread(target=cache.refresh)
    cold.start()
    try:
        wait_until(lambda: calls)
        started = time.monotonic()
        with pytest.raises(AuthUnavailable):
            cache.refresh()
        assert 5.0 <= time.monotonic() - started < 5.9  # 2 × 2 s + 1 s
        assert len(calls) == 1
    finally:
        release.set()
        cold.join(5)


def test_http_fetch_asks_for_json_and_reads_every_chunk_up_to_exactly_max_bytes(server):
    server.mode = "huge"  # ~200 KB: many chunks
    status, _, body = http_fetch(server.url, 3.0, 1_000_000)
    assert status == 200 and server.accept == "application/json"
    size = len(body)
    assert size > 200_000 and json.loads(body)["pad"] == "x" * 200_000
    assert http_fetch(server.url, 3.0, size)[2] == body  # exactly the cap (declared and read): fine
    server.mode = "ok"
    exact = len(json.dumps({"keys": server.keys}).encode())
    cache = JwksCache(server.url, max_bytes=exact)
    cache.refresh()
    assert cache.kids == {"kid-a"}


def test_the_defaults_and_the_limits_of_the_settings():
    cache = JwksCache("http://127.0.0.1:9/jwks")
    assert (cache.max_age, cache.cooldown, cache.max_stale, cache.retry_interval, cache.timeout,
            cache.max_bytes) == (600, 30, 3600, 5, 3, 64 * 1024)
    for options in ({"timeout": 5}, {"max_age": 0.5}, {"max_age": 60, "max_stale": 60}, {"cooldown": 0},
                    {"retry_interval": 0}, {"max_bytes": 1}):
        JwksCache("http://127.0.0.1:9/jwks", **options)  # all accepted
    for options in ({"retry_interval": -1}, {"max_bytes": 0}, {"cooldown": -1}, {"timeout": 5.01},
                    {"max_age": 0}):
        with pytest.raises(ValueError):
            JwksCache("http://127.0.0.1:9/jwks", **options)
