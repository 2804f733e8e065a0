"""The HTML page a Google sign-in ends on (/auth/callback, and a /auth/google/start link that no longer
works), for people trying sign-in in a browser: who signed in, both tokens with copy buttons, when the access
token expires, a button that calls /auth/me, a ready-to-paste curl line; or, when the sign-in failed, what
went wrong in words (docs/api.md, "GET /auth/callback").

The page is the template `callback.html` and its one script, both carrying a nonce made for this answer: the
Content-Security-Policy allows no other script or style, no form, no frame, and fetches (the /auth/me button)
only to this origin.
"""
from __future__ import annotations

import secrets

from flask import make_response, render_template

from ..blueprint import NO_STORE
from ..errors import ApiError
from ..supabase_client import TokenSet

# What Supabase (or the provider through it) reports in `?error=`, in words. Unknown names get the generic
# text; Supabase's own description is shown beside it, shortened.
PROVIDER_ERRORS = {
    "access_denied": "The sign-in was cancelled, or Google or Supabase refused it.",
    "server_error": "Supabase Auth failed while finishing the sign-in.",
    "temporarily_unavailable": "Supabase Auth is unavailable for the moment.",
}
GENERIC = "The sign-in did not complete."
DETAIL_LIMIT = 300
# Our own refusals, by error code.
OWN_ERRORS = {
    "INVALID_OTP": "This sign-in link or code has expired, or was already used.",
    "AUTH_UNAVAILABLE": "Supabase Auth is unavailable for the moment; try again shortly.",
    "DB_UNAVAILABLE": "The API's database is unavailable for the moment; try again shortly.",
    "RATE_LIMITED": "Too many sign-in attempts from this address; wait a minute and try again.",
}


def provider_error_code(name: str) -> str:
    """A bounded label for a provider's error name (it comes from the address bar)."""
    return name.upper() if name in PROVIDER_ERRORS else "PROVIDER_ERROR"


def signed_in(tokens: TokenSet):
    return _page(200, email=tokens.email, access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                 expires_at=tokens.expires_at)


def provider_failed(name: str, code: str | None, description: str | None):
    """Supabase sent the browser back with `?error=...` (a denied consent, an expired flow)."""
    detail = (description or code or name or "")[:DETAIL_LIMIT]
    return _page(400, error=PROVIDER_ERRORS.get(name, GENERIC), error_code=code or name, detail=detail)


def refused(error: ApiError, status: int | None = None):
    """One of our own refusals: an expired or reused link, a browser without the flow's cookie, an outage."""
    return _page(status or error.status, error=OWN_ERRORS.get(error.code, GENERIC), error_code=error.code,
                 detail=error.message)


def waiting():
    """No result in the address: opened by hand (or the implicit flow, whose result only the script sees)."""
    return _page(200)


def _page(status: int, **context):
    nonce = secrets.token_urlsafe(16)
    context.setdefault("error", None)
    response = make_response(render_template("callback.html", nonce=nonce, **context), status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.update(NO_STORE)
    return response
