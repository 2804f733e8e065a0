"""The redirect URLs GoTrue sends browsers to: tokens or errors in the fragment, `?code=` in the query."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .apierrors import GoTrueError

_ERROR_NAMES = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied", 500: "server_error"}
_ACCESS_DENIED = {"signup_disabled", "user_banned", "provider_email_needs_verification"}


def encode_values(params: dict | list[tuple[str, str]]) -> str:
    # Go's url.Values.Encode: keys sorted (a key's values in their order), spaces as '+'.
    pairs = list(params.items()) if isinstance(params, dict) else params
    return urlencode(sorted(pairs, key=lambda pair: pair[0]))


def with_fragment(url: str, params: dict) -> str:
    """`url` with its fragment replaced by `params`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment=encode_values(params)))


def with_query(url: str, params: dict) -> str:
    """`url` with `params` set in its query (url.Values.Set: each replaces every value of its key; other
    repeated keys keep all theirs)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key not in params]
    return urlunsplit(parts._replace(query=encode_values(kept + list(params.items()))))


def session_fragment(url: str, session: dict, **extra: str) -> str:
    """The implicit-flow redirect: session values (and `extra`) in the fragment, plus the empty `sb`."""
    params = {key: str(session[key]) for key in ("access_token", "expires_at", "expires_in", "refresh_token",
                                                "token_type", "provider_token", "provider_refresh_token")
              if session.get(key)}
    # tokens/service.go, AsRedirectURL: appended, `#` and all, to whatever the URL already holds.
    return f"{url}#{encode_values({**params, 'sb': '', **extra})}"


def error_params(error: GoTrueError) -> dict:
    """`error`, `error_code`, `error_description` as GoTrue's getErrorQueryString sets them (external.go)."""
    fallback = "server_error" if error.status >= 500 else "invalid_request"
    name = "access_denied" if error.code in _ACCESS_DENIED else _ERROR_NAMES.get(error.status, fallback)
    return {"error": name, "error_code": error.code, "error_description": error.message}


def provider_error_redirect(url: str, error: str, description: str) -> str:
    """external.go, redirectErrors for the provider's own `error` (an OAuthError): the query gets `error` and
    `error_description` (empty or not), the fragment the ones not empty; no `error_code`."""
    fragment = {key: value for key, value in (("error", error), ("error_description", description)) if value}
    in_query = with_query(url, {"error": error, "error_description": description})
    return with_fragment(in_query, {**fragment, "sb": ""})


def error_redirect(url: str, error: GoTrueError, in_query: bool) -> str:
    """Errors in the fragment (and in the query too for PKCE and OAuth callbacks)."""
    params = error_params(error)
    if in_query:
        url = with_query(url, params)
    return with_fragment(url, {**params, "sb": ""})
