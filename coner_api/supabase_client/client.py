"""End-user calls to Supabase Auth through the official client, the translation of its exceptions into ours,
and the one HTTP pool every call of this package goes through.

Every call builds a throw-away `SyncGoTrueClient` over one shared, pooled `httpx.Client`: the client keeps
the signed-in session in its own memory, so a shared instance would leak one user's session into another
request. Construction is cheap (no sockets, no TLS context); the pool is what is shared.

Calls made while serving a request carry the end user's address in `Sb-Forwarded-For`. Supabase rate-limits
sign-in, sign-up, verification and e-mail per client IP, and every call of this API comes from the API's own
address: without the header all users would share one bucket, and a handful of clients could lock everybody
out. GoTrue keys its buckets by that header (internal/sbff/sbff.go) only when the gateway lets it through,
which it does for a caller presenting the secret (service-role) key as `apikey`; `Authorization` still names
the anon key or the user's token, which is all GoTrue itself reads, so such a call stays an end-user call.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import httpx
from flask import Flask, current_app, has_request_context
from supabase_auth import SyncGoTrueClient, SyncMemoryStorage
from supabase_auth.errors import (AuthApiError, AuthError, AuthRetryableError, AuthUnknownError,
                                  AuthWeakPasswordError)

from ..config import Config
from ..context import current_request
from ..errors import (AccountSuspended, ApiError, AuthUnavailable, EmailExists, InternalError, InvalidCredentials,
                      InvalidOtp, InvalidRefreshToken, RateLimited, ValidationFailed)
from ..observability.metrics import TimedTransport
from .refusals import ERROR_CODES, UpstreamRefused, field_refused, quiet_mail_errors
from .results import AuthUser, TokenSet, session_tokens, user_from

log = logging.getLogger(__name__)

# The client stores the PKCE verifier under "<storage key>-code-verifier" in the storage we hand it.
_STORAGE_KEY = "coner"
FORWARDED_FOR = "Sb-Forwarded-For"


def _end_user_address() -> str | None:
    """The address of the client this request serves, as resolved through TRUSTED_PROXIES; None outside a
    request (the command-line tasks) or when there is none."""
    if not has_request_context():
        return None
    return current_request().remote_addr or None


class SupabaseAuth:
    """Calls to one Supabase project's Auth server."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.base_url = config.issuer
        # Bounded timeouts: an outage is a fast 503, never a hang.
        timeout = httpx.Timeout(config.auth_timeout, connect=min(2.0, config.auth_timeout))
        # Every call is timed and its failures counted, by operation (observability/metrics.py); a network call's cost.
        transport = TimedTransport(httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16)))
        self.http = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def close(self) -> None:
        self.http.close()

    def client(self, key: str | None = None, flow_type: str = "implicit",
               storage: SyncMemoryStorage | None = None) -> SyncGoTrueClient:
        """A throw-away official client on the shared HTTP pool, with the anon key unless told otherwise."""
        key = key or self.config.supabase_anon_key
        headers = {"apikey": key, "Authorization": f"Bearer {key}"}
        end_user = _end_user_address()
        if end_user is not None:
            headers["apikey"] = self.config.supabase_service_role_key
            headers[FORWARDED_FOR] = end_user
        return SyncGoTrueClient(url=self.base_url, headers=headers,
                                http_client=self.http, persist_session=False, auto_refresh_token=False,
                                storage=storage or SyncMemoryStorage(), storage_key=_STORAGE_KEY,
                                flow_type=flow_type)

    def admin_client(self):
        """The official client's admin API, with the service-role key."""
        return self.client(self.config.supabase_service_role_key).admin

    @contextmanager
    def translated(self, overrides: Mapping[str, type[ApiError] | None] | None = None) -> Iterator[None]:
        """Map the client's exceptions to ours. An override of None means "not an error here"."""
        try:
            yield
        except AuthWeakPasswordError as exc:
            raise ValidationFailed({"password": [exc.message]}) from exc
        except AuthRetryableError as exc:
            log.warning("Supabase Auth unreachable: %s", exc.message)
            raise AuthUnavailable() from exc
        except AuthApiError as exc:
            table = {**ERROR_CODES, **(overrides or {})}
            if exc.code in table:
                error = table[exc.code]
                if error is None:
                    return
                raise (error(headers={"Retry-After": "60"}) if error is RateLimited else error()) from exc
            if exc.status >= 500 or exc.status == 0:
                log.warning("Supabase Auth failed: %s %s", exc.status, exc.message)
                raise AuthUnavailable() from exc
            if exc.status in (400, 422):
                log.warning("Supabase Auth refused the input: %s (%s): %s", exc.code, exc.status, exc.message)
                raise UpstreamRefused() from exc
            if exc.status == 429:
                raise RateLimited(headers={"Retry-After": "60"}) from exc
            log.error("unmapped Supabase Auth error %s (%s): %s", exc.code, exc.status, exc.message)
            raise InternalError() from exc
        except AuthUnknownError as exc:
            log.warning("Supabase Auth gave an unreadable answer: %s", exc.message)
            raise AuthUnavailable() from exc
        except (AuthError, httpx.HTTPError) as exc:
            log.error("Supabase Auth client error: %s", exc)
            raise AuthUnavailable() from exc

    # ------------------------------------------------------------------------------ end-user calls
    def sign_up(self, email: str, password: str, data: Mapping[str, Any]) -> AuthUser:
        # Given what is sent (an address, a password of 8+ characters, no phone, no PKCE), GoTrue's sign-up
        # answers validation_failed only from validateEmail (internal/api/signup.go, Signup; mail.go): the
        # address, which is the field it concerns (docs/api.md, "Sign-up").
        with self.translated({"validation_failed": field_refused("email")}):
            response = self.client().sign_up({"email": email, "password": password,
                                               "options": {"data": dict(data)}})
        user = user_from(response.user)
        if not user.has_identities:
            raise EmailExists()
        return user

    def sign_in(self, email: str, password: str) -> TokenSet:
        with self.translated({"validation_failed": InvalidCredentials}):
            return session_tokens(self.client().sign_in_with_password({"email": email, "password": password}).session)

    def refresh(self, refresh_token: str) -> TokenSet:
        with self.translated({"validation_failed": InvalidRefreshToken, "user_banned": AccountSuspended}):
            return session_tokens(self.client().refresh_session(refresh_token).session)

    def sign_out(self, access_token: str, scope: str) -> None:
        """End the token's session (scope local) or every session (global). An already ended session or a
        deleted user is not an error: the outcome the caller wants already holds."""
        gone = {"session_not_found": None, "user_not_found": None, "bad_jwt": None, "user_banned": None}
        with self.translated(gone):
            self.client().admin.sign_out(access_token, scope)

    def verify_email(self, email: str, token: str) -> str:
        """Check an e-mail confirmation code; return the user's id."""
        return self._verify_otp("email", email, token)

    def resend_verification(self, email: str) -> None:
        """Ask for a new confirmation e-mail. Answers the same whether or not the address is registered, so
        per-address send limits are swallowed too (they only apply to real users)."""
        with self.translated(quiet_mail_errors()):
            self.client().resend({"type": "signup", "email": email})

    def send_password_recovery(self, email: str) -> None:
        with self.translated(quiet_mail_errors()):
            self.client().reset_password_for_email(email)

    def verify_recovery(self, email: str, token: str) -> str:
        """Check a recovery code; return the user's id."""
        return self._verify_otp("recovery", email, token)

    def _verify_otp(self, kind: str, email: str, token: str) -> str:
        with self.translated({"validation_failed": InvalidOtp}):
            response = self.client().verify_otp({"type": kind, "email": email, "token": token})
        self.end_unheld_session(response.session)
        return str(response.user.id)

    def end_unheld_session(self, session: Any) -> None:
        """End a session opened only to check something (verifying a code signs the user in; so does checking
        a password): nobody holds it, so it must not dangle. A failure is logged, not raised: the check
        itself is done."""
        if session is None:
            return
        try:
            self.sign_out(session.access_token, "local")
        except ApiError as exc:
            log.warning("could not end a session nobody holds: %s", exc.code)

    def oauth_url(self, provider: str, redirect_to: str) -> tuple[str, str]:
        """The provider sign-in URL (PKCE) and the code verifier the callback must present."""
        storage = SyncMemoryStorage()
        with self.translated():
            response = self.client(flow_type="pkce", storage=storage).sign_in_with_oauth(
                {"provider": provider, "options": {"redirect_to": redirect_to}})
        return response.url, storage.get_item(f"{_STORAGE_KEY}-code-verifier")

    def exchange_code(self, code: str, verifier: str, redirect_to: str) -> TokenSet:
        with self.translated({"validation_failed": InvalidOtp}):
            response = self.client(flow_type="pkce").exchange_code_for_session(
                {"auth_code": code, "code_verifier": verifier, "redirect_to": redirect_to})
        return session_tokens(response.session)

    def health(self) -> None:
        """Raise AuthUnavailable unless the Auth server's `/health` answers 200. The official client has no
        health call, so this one request uses the shared HTTP pool directly, with the client's headers."""
        try:
            response = self.http.get(f"{self.base_url}/health", headers={"apikey": self.config.supabase_anon_key})
        except httpx.HTTPError as exc:
            raise AuthUnavailable() from exc
        if response.status_code != 200:
            raise AuthUnavailable(f"Authentication service answered {response.status_code}")


def init_app(app: Flask, config: Config) -> SupabaseAuth:
    from .account import SupabaseAccount
    from .admin import SupabaseAdmin
    from .mfa import SupabaseMfa

    auth = SupabaseAuth(config)
    app.extensions["coner.supabase_auth"] = auth
    app.extensions["coner.supabase_admin"] = SupabaseAdmin(auth)
    app.extensions["coner.supabase_mfa"] = SupabaseMfa(auth)
    app.extensions["coner.supabase_account"] = SupabaseAccount(auth)
    return auth


def get_supabase_auth() -> SupabaseAuth:
    return current_app.extensions["coner.supabase_auth"]
