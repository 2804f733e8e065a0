"""Multi-factor calls to Supabase Auth, through the official client's `auth.mfa` API (enroll, challenge and
verify, unenroll, the user's factors) and its admin API (`admin.mfa.list_factors`). Like `client` and
`supabase_admin`, callers get plain values and our own exceptions, never a Supabase payload.

The client's MFA calls act for the signed-in session it holds, so each request signs a throw-away client in
with the caller's access token (`set_session`: one `GET /user`, which also brings the user's factors; the
refresh token is not needed and never known here). The client refreshes a token within `EXPIRY_MARGIN`
seconds of its expiry by itself, which it cannot do without the refresh token: such a token is answered
TOKEN_EXPIRED, as if it had expired, so that the app refreshes first.

Supabase's MFA error codes (GoTrue internal/api/apierrors/errorcode.go, raised by internal/api/mfa.go) map to
ours per call, below.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from supabase_auth.constants import EXPIRY_MARGIN

from ..context import extension
from ..errors import (ApiError, Conflict, Forbidden, InvalidOtp, MfaRequired, NotFound, SessionRevoked,
                     TokenExpired, Unauthorized)
from .client import SupabaseAuth
from .results import TokenSet, has_verified_factor, iso_time

class FactorNotFound(NotFound):
    """No such factor of the caller's: every route that names one says so in the same words."""

    message = "Factor not found"


class FactorNameTaken(Conflict):
    """mfa.go, enrollTOTPFactor: the caller already has a factor of that friendly name."""

    message = "A factor with this friendly name already exists"


class TooManyFactors(Conflict):
    """mfa.go, validateFactors: the caller has as many factors as Supabase allows
    (MFA_MAX_ENROLLED_FACTORS)."""

    message = "Too many factors: remove one before enrolling another"


# Signing the client in (GoTrue auth.go, requireAuthentication, through GET /user): a session Supabase ended
# (a logout, or mfa.go deleting the user's aal1 sessions when a factor is verified) is a revoked session here.
_SESSION = {"session_not_found": SessionRevoked, "user_not_found": Unauthorized}
# mfa.go, EnrollFactor / validateFactors.
_ENROLL = {**_SESSION, "insufficient_aal": MfaRequired, "too_many_enrolled_mfa_factors": TooManyFactors,
           "mfa_factor_name_conflict": FactorNameTaken, "mfa_totp_enroll_not_enabled": Forbidden}
# mfa.go, ChallengeFactor / VerifyFactor / validateChallenge / verifyTOTPFactor: every way a code can fail is
# the contract's INVALID_OTP; a factor that is not the caller's is NOT_FOUND (admin.go, loadFactor).
_VERIFY = {**_SESSION, "mfa_verification_failed": InvalidOtp, "mfa_challenge_expired": InvalidOtp,
           "mfa_ip_address_mismatch": InvalidOtp, "mfa_factor_not_found": FactorNotFound,
           "mfa_verification_rejected": Forbidden, "mfa_totp_verify_not_enabled": Forbidden}
# mfa.go, UnenrollFactor.
_UNENROLL = {**_SESSION, "insufficient_aal": MfaRequired, "mfa_factor_not_found": FactorNotFound}


@dataclass(frozen=True)
class Factor:
    """One MFA factor of a user, as Supabase lists it."""

    id: str
    factor_type: str
    status: str  # "verified" or "unverified"
    friendly_name: str | None
    created_at: str | None

    @property
    def verified(self) -> bool:
        return self.status == "verified"


@dataclass(frozen=True)
class Enrolment:
    """A TOTP factor just enrolled (unverified until its first code is verified)."""

    factor_id: str
    friendly_name: str | None
    secret: str
    uri: str


def _factor(raw: Any) -> Factor:
    return Factor(id=str(raw.id), factor_type=raw.factor_type, status=raw.status,
                  friendly_name=raw.friendly_name or None, created_at=iso_time(raw.created_at))


class MfaSession:
    """The official client signed in with one caller's access token; `factors` are theirs as of sign-in."""

    def __init__(self, auth: SupabaseAuth, access_token: str, expires_at: int) -> None:
        if expires_at - time.time() <= EXPIRY_MARGIN:
            raise TokenExpired()
        self.auth = auth
        self.client = auth.client()
        with auth.translated(_SESSION):
            response = self.client.set_session(access_token, "")
        self.factors = [_factor(factor) for factor in response.user.factors or ()]

    def _calls(self, overrides: Mapping[str, type[ApiError] | None]):
        return self.auth.translated(overrides)

    def enroll(self, issuer: str, friendly_name: str | None) -> Enrolment:
        params: dict[str, Any] = {"factor_type": "totp", "issuer": issuer}
        if friendly_name:
            params["friendly_name"] = friendly_name
        with self._calls(_ENROLL):
            response = self.client.mfa.enroll(params)  # type: ignore[arg-type]
        return Enrolment(factor_id=str(response.id), friendly_name=response.friendly_name or None,
                         secret=response.totp.secret, uri=response.totp.uri)

    def verify(self, factor_id: str, code: str) -> TokenSet:
        """A new challenge and its verification in one go; the session's next tokens (aal2)."""
        with self._calls(_VERIFY):
            response = self.client.mfa.challenge_and_verify({"factor_id": factor_id, "code": code})
        expires_in = int(response.expires_in)
        return TokenSet(access_token=response.access_token, refresh_token=response.refresh_token,
                        expires_in=expires_in, expires_at=int(time.time()) + expires_in,
                        user_id=str(response.user.id), email=response.user.email or "",
                        verified_factor=has_verified_factor(response.user))

    def unenroll(self, factor_id: str) -> None:
        with self._calls(_UNENROLL):
            self.client.mfa.unenroll({"factor_id": factor_id})


class SupabaseMfa:
    """MFA calls to one Supabase project's Auth server, over `SupabaseAuth`'s connection."""

    def __init__(self, auth: SupabaseAuth) -> None:
        self.auth = auth

    def session(self, access_token: str, expires_at: int) -> MfaSession:
        return MfaSession(self.auth, access_token, expires_at)

    def has_verified_factor(self, user_id: str) -> bool:
        """Whether the user has a verified factor, from the admin API (GET /admin/users/{id}/factors). A user
        Supabase does not know has none: refusing their tokens is the revocation's job, not this one's."""
        with self.auth.translated({"user_not_found": None}):
            return any(factor.status == "verified"
                       for factor in self.auth.admin_client().mfa.list_factors({"user_id": user_id}))
        return False


def get_supabase_mfa() -> SupabaseMfa:
    return extension("coner.supabase_mfa")
