"""TOTP as GoTrue makes and checks it: github.com/pquerna/otp v1.4.0 (totp.Generate, totp.ValidateCustom,
hotp) with the options internal/api/mfa.go passes (enrollTOTPFactor, verifyTOTPFactor), and the enrolment QR
code as an SVG document (GoTrue draws it with goqrsvg; here segno, so the drawing differs, the content does not).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
import struct
import time
from urllib.parse import quote

import segno

PERIOD = 30  # totp.Generate's default, and ValidateOpts.Period in verifyTOTPFactor
DIGITS = 6  # otp.DigitsSix
SKEW = 1  # ValidateOpts.Skew: one step either side
SECRET_BYTES = 20  # GenerateOpts.SecretSize's default
_PATH_SEGMENT = "$&+:=@"  # what Go's url.PathEscape leaves as it is, beside letters, digits and "-._~"


def new_secret() -> str:
    """totp.Generate: 20 random bytes, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def key_uri(secret: str, issuer: str, account: str) -> str:
    """otp.Key.URL() of totp.Generate: otpauth://totp/<issuer>:<account>, the query encoded by otp's
    internal.EncodeQuery (url.Values.Encode with PathEscape: keys sorted, a space as %20, "$&+:=@" kept), the
    path escaped as Go's url.URL.EscapedPath does (":@$&+,;=/" kept)."""
    values = {"algorithm": "SHA1", "digits": str(DIGITS), "issuer": issuer, "period": str(PERIOD),
              "secret": secret}
    query = "&".join(f"{quote(key, safe=_PATH_SEGMENT)}={quote(value, safe=_PATH_SEGMENT)}"
                     for key, value in sorted(values.items()))
    return f"otpauth://totp/{quote(f'{issuer}:{account}', safe=':@$&+,;=/')}?{query}"


def _code(key: bytes, counter: int) -> str:
    """hotp.GenerateCodeCustom: HMAC-SHA1 of the big-endian counter, dynamic truncation, 6 digits."""
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** DIGITS).zfill(DIGITS)


def _key(secret: str) -> bytes:
    # hotp.ValidateCustom: upper-cased, padding restored, then base32-decoded.
    secret = secret.strip().upper()
    return base64.b32decode(secret + "=" * (-len(secret) % 8))


def validate(code: str, secret: str, now: float | None = None) -> bool:
    """totp.ValidateCustom: the code of the current step, then one step after and one before. A code of
    another length never matches (hotp's ErrValidateInputInvalidLength)."""
    if len(code) != DIGITS:
        return False
    step = int((time.time() if now is None else now) // PERIOD)
    key = _key(secret)
    return any(hmac.compare_digest(_code(key, counter), code)
               for counter in (step, step + SKEW, step - SKEW))


def qr_svg(uri: str) -> str:
    """The URI as an SVG document (qr.Encode at level H, as mfa.go asks for)."""
    buffer = io.BytesIO()
    segno.make(uri, error="h").save(buffer, kind="svg", scale=3, xmldecl=True)
    return buffer.getvalue().decode()
