"""The Supabase JWKS, fetched over HTTP and cached per process, with stale-if-error.

Written on httpx rather than by wrapping `jwt.PyJWKClient`: even in 2.15.1 the client has no stale-if-error
(once `lifespan` passes, a failed fetch fails every verification), reads `time.monotonic` directly (no clock
to inject), holds one lock with no wait bound across the whole fetch, caps nothing in the response, ignores
`Cache-Control` and refuses an empty key set (which a Supabase HS256 project legitimately serves). Wrapping it
would mean overriding nearly every method, so only PyJWT's key parsing (`jwt.PyJWK`) is reused.

Policy, all in one place (`JwksCache`):
- fetched lazily on first use, or eagerly with `refresh()`; fresh for `min(max_age, Cache-Control max-age)`;
- an unknown `kid` refetches at most once per `cooldown`, counted between such kid-miss refetches: a key that
  signs tokens right after a rotation is found by one refetch, while a flood of random kids costs the
  endpoint at most one request per cooldown (plus the scheduled ones); fetches are single-flight;
- a failed fetch keeps serving the last good set for up to `max_stale` after it was fetched (default 1 h:
  long enough to ride out a Supabase Auth incident, short enough that a key revoked during one is not
  trusted for long; Supabase itself caches the JWKS for up to 20 min), retrying at most every
  `retry_interval`; without any usable set, lookups raise `AuthUnavailable` (503).
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from ..errors import AuthUnavailable

log = logging.getLogger(__name__)

JWKS_PATH = "/auth/v1/.well-known/jwks.json"
MAX_KID_LENGTH = 128
_MIN_TTL = 5.0  # a `max-age=0` or `no-cache` answer must not turn into one fetch per request
_MIN_RSA_BITS = 2048

# (url, timeout seconds, max body bytes) -> (status, headers, body). Raises on transport errors.
FetchFn = Callable[[str, float, int], "tuple[int, Mapping[str, str], bytes]"]


class JwksFetchError(Exception):
    """A JWKS fetch that produced no usable key set; internal, never leaves this module."""


def http_fetch(url: str, timeout: float, max_bytes: int) -> tuple[int, Mapping[str, str], bytes]:
    """GET `url` with httpx: no redirects, `timeout` per operation and overall, at most `max_bytes` read."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                return response.status_code, response.headers, b""
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise JwksFetchError(f"response declares {declared} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise JwksFetchError(f"response larger than {max_bytes} bytes")
                # httpx's timeout is per read; a server dripping bytes must not hold the fetch open.
                if time.monotonic() > deadline:
                    raise JwksFetchError("fetch deadline passed")
            return response.status_code, response.headers, bytes(body)


@dataclass(frozen=True)
class _KeySet:
    keys: Mapping[str, PyJWK]
    fetched_at: float
    ttl: float


def _expected_alg(jwk: Mapping[str, Any]) -> str | None:
    """The one algorithm a key may verify, from its type and curve (RFC 8725 §3.1); None = unsupported."""
    kty = jwk.get("kty")
    if kty == "EC" and jwk.get("crv") == "P-256":
        return "ES256"
    if kty == "RSA":
        return "RS256"
    return None


def parse_jwks(document: Any) -> dict[str, PyJWK]:
    """The usable signature keys of a JWKS document, by kid; raises `JwksFetchError` if it is no JWKS.

    Keys that are not for signatures, have no usable kid, are symmetric or of an unsupported type, or whose
    `alg` disagrees with their type are skipped (an empty result is valid: HS256 projects publish no key).
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError("not a JWKS document")
    keys: dict[str, PyJWK] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH or kid in keys:
            if isinstance(kid, str) and kid in keys:
                log.warning("JWKS lists kid %r twice; keeping the first", kid)
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        key_ops = jwk.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            continue
        alg = _expected_alg(jwk)
        if alg is None:
            continue  # oct keys (never published by Supabase), other curves, OKP
        if "alg" in jwk and jwk["alg"] != alg:
            log.warning("JWKS key %r declares alg %r but is a %s key; skipped", kid, jwk["alg"], alg)
            continue
        try:
            parsed = PyJWK(jwk, algorithm=alg)
        except (PyJWTError, ValueError, TypeError) as error:
            log.warning("JWKS key %r is unusable: %s", kid, error)
            continue
        if alg == "RS256" and parsed.key.key_size < _MIN_RSA_BITS:
            log.warning("JWKS key %r is a %d-bit RSA key; skipped", kid, parsed.key.key_size)
            continue
        keys[kid] = parsed
    return keys


_MAX_AGE_RE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


def _header_max_age(headers: Mapping[str, str]) -> float | None:
    """The response's `Cache-Control: max-age` in seconds (`no-cache`/`no-store` count as 0)."""
    value = next((v for k, v in headers.items() if k.lower() == "cache-control"), None)
    if not value:
        return None
    if re.search(r"\bno-(?:cache|store)\b", value, re.IGNORECASE):
        return 0.0
    match = _MAX_AGE_RE.search(value)
    return float(match.group(1)) if match else None


class JwksCache:
    """The signing keys published at one JWKS URL, by kid. Thread-safe; one instance per process."""

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 600.0,
        cooldown: float = 30.0,
        max_stale: float = 3600.0,
        retry_interval: float = 5.0,
        timeout: float = 3.0,
        max_bytes: int = 64 * 1024,
        clock: Callable[[], float] = time.monotonic,
        fetch: FetchFn = http_fetch,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("JWKS URL must be an absolute http(s) URL")
        if not 0 < timeout <= 5:
            raise ValueError("JWKS fetch timeout must be in (0, 5] seconds")
        if not 0 < max_age <= max_stale or cooldown < 0 or retry_interval < 0 or max_bytes <= 0:
            raise ValueError("JWKS cache durations must satisfy 0 < max_age <= max_stale, others >= 0")
        self.url = url
        self.max_age, self.cooldown, self.max_stale = max_age, cooldown, max_stale
        self.retry_interval, self.timeout, self.max_bytes = retry_interval, timeout, max_bytes
        self._clock, self._fetch = clock, fetch
        self._current: _KeySet | None = None  # replaced whole, so readers need no lock
        self._last_attempt: float | None = None
        self._last_kid_miss: float | None = None  # start of the last refetch caused by an unknown kid
        self._last_failed = False
        self._attempts = 0
        self._fetch_lock = threading.Lock()  # single flight
        # Waiters give up after one fetch's worth of time plus slack; the fetch itself is bounded.
        self._wait_bound = 2 * timeout + 1.0

    @classmethod
    def for_supabase(cls, supabase_url: str, **options: Any) -> JwksCache:
        """The cache for `{SUPABASE_URL}/auth/v1/.well-known/jwks.json`."""
        return cls(supabase_url.rstrip("/") + JWKS_PATH, **options)

    # ------------------------------------------------------------------ lookups
    def get_key(self, kid: str) -> PyJWK | None:
        """The key for `kid`, or None if the JWKS does not list it; raises `AuthUnavailable` (503) when no
        key set younger than `max_stale` is available."""
        attempts_seen = self._attempts
        now = self._clock()
        current = self._current
        if current is None or now - current.fetched_at >= current.ttl:
            # Cold: everyone waits for the one fetch. Expired but usable: whoever gets the lock
            # revalidates, the others keep serving the old set meanwhile.
            if self._retry_allowed(now):
                must_wait = current is None or not self._usable(current, now)
                self._fetch_single_flight(attempts_seen, wait=must_wait)
            current = self._usable_set()
        key = current.keys.get(kid)
        if key is not None:
            return key
        # A fetch in flight may bring the kid: wait for it rather than refuse (this adds no fetch).
        if self._fetch_lock.locked():
            self._fetch_single_flight(attempts_seen, wait=True)
            return self._usable_set().keys.get(kid)
        if self._last_kid_miss is None or now - self._last_kid_miss >= self.cooldown:
            self._last_kid_miss = now
            self._fetch_single_flight(attempts_seen, wait=True)
            return self._usable_set().keys.get(kid)
        if self._attempts != attempts_seen:  # a fetch finished since we looked
            return self._usable_set().keys.get(kid)
        return None  # within the cooldown an unknown kid stays unknown

    def peek(self, kid: str) -> PyJWK | None:
        """The key for `kid` in the key set held now while within its max-age, else None: no fetch, no wait
        (None wherever `get_key` would have to fetch to be sure)."""
        current = self._current
        if current is None or self._clock() - current.fetched_at >= current.ttl:
            return None
        return current.keys.get(kid)

    def refresh(self) -> None:
        """Fetch the key set now (e.g. at start-up); raises `AuthUnavailable` if this fetch fails (any
        previous set stays in use within `max_stale`)."""
        if not self._fetch_single_flight(self._attempts, wait=True, force=True):
            raise AuthUnavailable()

    def is_usable(self) -> bool:
        """True when a key set no older than `max_stale` is cached (for readiness checks)."""
        current = self._current
        return current is not None and self._usable(current, self._clock())

    @property
    def kids(self) -> frozenset[str]:
        """The key ids of the cached set (empty before the first fetch)."""
        current = self._current
        return frozenset(current.keys) if current else frozenset()

    # ----------------------------------------------------------------- internals
    def _usable(self, key_set: _KeySet, now: float) -> bool:
        return now - key_set.fetched_at <= self.max_stale

    def _usable_set(self) -> _KeySet:
        current = self._current
        if current is None or not self._usable(current, self._clock()):
            raise AuthUnavailable()
        return current

    def _retry_allowed(self, now: float) -> bool:
        """After a failure, wait `retry_interval` before trying again, so an outage costs one slow fetch
        per interval instead of one per request."""
        return not (self._last_failed and self._last_attempt is not None
                    and now - self._last_attempt < self.retry_interval)

    def _fetch_single_flight(self, attempts_seen: int, *, wait: bool, force: bool = False) -> bool:
        """Fetch unless another thread fetched since `attempts_seen` (then reuse its outcome). Returns
        whether the set is now fresh from a successful fetch."""
        acquired = self._fetch_lock.acquire(timeout=self._wait_bound) if wait else self._fetch_lock.acquire(False)
        if not acquired:
            return False
        try:
            if self._attempts != attempts_seen and not force:
                return not self._last_failed
            self._last_attempt = self._clock()
            try:
                self._current = self._fetch_key_set()
                self._last_failed = False
                return True
            except Exception as error:  # any failure must leave the last good set in place
                self._last_failed = True
                stale = "serving the cached set" if self._current else "no key set cached"
                log.warning("JWKS fetch from %s failed (%s: %s); %s", self.url,
                            type(error).__name__, error, stale)
                return False
            finally:
                # Counted on completion, after `_current` is set: a thread that saw the old count
                # waited for this fetch and reuses its outcome instead of fetching again.
                self._attempts += 1
        finally:
            self._fetch_lock.release()

    def _fetch_key_set(self) -> _KeySet:
        status, headers, body = self._fetch(self.url, self.timeout, self.max_bytes)
        if status != 200:
            raise JwksFetchError(f"HTTP {status}")
        if len(body) > self.max_bytes:
            raise JwksFetchError(f"response larger than {self.max_bytes} bytes")
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise JwksFetchError("response is not JSON") from error
        keys = parse_jwks(document)
        ttl = self.max_age
        header_age = _header_max_age(headers)
        if header_age is not None:
            ttl = max(min(ttl, header_age), min(_MIN_TTL, self.max_age))
        return _KeySet(keys=keys, fetched_at=self._clock(), ttl=ttl)
