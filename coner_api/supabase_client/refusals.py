"""Supabase Auth's error codes and what each becomes in our answers (docs/api.md, "Errors")."""
from __future__ import annotations

from typing import Any

from ..errors import (AccountSuspended, ApiError, Conflict, EmailExists, EmailNotConfirmed, Forbidden,
                      InvalidCredentials, InvalidOtp, InvalidRefreshToken, NotFound, RateLimited, Unauthorized,
                      ValidationFailed)


class UpstreamRefused(ValidationFailed):
    """Supabase's own input check failed and its error code does not say which field (GoTrue answers
    `validation_failed` for several): reported for the body as a whole, never guessed."""

    def __init__(self, **_: Any) -> None:
        super().__init__({"_schema": ["Refused by the authentication service"]})


def field_refused(field_name: str) -> type[ApiError]:
    """Supabase's own input check failed (say, an address it finds invalid that ours let through)."""

    class UpstreamValidation(ValidationFailed):
        def __init__(self, **_: Any) -> None:
            super().__init__({field_name: ["Rejected by the authentication service"]})

    return UpstreamValidation


# Supabase Auth error code -> our answer. An unlisted code on a 400/422 is an input Supabase refused for a
# reason it does not name (UpstreamRefused); on any other status it is a fault we cannot explain (logged, 500).
ERROR_CODES: dict[str, type[ApiError]] = {
    "invalid_credentials": InvalidCredentials,
    "email_not_confirmed": EmailNotConfirmed,
    "user_banned": AccountSuspended,
    "user_already_exists": EmailExists,
    "email_exists": EmailExists,
    "refresh_token_not_found": InvalidRefreshToken,
    "refresh_token_already_used": InvalidRefreshToken,
    "session_expired": InvalidRefreshToken,
    "session_not_found": InvalidRefreshToken,
    "otp_expired": InvalidOtp,
    "flow_state_not_found": InvalidOtp,
    "flow_state_expired": InvalidOtp,
    "bad_code_verifier": InvalidOtp,
    "user_not_found": NotFound,
    "bad_jwt": Unauthorized,
    "no_authorization": Unauthorized,
    "not_admin": Forbidden,
    "signup_disabled": Forbidden,
    "email_provider_disabled": Forbidden,
    "over_request_rate_limit": RateLimited,
    "over_email_send_rate_limit": RateLimited,
    "conflict": Conflict,
    # Codes that name the e-mail address (GoTrue internal/api/apierrors/errorcode.go).
    "email_address_invalid": field_refused("email"),
    "email_address_not_authorized": field_refused("email"),
}


def quiet_mail_errors() -> dict[str, type[ApiError] | None]:
    return {"over_email_send_rate_limit": None, "user_not_found": None, "email_not_confirmed": None,
            "validation_failed": field_refused("email")}
