"""A user's own account at Supabase Auth, through the official client: the full record Supabase keeps of it,
a new password set from a session of the user's, an e-mail change asked for with the user's token, and the
codes that confirm it. Like `client` and `admin`, it answers with plain values and our own
exceptions.

PUT /user goes through the client's own request path (`_request`: its headers, API version and error
handling), as `supabase_admin.list_users` does: the client's `update_user` acts only on a session the client
holds itself (and refreshes it near its expiry), while these calls carry an access token we were handed.
Made while serving a request, they carry the end user's address in `Sb-Forwarded-For` (`SupabaseAuth.client`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from ..context import extension
from ..errors import (ApiError, Forbidden, InvalidCredentials, InvalidOtp, NotFound, SessionRevoked,
                     ValidationFailed)
from .client import SupabaseAuth
from .refusals import field_refused

# The user object's fields the data export shows (GoTrue's models.User as JSON; secrets never leave GoTrue).
ACCOUNT_FIELDS = ("id", "aud", "role", "email", "phone", "new_email", "new_phone", "created_at", "updated_at",
                  "confirmed_at", "email_confirmed_at", "phone_confirmed_at", "last_sign_in_at", "invited_at",
                  "confirmation_sent_at", "recovery_sent_at", "email_change_sent_at", "banned_until",
                  "deleted_at", "is_anonymous", "is_sso_user", "app_metadata", "user_metadata")
SAME_PASSWORD = "Must be different from the current password"
NEW_EMAIL_REFUSED = field_refused("new_email")


class MfaSessionRequired(Forbidden):
    """GoTrue's 401 insufficient_aal (user.go, UserUpdate): with MFA enabled, a new password or address needs
    a session verified with the second factor. Not a problem of the token itself, so not a 401 here."""

    message = "Forbidden: this change needs a session verified with multi-factor authentication"


# What PUT /user answers about the caller rather than the input: a session or user Supabase no longer has (a
# token our own checks let through), or MFA wanting a verified session.
_CALLER_REFUSED: dict[str, type[ApiError] | None] = {
    "session_not_found": SessionRevoked, "user_not_found": SessionRevoked,
    "insufficient_aal": MfaSessionRequired}


class SamePassword(ValidationFailed):
    """GoTrue's 422 same_password, reported on the field the client sent."""

    def __init__(self, **_: Any) -> None:
        super().__init__({"new_password": [SAME_PASSWORD]})


@dataclass(frozen=True)
class AccountRecord:
    """What Supabase Auth holds about one user: `fields` (ACCOUNT_FIELDS, timestamps as ISO 8601 strings as
    Supabase gives them), the identities and the MFA factors, each a plain mapping."""

    fields: Mapping[str, Any]
    identities: tuple[Mapping[str, Any], ...]
    factors: tuple[Mapping[str, Any], ...]

    @property
    def email(self) -> str:
        return self.fields.get("email") or ""

    @property
    def roles(self) -> list[str]:
        roles = (self.fields.get("app_metadata") or {}).get("roles")
        return [role for role in roles if isinstance(role, str)] if isinstance(roles, list) else []

    @property
    def providers(self) -> frozenset[str]:
        """The providers the user can sign in with (`email` once there is an e-mail/password identity)."""
        return frozenset(identity["provider"] for identity in self.identities)


def record_from(raw: Any) -> AccountRecord:
    data = raw.model_dump(mode="json")
    return AccountRecord(fields={name: data.get(name) for name in ACCOUNT_FIELDS},
                         identities=tuple(data.get("identities") or ()),
                         factors=tuple(data.get("factors") or ()))


@dataclass(frozen=True)
class ChangedEmail:
    """An e-mail change both addresses have confirmed: whose, and the address the account has now."""

    user_id: str
    email: str


class SupabaseAccount:
    """Calls about one user's own account, over `SupabaseAuth`'s connection."""

    def __init__(self, auth: SupabaseAuth) -> None:
        self.auth = auth

    def record(self, user_id: str) -> AccountRecord:
        """The account as Supabase holds it (admin API); NotFound once it is gone."""
        with self.auth.translated({"validation_failed": NotFound}):
            return record_from(self.auth.admin_client().get_user_by_id(user_id).user)

    def set_password(self, access_token: str, password: str, current_password: str) -> None:
        """PUT /user with a token of the user's session: GoTrue ends every other session of the user
        (models.User.UpdatePassword, LogoutAllExceptMe) and clears their pending one-time tokens.
        `current_password` is what a project with SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD asks
        for; GoTrue ignores it otherwise. Refusals of the new password are reported on `new_password`."""
        overrides = {**_CALLER_REFUSED, "same_password": SamePassword,
                     "current_password_required": InvalidCredentials,
                     "current_password_invalid": InvalidCredentials}
        try:
            with self.auth.translated(overrides):
                self._put_user(access_token, {"password": password, "current_password": current_password})
        except ValidationFailed as refused:
            details = refused.details or {}
            raise ValidationFailed({("new_password" if name == "password" else name): messages
                                    for name, messages in details.items()}) from refused

    def request_email_change(self, access_token: str, new_email: str) -> None:
        """PUT /user with the new address: GoTrue mails a code to it and, with secure e-mail change (its
        default), another to the current address (mail.go, sendEmailChange). An address another account
        holds (422 email_exists) and the per-user mail frequency are swallowed: either would tell the caller
        whether somebody else has that address."""
        overrides: dict[str, type[ApiError] | None] = {
            **_CALLER_REFUSED, "email_exists": None, "over_email_send_rate_limit": None,
            "validation_failed": NEW_EMAIL_REFUSED, "email_address_invalid": NEW_EMAIL_REFUSED,
            "email_address_not_authorized": NEW_EMAIL_REFUSED}
        with self.auth.translated(overrides):
            self._put_user(access_token, {"email": new_email})

    def confirm_email_change(self, email: str, token: str) -> ChangedEmail | None:
        """Verify a code of an e-mail change (type `email_change`). None when the change still waits for
        the other address's code (GoTrue's "Confirmation link accepted" answer, verify.go emailChangeVerify);
        otherwise the change is complete and its sign-in session, which nobody holds, is ended."""
        with self.auth.translated({"validation_failed": InvalidOtp}):
            response = self.auth.client().verify_otp({"type": "email_change", "email": email, "token": token})
        if response.user is None:
            return None
        self.auth.end_unheld_session(response.session)
        return ChangedEmail(user_id=str(response.user.id), email=response.user.email or email)

    def _put_user(self, access_token: str, body: Mapping[str, Any]) -> None:
        self.auth.client()._request("PUT", "user", jwt=access_token, body=dict(body))


def get_supabase_account() -> SupabaseAccount:
    return extension("coner.supabase_account")
