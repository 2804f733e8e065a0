"""The flows behind /auth/mfa: enrol a TOTP factor, verify a code (a new aal2 session), list and remove factors
(docs/api.md, "Two-factor sign-in"). Every factor lives in Supabase Auth and is changed only through the
official client (`supabase_mfa`); the route guard's view of who has one is `status`.

Decisions where the contract is silent:
- A code is accepted once. Supabase alone does not ensure it: each verification here is a new challenge, and
  GoTrue checks a TOTP code against the time window only (internal/api/mfa.go, verifyTOTPFactor, 30 s steps
  with one step of skew either side), refusing a replay only within one challenge (validateChallenge). So
  the code is claimed in `mfa_used_codes` (its SHA-256 with the factor id, never the code) before Supabase
  sees it, kept `USED_CODE_SECONDS` (longer than any code stays current), and released if the verification
  fails, so that a code refused for an outage can be tried again. A replay is 401 INVALID_OTP like a wrong
  code. This is the only MFA-related row the API writes; nothing about a factor is stored here.
- Enrolling removes the caller's earlier TOTP enrolments that were never verified (an abandoned QR code), so
  that starting again always works; a user with a verified factor must be at aal2 to enrol another
  (Supabase's rule, checked here first so that nothing is removed before the refusal).
- Removing a verified factor ends the user's other sessions: Supabase signs them out (scope `others`) and
  the user's logout cutoff refuses every access token issued until then, the caller's included; the
  caller's refresh token stays valid, so the app refreshes and carries on (at aal1). Removing a factor that
  was never verified ends nothing.
- The QR code is a PNG data URI made here (segno), not Supabase's SVG: mobile image views show PNG natively.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from ..db import get_db
from ..errors import InvalidOtp, MfaRequired
from ..sessions import Claims, get_revocations, get_verifier
from ..supabase_client import TokenSet, get_supabase_auth
from ..supabase_client.mfa import Factor, FactorNotFound, get_supabase_mfa
from . import status

# The name authenticator apps show above the code (the otpauth:// URI's issuer).
ISSUER = "Coner"
# A TOTP code is current for at most 90 s (three 30 s steps); remembered twice as long.
USED_CODE_SECONDS = 180
QR_SCALE = 5  # pixels per module: about 200 px square for an enrolment URI


class CodeAlreadyUsed(InvalidOtp):
    message = "Invalid or already used code"


def _verified(factors: list[Factor]) -> bool:
    return any(factor.verified for factor in factors)


def _session(claims: Claims, access_token: str):
    """The caller's Supabase session and what it says about their factors (noted for the guard)."""
    seen = status.generation()
    session = get_supabase_mfa().session(access_token, claims.exp)
    status.note(claims.user_id, _verified(session.factors), seen)
    return session


def enroll(claims: Claims, access_token: str, friendly_name: str | None) -> dict[str, Any]:
    session = _session(claims, access_token)
    if _verified(session.factors) and claims.aal < 2:
        raise MfaRequired()
    for factor in session.factors:
        if factor.factor_type == "totp" and not factor.verified:
            session.unenroll(factor.id)
    enrolment = session.enroll(ISSUER, friendly_name)
    import segno  # here, not at start-up: only enrolment draws a QR code (~0.8 MB a worker)

    return {"factor_id": enrolment.factor_id, "type": "totp", "friendly_name": enrolment.friendly_name,
            "secret": enrolment.secret, "uri": enrolment.uri,
            "qr_code": segno.make(enrolment.uri, error="m").png_data_uri(scale=QR_SCALE)}


def list_factors(claims: Claims, access_token: str) -> list[dict[str, Any]]:
    return [{"id": factor.id, "type": factor.factor_type, "friendly_name": factor.friendly_name,
             "status": factor.status, "created_at": factor.created_at}
            for factor in _session(claims, access_token).factors]


def verify(claims: Claims, access_token: str, factor_id: str, code: str) -> TokenSet:
    """Check a code; the session's new tokens (aal2). The first code of a factor completes its enrolment."""
    db = get_db()
    claim = {"factor_id": factor_id, "code_digest": hashlib.sha256(f"{factor_id}:{code}".encode()).digest(),
             "seconds": USED_CODE_SECONDS}
    if db.fetch_one("mfa_claim_code", claim) is None:
        raise CodeAlreadyUsed()
    try:
        session = _session(claims, access_token)
        tokens = session.verify(factor_id, code)
    except BaseException:
        db.execute("mfa_release_code", claim)
        raise
    db.execute("mfa_purge_used_codes")
    if not _verified(session.factors):
        # The user's first verified factor: every process must stop taking their aal1 tokens.
        status.changed(claims.user_id, True)
    # The exact expiry, and this process's token cache warmed for the client's next request.
    return dataclasses.replace(tokens, expires_at=get_verifier().verify(tokens.access_token).exp)


def unenroll(claims: Claims, access_token: str, factor_id: str) -> None:
    session = _session(claims, access_token)
    factor = next((factor for factor in session.factors if factor.id == factor_id), None)
    if factor is None:
        raise FactorNotFound()
    if not factor.verified:
        session.unenroll(factor_id)
        return
    if claims.aal < 2:
        raise MfaRequired()
    # Sessions first: if removing the factor then fails, the request can be repeated after a refresh.
    get_supabase_auth().sign_out(access_token, "others")
    get_revocations().logout_everywhere(claims.user_id, claims.email)
    session.unenroll(factor_id)
    if not _verified([other for other in session.factors if other.id != factor_id]):
        status.changed(claims.user_id, False)
