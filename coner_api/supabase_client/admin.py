"""Admin calls to Supabase Auth (service-role key), through the official client; like `client`, they
answer with plain values and our own exceptions."""
from __future__ import annotations

import logging
from typing import Any, Mapping

import httpx
from supabase_auth.types import UserList

from ..context import extension
from ..errors import InternalError, NotFound
from .client import SupabaseAuth
from .refusals import UpstreamRefused
from .results import AuthUser, user_from

log = logging.getLogger(__name__)


class SupabaseAdmin:
    """The admin API of one Supabase project's Auth server, over `SupabaseAuth`'s connection."""

    def __init__(self, auth: SupabaseAuth) -> None:
        self.auth = auth

    def set_password(self, user_id: str, password: str) -> None:
        """Set a new password; Supabase ends every session of the user."""
        self.update_user(user_id, {"password": password})

    def create_user(self, email: str, password: str, *, user_metadata: Mapping[str, Any] | None = None,
                          app_metadata: Mapping[str, Any] | None = None) -> AuthUser:
        """A confirmed user (no e-mail is sent)."""
        attributes: dict[str, Any] = {"email": email, "password": password, "email_confirm": True,
                                      "user_metadata": dict(user_metadata or {})}
        if app_metadata:
            attributes["app_metadata"] = dict(app_metadata)
        with self.auth.translated({"validation_failed": UpstreamRefused}):
            return user_from(self.auth.admin_client().create_user(attributes).user)

    def get_user(self, user_id: str) -> AuthUser:
        with self.auth.translated({"validation_failed": NotFound}):
            return user_from(self.auth.admin_client().get_user_by_id(user_id).user)

    def list_users(self, page: int, per_page: int, email_filter: str | None = None
                         ) -> tuple[list[AuthUser], int]:
        """One page of users (newest first) and the total. `list_users` drops GoTrue's `X-Total-Count`, so
        this sends the same request through the client's own request path (`_request`: its headers, API
        version and error handling) and reads the header too: page and total come from one answer."""
        query = {"page": page, "per_page": per_page, **({"filter": email_filter} if email_filter else {})}
        with self.auth.translated():
            response = self.auth.admin_client()._request("GET", "admin/users", query=httpx.QueryParams(query))
            users = UserList.model_validate_json(response.content).users
        try:
            total = int(response.headers["X-Total-Count"])
        except (KeyError, ValueError):
            log.error("Supabase Auth listed users without a usable X-Total-Count header")
            raise InternalError() from None
        return [user_from(u) for u in users], total

    def find_user_by_email(self, email: str) -> AuthUser | None:
        """The user with this e-mail (case-insensitive), or None. GoTrue's `filter` narrows the listing to
        matching addresses; the pages are still walked, so a server that ignores it only costs time."""
        wanted, page, per_page = email.strip().lower(), 1, 100
        while True:
            users, total = self.list_users(page, per_page, wanted)
            match = next((user for user in users if user.email.lower() == wanted), None)
            if match is not None or not users or page * per_page >= total:
                return match
            page += 1

    def end_sessions(self, user: AuthUser) -> None:
        """End every Supabase session of `user`, so no refresh token outlives a suspension.

        The admin API has no such call (a ban only blocks refreshes while it lasts; logout needs one of the
        user's own tokens), so this gets one: a magic-link token made by `generate_link` (nothing is sent)
        is verified, and the session it opens is signed out with scope global, which ends them all. Skipped
        where it cannot apply or would change the account: no e-mail, an unconfirmed one (verifying would
        confirm it), a ban in force (verification is refused). Side effects: `last_sign_in_at` and the
        Supabase audit log show the sign-in, and a pending recovery code is replaced."""
        if not user.email or not user.email_confirmed or not user.is_active:
            return
        with self.auth.translated():
            link = self.auth.admin_client().generate_link({"type": "magiclink", "email": user.email})
            response = self.auth.client().verify_otp({"type": "magiclink",
                                                  "token_hash": link.properties.hashed_token})
        if response.session is not None:
            self.auth.sign_out(response.session.access_token, "global")

    def update_user(self, user_id: str, attributes: Mapping[str, Any]) -> AuthUser:
        with self.auth.translated({"validation_failed": NotFound}):
            return user_from(self.auth.admin_client().update_user_by_id(user_id, dict(attributes)).user)

    def delete_user(self, user_id: str) -> None:
        with self.auth.translated({"validation_failed": NotFound}):
            self.auth.admin_client().delete_user(user_id)


def get_supabase_admin() -> SupabaseAdmin:
    return extension("coner.supabase_admin")
