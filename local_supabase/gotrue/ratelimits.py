"""Rate limits as GoTrue applies them: token buckets per client IP and endpoint, and the e-mail budget.

- Buckets: GoTrue internal/api/apilimiter/apilimiter.go, New (tollbooth limiters: `rate / 300` tokens a
  second, a burst of 30, one bucket per key, replaced by a full one an hour after it
  was made: a minute for the MFA buckets), applied by internal/api/middleware.go, limitHandler /
  performRateLimiting, which answers 429 `over_request_rate_limit` "Request rate limit reached". Which bucket
  guards which route: internal/api/api.go (router) and token.go, Token (one bucket for every grant, checked
  after the grant type).
- The key is the client IP: the first `Sb-Forwarded-For` value when it parses as an IP (internal/sbff/sbff.go,
  parseSBFFHeader), else the address the gateway saw (hosted GoTrue reads it from GOTRUE_RATE_LIMIT_HEADER;
  here the peer). The hosted gateway lets `Sb-Forwarded-For` through only with a secret key, so here it
  counts only when `apikey` is the service-role key.
- The e-mail budget: internal/ratelimit/interval.go, IntervalLimiter (N e-mails per hour for the whole
  project), checked by mail.go, sendEmail, only while autoconfirm is off; 429 `over_email_send_rate_limit`
  "email rate limit exceeded".
State lives in this process, as GoTrue keeps it in each instance.
"""
from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass, field

from flask import request

from .apierrors import GoTrueError
from .settings import Settings

FIVE_MINUTES = 5 * 60
BURST = 30
# Buckets of the OTP family (RATE_LIMIT_OTP): each route has a bucket of its own.
OTP_BUCKETS = ("signups", "recover", "resend", "otp", "magiclink", "user")
MFA_BUCKETS = ("factor_challenge", "factor_verify")
# How long tollbooth keeps a key's bucket (ExpirableOptions.DefaultExpirationTTL in apilimiter.go, New): an
# hour, a minute for the MFA buckets. Counted from the bucket's creation, not its last use: tollbooth v5,
# limiter/limiter.go, limitReachedWithTokenBucketTTL, `Set`s a bucket only when `Get` finds none, and go-cache
# does not extend an entry on reads; so TTL after creation a full bucket replaces it.
KEY_TTL = 3600.0
MFA_KEY_TTL = 60.0


class TokenBucket:
    """golang.org/x/time/rate's limiter, one per key: starts full, refills `per_second`, holds `burst`, and is
    replaced by a full one `ttl` seconds after it was made (tollbooth's expiring bucket)."""

    def __init__(self, per_second: float, burst: int = BURST, ttl: float = KEY_TTL) -> None:
        self.per_second = per_second
        self.burst = burst
        self.ttl = ttl
        self._keys: dict[str, tuple[float, float, float]] = {}  # key: (tokens, last take, created)
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Take one token from `key`'s bucket; False when it is empty."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, stamp, created = self._keys.get(key, (float(self.burst), now, now))
            if now - created >= self.ttl:
                tokens, stamp, created = float(self.burst), now, now
            tokens = min(float(self.burst), tokens + (now - stamp) * self.per_second)
            allowed = tokens >= 1.0
            self._keys[key] = (tokens - 1.0 if allowed else tokens, now, created)
            if len(self._keys) > 10_000:
                self._keys = {k: v for k, v in self._keys.items() if now - v[2] < self.ttl}
            return allowed


class IntervalLimiter:
    """GoTrue internal/ratelimit/interval.go, IntervalLimiter: `events` per `interval`, reset each one."""

    def __init__(self, events: int, interval: float = 3600.0) -> None:
        self.events = events
        self.interval = interval
        self.last = time.monotonic()
        self.count = 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Count one event; False once this interval's events are used up."""
        with self._lock:
            now = time.monotonic()
            elapsed = int((now - self.last) // self.interval)
            if elapsed > 0:
                self.last += elapsed * self.interval
                self.count = 0
            if self.count < self.events:
                self.count += 1
                return True
            return False


@dataclass
class RateLimits:
    """The stand-in's limiters; `enabled` False (LOCAL_AUTH_RATE_LIMITS=off) lets everything through."""

    enabled: bool
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    email_sent: IntervalLimiter | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimits":
        """GoTrue's apilimiter.New with the stand-in's settings."""
        buckets = {"token": TokenBucket(settings.rate_limit_token_refresh / FIVE_MINUTES),
                   "verify": TokenBucket(settings.rate_limit_verify / FIVE_MINUTES)}
        buckets.update({name: TokenBucket(settings.rate_limit_otp / FIVE_MINUTES) for name in OTP_BUCKETS})
        # FactorChallenge and FactorVerify: RATE_LIMIT_CHALLENGE_AND_VERIFY per minute, a bucket each.
        buckets.update({name: TokenBucket(settings.rate_limit_mfa / 60, ttl=MFA_KEY_TTL) for name in MFA_BUCKETS})
        return cls(enabled=settings.rate_limits, buckets=buckets,
                   email_sent=IntervalLimiter(int(settings.rate_limit_email_sent)))

    def check(self, bucket: str, service_role_key: str) -> None:
        """429 over_request_rate_limit when the caller's bucket for this route is empty."""
        if self.enabled and not self.buckets[bucket].allow(client_ip(service_role_key)):
            raise GoTrueError(429, "over_request_rate_limit", "Request rate limit reached")

    def check_email_sent(self, autoconfirm: bool) -> None:
        """GoTrue mail.go, sendEmail: the project's hourly e-mail budget, only while autoconfirm is off."""
        if not self.enabled or autoconfirm or self.email_sent is None:
            return
        if self.email_sent.events <= 0 or not self.email_sent.allow():
            raise GoTrueError(429, "over_email_send_rate_limit", "email rate limit exceeded")


def forwarded_ip(raw: str) -> str | None:
    """GoTrue sbff.go, parseSBFFHeader: the first comma-separated value, if it is an IP (as Go prints it)."""
    candidate = raw.split(",", 1)[0].strip()
    if "%" in candidate:  # Go's net.ParseIP takes no IPv6 zone
        return None
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def client_ip(service_role_key: str) -> str:
    """The key of the caller's buckets: `Sb-Forwarded-For` from a service-role caller, else the peer."""
    presented = request.headers.get("apikey") or request.args.get("apikey") or ""
    header = request.headers.get("Sb-Forwarded-For", "")
    if header and presented == service_role_key:
        forwarded = forwarded_ip(header)
        if forwarded is not None:
            return forwarded
    return request.remote_addr or ""
