"""Verification of Supabase access tokens, with a bounded in-process cache of verified tokens.

Key selection follows GoTrue's own verifier (`internal/api/auth.go`, `parseJWTClaims`): an HS256 token is
checked against the legacy secret, and only when that secret is configured, whether or not it carries a kid
(a project that moved to signing keys keeps issuing HS256 tokens with the legacy key's kid until it
rotates); any other token needs a kid, checked against that key from the JWKS. Each key verifies with
exactly one algorithm, taken from the key (RFC 8725 §3.1); the header's `alg` must merely equal it.

Only what this API issues sessions for is accepted: tokens of anonymous sign-ins (`is_anonymous: true`) and
of third-party OAuth clients (a `client_id` claim) are refused, as are segments that are not strict, canonical
base64url (compact JWS has no padding, RFC 7515 §2).

PyJWT parses the keys (`PyJWK`) and checks the signature (its algorithm objects, over `cryptography`); the
segments, the header and the registered claims are checked here, once. `jwt.decode` would decode every segment
a second time behind a byte-by-byte alphabet check in Python (PyJWT 2.15): ~190 µs per new ES256 token
against ~100 this way, of which ~70 is the signature itself. What it checked is checked here too (the
`require`d claims, one exact `iss`, strict `aud`, a string `jti`, the key length, canonical base64url) and
tested in tests/tokens/.

Verified tokens are cached by the SHA-256 of the whole token until `min(exp, verified + cache_ttl)`, so a hit
costs a hash and a dict lookup, never an `exp` overrun, and a key withdrawn from the JWKS stops vouching for
cached tokens within `cache_ttl`. Refusals are not cached: a kid unknown now may be published a moment later.

Revocation (logout cutoffs, revoked sessions) and the Flask decorator are built on `TokenVerifier` elsewhere.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import Algorithm, HMACAlgorithm

from ..caches import BoundedCache
from ..errors import ApiError, TokenExpired, Unauthorized
from .jwks import MAX_KID_LENGTH, JwksCache
from ..shared_tokens import SharedTokens

log = logging.getLogger(__name__)

AUDIENCE = "authenticated"
USER_ROLE = "authenticated"
MAX_TOKEN_LENGTH = 8192  # Supabase tokens are ~1 KB; the cap bounds what an unauthenticated request costs
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NOT_TEXT = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # in a claim that is text: refused
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token (the scheme is case-insensitive; compared apart, because
# a case-insensitive pattern over a ~1 KB token costs five times as much on every request).
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Headers that fetch or embed keys (SSRF, CVE-2018-0114), demand extensions (CVE-2026-32597), or belong to
# JWE/RFC 7797 forms we never accept.
_FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64", "zip", "enc", "epk", "p2s", "p2c"})
_ASYMMETRIC_ALGS = frozenset({"ES256", "RS256"})
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "role"]
# GoTrue's levels (internal/models/sessions.go, AuthenticatorAssuranceLevel); a token without `aal` is aal1.
_AAL_LEVELS = {"aal1": 1, "aal2": 2, "aal3": 3}
_HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)
_UNSEEN = object()
_HEADERS_KEPT = 64  # distinct header segments (one per kid and form) and key objects a verifier remembers


@dataclass(frozen=True, slots=True)
class Claims:
    """A verified user access token. Instances are shared through the cache, one per token: slots (no dict per
    instance), and the role and role tuples shared between tokens (`_shared_roles`), so that an entry of the
    cache costs what its unique strings cost (docs/architecture.md, "Caches", measures it)."""

    user_id: str  # canonical lower-case UUID
    email: str | None
    role: str
    session_id: str | None
    iat: int
    exp: int
    roles: tuple[str, ...]  # the strings in app_metadata.roles
    # The authenticator assurance level, from `aal`: 1 (one factor: password, OAuth, e-mail link), 2 after a
    # second factor (TOTP), 3 reserved by GoTrue. A small int: cheap to keep in every cached entry.
    aal: int = 1
    # When the session's user last proved who they are: the newest `amr` timestamp (a refresh keeps it).
    auth_time: int | None = None


# Role lists seen so far, each kept once: there are a handful of distinct ones, and each token would otherwise
# bring its own tuple and strings. Bounded: past the cap, tuples are simply not shared.
_ROLE_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = {}
_ROLE_TUPLES_MAX = 256


def _shared_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    shared = _ROLE_TUPLES.get(roles)
    if shared is None:
        shared = roles
        if len(_ROLE_TUPLES) < _ROLE_TUPLES_MAX:
            _ROLE_TUPLES[roles] = roles
    return shared


def bearer_token(header_value: str | None) -> str:
    """The token in an `Authorization: Bearer <token>` header value; raises `Unauthorized` otherwise.

    The scheme is case-insensitive and may be followed by one or more spaces (RFC 6750); surrounding blanks
    are ignored. Other schemes, an empty or non-ASCII value and more than one token are refused.
    """
    if not isinstance(header_value, str) or not header_value.isascii():
        raise Unauthorized()
    scheme, _, rest = header_value.strip(" \t").partition(" ")
    token = rest.lstrip(" ")
    if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
        raise Unauthorized()
    return token


class _Reject(Exception):
    """An internal "this token is not acceptable" with the reason, for debug logs; becomes `Unauthorized`."""


def _b64_bytes(segment: str, what: str) -> bytes:
    """Strict base64url: the URL alphabet, no padding (RFC 7515 §2), and canonical: the unused bits of the last
    character are zero, so that one token has one spelling (the cache is keyed by the spelling)."""
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise _Reject(f"{what} is not base64url")
    padded = segment + "=" * (-len(segment) % 4)
    decoded = base64.urlsafe_b64decode(padded)
    if base64.urlsafe_b64encode(decoded) != padded.encode("ascii"):
        raise _Reject(f"{what} is not canonical base64url")
    return decoded


def _unpadded_b64(segment: str) -> bytes:
    """A segment already found strict and canonical (`_b64_bytes`) where it was first verified."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _b64_json(segment: str, what: str) -> Any:
    """Strict base64url -> strict UTF-8 (RFC 8725 §3.7) -> JSON without duplicate members."""
    decoded = _b64_bytes(segment, what)
    try:
        return json.loads(decoded.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _Reject(f"{what} is not UTF-8 JSON: {error}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on duplicate members (last wins here, first elsewhere): refuse the ambiguity.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _optional(payload: dict[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    if value is not None and type(value) is not kind:
        raise _Reject(f"{name} is not a {kind.__name__}")
    return value


def _auth_time(amr: Any) -> int | None:
    """The newest timestamp of the `amr` claim, or None without one. GoTrue writes a {method, timestamp} entry
    per way the session's user signed in (models.Session.CalculateAALAndAMR), kept across refreshes: this is
    the time of the last sign-in, not of the token. Its parser also takes bare method names
    (tokens.AMRClaim), which carry no time and are skipped here; anything else is not Supabase's: refused."""
    if amr is None:
        return None
    if type(amr) is not list:
        raise _Reject("amr is not a list")
    newest = None
    for entry in amr:
        if type(entry) is str:
            continue
        if type(entry) is not dict or type(entry.get("method")) is not str \
                or type(entry.get("timestamp")) is not int:
            raise _Reject("amr entry is not {method, timestamp}")
        newest = entry["timestamp"] if newest is None else max(newest, entry["timestamp"])
    return newest


class TokenVerifier:
    """Checks Supabase user access tokens and returns their `Claims`. Thread-safe; one per process."""

    def __init__(
        self,
        issuer: str,
        jwks: JwksCache,
        hs256_secret: str | None = None,
        leeway_iat: int = 30,
        cache_size: int = 10_000,
        *,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.time,
        shared: SharedTokens | None = None,
    ) -> None:
        if not issuer:
            raise ValueError("issuer is required")
        if hs256_secret is not None and len(hs256_secret.encode()) < 32:
            raise ValueError("the HS256 secret must be at least 32 bytes (RFC 7518 §3.2)")
        if cache_size < 0 or cache_ttl < 0 or not 0 <= leeway_iat <= 300:
            raise ValueError("cache_size and cache_ttl must be >= 0, leeway_iat in [0, 300]")
        self.issuer = issuer
        self._jwks = jwks
        # PyJWT's preparation refuses a secret that is a PEM or SSH public key (algorithm confusion).
        self._secret = _HS256.prepare_key(hs256_secret) if hs256_secret is not None else None
        self.leeway_iat = leeway_iat
        self.cache_size = cache_size
        # Caps how long a cached token outlives a key being withdrawn from the JWKS.
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._cache: BoundedCache[bytes, Claims] = BoundedCache(cache_size, cache_ttl, clock,
                                                                name="verified_tokens")
        # What this server's other workers verified (shared_tokens.py): off with the cache (size 0).
        self._shared = shared if cache_size > 0 else None
        self._shared_key = shared.key_for(issuer.encode(), jwks.url.encode(), (hs256_secret or "").encode()) \
            if shared is not None else b""
        self.shared_hits = self.shared_misses = 0
        # The header segments of tokens this process verified -> their kid (None: the HS256 secret), and a
        # fingerprint per key object: a hit decodes no header, and a token unlike any verified here is a miss
        # for the cost of a dictionary look-up (forged headers must not cost more than before).
        self._header_kids: dict[str, str | None] = {}
        self._bindings: dict[int, tuple[Any, bytes]] = {}

    def verify(self, token: str) -> Claims:
        """The claims of a valid user access token. Raises `TokenExpired` for an expired but otherwise valid
        token, `AuthUnavailable` when no JWKS can be had, and `Unauthorized` for anything else."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise Unauthorized()
        cache_key = hashlib.sha256(token.encode("ascii")).digest()
        now = self._clock()
        claims = self._cache.get(cache_key, now=now)
        if claims is not None:
            return claims
        claims = self._vouched_claims(token, cache_key, now) if self._shared is not None else None
        if claims is None:
            try:
                claims, kid, key = self._verify_uncached(token, now)
            except ApiError:
                raise
            except _Reject as reason:
                log.debug("token refused: %s", reason)
                raise Unauthorized() from None
            except Exception as error:  # the contract: a bad token is a 401, never a 500
                log.warning("token refused by an unexpected %s", type(error).__name__)
                raise Unauthorized() from None
            if self._shared is not None:
                self._vouch(token, cache_key, kid, key, claims.exp, now)
        # Until the token expires, at the latest cache_ttl from now.
        self._cache.put(cache_key, claims, expires_at=claims.exp, now=now)
        return claims

    def clear_cache(self) -> None:
        """Forget every verified token (e.g. when keys are known to be compromised)."""
        self._cache.clear()

    # ------------------------------------------------------------------ verification
    def _vouched_claims(self, token: str, cache_key: bytes, now: float) -> Claims | None:
        """The claims of a token a sibling worker verified (shared_tokens.py), decoded again without checking
        the signature: the exact token passed every check of `_verify_uncached` there, with the same settings
        and the very key this process holds under its kid now (a key withdrawn, or replaced under the same kid,
        vouches for nothing). Its claims are checked again (expiry). None when the table has no such entry, or
        anything is amiss: the full verification then decides."""
        claims = None
        header_segment, _, rest = token.partition(".")
        kid = self._header_kids.get(header_segment, _UNSEEN)
        try:
            if kid is not _UNSEEN:
                key = self._secret if kid is None else getattr(self._jwks.peek(kid), "key", None)
                if key is not None and self._shared.vouched(  # type: ignore[union-attr]
                        cache_key + self._binding(key), self._shared_key, now):
                    claims = self._claims(json.loads(_unpadded_b64(rest.partition(".")[0])), now)
        except Exception:  # noqa: BLE001 - expired since, JWKS unavailable: told by the full verification
            claims = None
        if claims is None:
            self.shared_misses += 1
        else:
            self.shared_hits += 1
        return claims

    def _vouch(self, token: str, cache_key: bytes, kid: str | None, key: Any, exp: int, now: float) -> None:
        """Tell the sibling workers that `token` verified with `key` (under `kid`; None: the HS256 secret). Best
        effort: the token is valid whatever happens here, and a failure only costs the siblings a check."""
        try:
            binding = self._binding(key)
            header_segment = token.partition(".")[0]
            if header_segment not in self._header_kids and len(self._header_kids) < _HEADERS_KEPT:
                self._header_kids[header_segment] = kid
            self._shared.vouch(cache_key + binding, self._shared_key, exp, now)  # type: ignore[union-attr]
        except Exception as error:  # noqa: BLE001
            log.warning("a verified token was not shared with the sibling workers: %s", type(error).__name__)

    def _binding(self, key: Any) -> bytes:
        """What a tag binds a token to: "HS256" for the secret (itself part of the shared key), else the
        SHA-256 of the JWKS key's public form, computed once per key object (one per key and fetch)."""
        if key is self._secret:
            return b"HS256"
        known = self._bindings.get(id(key))
        if known is None or known[0] is not key:
            if len(self._bindings) >= _HEADERS_KEPT:
                self._bindings.clear()  # keys of fetches long gone
            public_key = key.public_key() if hasattr(key, "public_key") else key  # a JWK may carry its private part
            public = public_key.public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
            known = self._bindings[id(key)] = (key, hashlib.sha256(public).digest())
        return known[1]

    def _verify_uncached(self, token: str, now: float) -> tuple[Claims, str | None, Any]:
        """The token's claims, and the kid (None: the HS256 secret) and key that verified it."""
        segments = token.split(".")
        if len(segments) != 3:  # compact JWS only; JWE has five (RFC 8725 §3.3)
            raise _Reject(f"{len(segments)} segments")
        header = _b64_json(segments[0], "header")
        if not isinstance(header, dict):
            raise _Reject("header is not a JSON object")
        payload = _b64_json(segments[1], "payload")
        if not isinstance(payload, dict):
            raise _Reject("payload is not a JSON object")
        signature = _b64_bytes(segments[2], "signature")
        forbidden = _FORBIDDEN_HEADERS.intersection(header)
        if forbidden:
            raise _Reject(f"header {sorted(forbidden)}")
        algorithm, key, name = self._resolve_key(header)
        if header.get("alg") != name:
            raise _Reject("alg differs from the key's algorithm")
        if algorithm.check_key_length(key):
            raise _Reject("key shorter than its algorithm's minimum")
        # PyJWT's algorithm checks the signature (for ES256: the raw r||s of RFC 7518 §3.4, its length, then
        # OpenSSL). Not `jwt.decode`: it decodes each segment again behind a per-byte check in Python (PyJWT
        # 2.15), ~50 µs per token, for what _b64_bytes has already refused.
        signing_input = token[: len(segments[0]) + 1 + len(segments[1])].encode("ascii")
        if not algorithm.verify(signing_input, key, signature):
            raise _Reject("signature does not verify")
        return self._claims(payload, now), (None if name == "HS256" else header["kid"]), key

    def _resolve_key(self, header: dict[str, Any]) -> tuple[Algorithm, Any, str]:
        """The verification algorithm, key and the one algorithm name that key verifies, chosen by the kid
        (never by the header's alg)."""
        if header.get("alg") == "HS256" or "kid" not in header:
            if self._secret is None:
                raise _Reject("HS256 or no kid, and no HS256 secret configured")
            return _HS256, self._secret, "HS256"
        kid = header["kid"]
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise _Reject("kid is not a short string")
        # Only an asymmetric alg can ever match a JWKS key: don't let `none` or HS256 cost a refetch.
        if header.get("alg") not in _ASYMMETRIC_ALGS:
            raise _Reject("alg not usable with a kid")
        jwk = self._jwks.get_key(kid)
        if jwk is None:
            raise _Reject("unknown kid")
        # A key made for its one algorithm (parse_jwks: P-256 for ES256, RSA of 2048 bits or more for RS256).
        return jwk.Algorithm, jwk.key, jwk.algorithm_name

    def _claims(self, payload: dict[str, Any], now: float) -> Claims:
        missing = [name for name in _REQUIRED_CLAIMS if payload.get(name) is None]
        if missing:
            raise _Reject(f"no {missing}")
        # Exactly one issuer and one audience, both strings (a list `aud` is refused, as PyJWT's strict_aud did).
        if type(payload["iss"]) is not str or payload["iss"] != self.issuer:
            raise _Reject("iss is not this project's")
        if type(payload["aud"]) is not str or payload["aud"] != AUDIENCE:
            raise _Reject("aud is not authenticated")
        if "jti" in payload and type(payload["jti"]) is not str:
            raise _Reject("jti is not a string")
        sub, role, exp, iat = payload["sub"], payload["role"], payload["exp"], payload["iat"]
        if not isinstance(sub, str) or not _UUID.fullmatch(sub):
            raise _Reject("sub is not a UUID")
        if role != USER_ROLE:  # anon / service_role API keys are JWTs too (security notes §0.3)
            raise _Reject("role is not authenticated")
        # PyJWT coerces with int(): "9999999999", 1.5 and true would pass. Only real integers do here.
        if type(exp) is not int or type(iat) is not int:
            raise _Reject("exp/iat are not integers")
        if iat > now + self.leeway_iat or iat > exp:
            raise _Reject("iat in the future")
        nbf = _optional(payload, "nbf", int)
        if nbf is not None and nbf > now + self.leeway_iat:
            raise _Reject("nbf in the future")
        session_id = _optional(payload, "session_id", str)
        if session_id is not None and not _UUID.fullmatch(session_id):
            raise _Reject("session_id is not a UUID")
        app_metadata = _optional(payload, "app_metadata", dict) or {}
        roles = app_metadata.get("roles")
        if _optional(payload, "is_anonymous", bool):
            raise _Reject("anonymous session")  # this API offers no anonymous sign-in
        if "client_id" in payload:
            raise _Reject("issued to an OAuth client")  # nor tokens for third-party OAuth clients
        email = _optional(payload, "email", str)
        if email is not None and _NOT_TEXT.search(email):
            # Supabase writes no such address; kept, it would reach Postgres (which takes no NUL) and logs.
            raise _Reject("email holds a control character or a lone surrogate")
        aal = _AAL_LEVELS.get(_optional(payload, "aal", str) or "aal1")
        if aal is None:
            raise _Reject("aal is not aal1, aal2 or aal3")  # a garbled one is not Supabase's
        claims = Claims(
            user_id=sub.lower(),
            email=email,
            role=USER_ROLE,  # equal to `role`, and shared
            session_id=session_id.lower() if session_id else None,
            iat=iat,
            exp=exp,
            roles=_shared_roles(tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ()),
            aal=aal,
            auth_time=_auth_time(payload.get("amr")),
        )
        # Last, so that only an otherwise valid token is told it expired. No leeway: exp is "on or after".
        if exp <= now:
            raise TokenExpired()
        return claims
