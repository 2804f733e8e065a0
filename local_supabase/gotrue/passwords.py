"""Password policy (6 bytes minimum, 72 bytes maximum) and hashing with a deliberately cheap scrypt."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

from .apierrors import bad_request, weak_password

MIN_LENGTH = 6
MAX_BYTES = 72
# Low cost on purpose: the stand-in holds test and developer accounts, and tests must stay fast.
_N, _R, _P = 2 ** 12, 8, 1


def is_too_short(password: str) -> bool:
    """GoTrue password.go, checkPasswordStrength: Go's len() counts UTF-8 bytes, not characters."""
    return len(password.encode()) < MIN_LENGTH


def check_policy(password: str) -> None:
    """GoTrue password.go, checkPasswordStrength: too long is 400 (72 bytes, bcrypt's limit, though the
    message says characters), too short 422 weak_password; an empty password is simply too short."""
    if len(password.encode()) > MAX_BYTES:
        raise bad_request(f"Password cannot be longer than {MAX_BYTES} characters")
    if is_too_short(password):
        raise weak_password(f"Password should be at least {MIN_LENGTH} characters.", ["length"])


def hash_password(password: str) -> str:
    """A salted scrypt hash in a self-describing `scrypt$N$r$p$salt$digest` string."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(),
                     base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored scrypt hash."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))
