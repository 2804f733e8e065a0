"""Tokens verified by any worker of this server, in memory the workers share, so that each token's signature
is checked once per server rather than once per worker (docs/architecture.md, "Caches").

Each worker keeps its own cache of verified tokens (tokens.py), bounded by memory: ~740 bytes an entry, 12,000
by default. A server's workers each see every user (connections, not users, are spread over them), so with
more users than that every worker verified each token again, and on a miss the ES256 signature alone costs
~100 µs on the machines we measure on (README, "Performance"). This table remembers, in 16 bytes a token,
that a sibling has verified it; a worker that finds a token here decodes its claims again (~20 µs) instead of
checking its signature.

A slot is a 12-byte tag and the 4-byte time (whole seconds) until which the entry stands: the token's `exp`.
The tag is a keyed BLAKE2b of the token's SHA-256 and of the key that verified it (the SHA-256 of the JWKS
key's public form, or "HS256" for the legacy secret); the BLAKE2b key is drawn at random when the table is
made, and mixed by each verifier with what it verifies against (issuer, JWKS URL, HS256 secret), so that:
- no one outside the server can compute a tag, let alone forge a token to match one: a tampered token has
  another digest, hence another tag;
- a worker looks its token up with the key its own JWKS holds under the token's kid now: a key withdrawn, or
  replaced under the same kid, vouches for nothing any more, as soon as this worker has the new key set;
- a worker started with other settings (a reload that changed them) never trusts what the old ones vouched
  for;
- a torn read (a slot being written by a sibling as it is read) yields a tag that matches nothing.

What the table cannot say (it holds no claims) is decoded and checked again on every hit, from the token
itself: the claims, `exp` included. A bucket of 4 slots per tag
position; a full bucket gives up its entry that ends first. Losing an entry only costs a verification.

Made in the gunicorn master before it forks (`prepare`, from gunicorn.conf.py), like shared_stamps.py; a
process that was not forked from a prepared master gets a private table (tests, `flask run`).
"""
from __future__ import annotations

import hashlib
import mmap
import secrets
import struct

SLOT = 16
TAG = 12
WAYS = 4  # slots per bucket: 64 bytes, one cache line
# 65,536 buckets of 4: 262,144 tokens, 4 MB shared by the workers (each counts the pages it touched in its RSS).
BUCKETS = 1 << 16
_UNTIL = struct.Struct("<I")


class SharedTokens:
    """The table; `vouch` after a full verification, `vouched` before one. Process- and thread-safe in the
    sense above: concurrent writers may overwrite each other's entries, never make one match wrongly."""

    def __init__(self, buckets: int = BUCKETS) -> None:
        if buckets <= 0 or buckets & (buckets - 1):
            raise ValueError("buckets must be a power of two")
        self._memory = mmap.mmap(-1, buckets * WAYS * SLOT)  # MAP_SHARED | MAP_ANONYMOUS
        self._view = memoryview(self._memory)
        self._mask = buckets - 1
        self._secret = secrets.token_bytes(32)

    def key_for(self, *settings: bytes) -> bytes:
        """The tag key of a verifier with these settings: two verifiers share entries only when they agree."""
        mixed = hashlib.blake2b(digest_size=32, key=self._secret)
        for setting in settings:
            mixed.update(len(setting).to_bytes(4, "big") + setting)
        return mixed.digest()

    def _bucket(self, digest: bytes) -> int:
        return (int.from_bytes(digest[:4], "little") & self._mask) * WAYS * SLOT

    @staticmethod
    def _tag(digest: bytes, key: bytes) -> bytes:
        return hashlib.blake2b(digest, digest_size=TAG, key=key).digest()

    def vouched(self, digest: bytes, key: bytes, now: float) -> bool:
        """Whether a verifier with `key` has vouched for the token of this SHA-256 digest, until after `now`."""
        start = self._bucket(digest)
        bucket = bytes(self._view[start:start + WAYS * SLOT])
        tag = self._tag(digest, key)
        for offset in range(0, WAYS * SLOT, SLOT):
            if bucket[offset:offset + TAG] == tag:
                return _UNTIL.unpack_from(bucket, offset + TAG)[0] > now
        return False

    def vouch(self, digest: bytes, key: bytes, until: int, now: float) -> None:
        """Record that the token of this digest verified, for a verifier with `key`, until `until` (its exp)."""
        until = min(until, 0xFFFFFFFF)
        start = self._bucket(digest)
        bucket = bytes(self._view[start:start + WAYS * SLOT])
        tag = self._tag(digest, key)
        victim, soonest = 0, None
        for offset in range(0, WAYS * SLOT, SLOT):
            if bucket[offset:offset + TAG] == tag:
                victim = offset
                break
            ends = _UNTIL.unpack_from(bucket, offset + TAG)[0]
            if ends <= now:  # free, or expired
                victim = offset
                break
            if soonest is None or ends < soonest:
                victim, soonest = offset, ends
        self._view[start + victim:start + victim + SLOT] = tag + _UNTIL.pack(until)


_shared: SharedTokens | None = None


def prepare() -> SharedTokens:
    """Make this process's table, to be inherited by the processes it forks; a second call (gunicorn reads its
    configuration again on SIGHUP) keeps the first, which running workers still use."""
    global _shared
    if _shared is None:
        _shared = SharedTokens()
    return _shared


def get() -> SharedTokens:
    """The table this process shares with its siblings (its own if none was prepared before the fork)."""
    return prepare()
