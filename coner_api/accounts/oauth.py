"""Google sign-in through Supabase Auth with PKCE, bound to the browser that starts it (docs/api.md,
"Google sign-in").

1. `/auth/google/url` makes a flow: the PKCE verifier and Supabase's authorize URL are stored server-side
   under a random flow id, and the client gets our own start link, `/auth/google/start?flow=<id>`.
2. `/auth/google/start`, opened in the browser, binds the flow to that browser: a random secret goes into a
   short-lived HttpOnly cookie and its SHA-256 into the flow; then the browser is sent on to Supabase, which
   is told to come back to our callback with the flow id in the query.
3. `/auth/callback` exchanges the code only for the browser holding the flow's cookie, once, within 10
   minutes; it then shows the tokens or, when the client asked for another allow-listed `redirect_to`, sends
   the browser there with the tokens in the fragment (as Supabase's implicit flow would).

Without step 2's cookie, a callback URL opened anywhere else (login CSRF: an attacker's own sign-in link
planted in a victim's browser, or a URL read from a log or a screen) yields no session.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app

from ..config import Config, is_loopback
from ..db import get_db
from ..errors import InvalidOtp, ValidationFailed
from ..supabase_client import TokenSet, get_supabase_auth

PROVIDER = "google"
FLOW_LIFETIME_SECONDS = 600
COOKIE_PREFIX = "coner_oauth_"
START_PATH = "/auth/google/start"
EXPIRED = "Sign-in link is invalid or has expired"


@dataclass(frozen=True)
class BrowserCookie:
    """The cookie that binds a flow to one browser: set for the callback, and for the start link, so that the
    browser that opened the link may open it again (a reload, a second tap) and no other browser may."""

    name: str
    value: str
    paths: tuple[str, ...]
    secure: bool
    max_age: int = FLOW_LIFETIME_SECONDS


def _config() -> Config:
    return current_app.extensions["coner.config"]


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _landing(flow_id: str) -> str:
    return _with_query(_config().oauth_redirect_url, flow=flow_id)


def _binding(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _flow_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidOtp(EXPIRED) from None


def browser_cookie(raw_flow_id: str, secret: str = "") -> BrowserCookie:
    """The cookie of a flow as this deployment sets it (its name from the flow id in its canonical spelling,
    however the link's was written). Over https it is a `__Host-` cookie (Secure, Path=/, no Domain): browsers
    take such a cookie only from this very host, so a sibling subdomain cannot plant its owner's secret for a
    flow of its own in a victim's browser (login CSRF by cookie tossing). On a plain-http loopback callback
    (`make run`) a Secure cookie would be dropped: there it is set for the callback and the start link."""
    try:
        flow_id = str(uuid.UUID(raw_flow_id))
    except ValueError:
        flow_id = raw_flow_id
    name = COOKIE_PREFIX + flow_id.replace("-", "")
    callback = _config().oauth_redirect_url
    if not (callback.startswith("http://") and is_loopback(callback)):
        return BrowserCookie("__Host-" + name, secret, ("/",), True)
    return BrowserCookie(name, secret, (urlsplit(callback).path or "/", START_PATH), False)


def start(redirect_to: str | None) -> str:
    """Our start link for a new flow; `redirect_to` must be allow-listed (exact match)."""
    config = _config()
    final_redirect = redirect_to or config.oauth_redirect_url
    if final_redirect != config.oauth_redirect_url and final_redirect not in config.oauth_redirect_allowlist:
        raise ValidationFailed({"redirect_to": ["Not an allowed redirect URL"]})
    flow_id = str(uuid.uuid4())
    authorize_url, verifier = get_supabase_auth().oauth_url(PROVIDER, _landing(flow_id))
    get_db().execute("create_oauth_flow", {"flow_id": flow_id, "code_verifier": verifier,
                                           "final_redirect": final_redirect, "authorize_url": authorize_url})
    # On the callback's origin: the cookie set there is the one the callback will be sent.
    origin = urlsplit(config.oauth_redirect_url)._replace(path=START_PATH, query="", fragment="")
    return _with_query(urlunsplit(origin), flow=flow_id)


def bind(raw_flow_id: str, browser_secret: str | None = None) -> tuple[str, BrowserCookie]:
    """Give the flow to the browser that opened its start link: Supabase's authorize URL to send it to, and
    the cookie it must bring back to the callback. The browser that owns the flow already (its cookie's
    `browser_secret`) gets the same again; any other finds the flow taken."""
    flow_id = _flow_id(raw_flow_id)
    row = None
    if browser_secret and browser_secret.isascii():
        secret = browser_secret
        row = get_db().fetch_one("owned_oauth_flow", {"flow_id": flow_id, "binding": _binding(secret)})
    if row is None:
        secret = secrets.token_urlsafe(32)
        row = get_db().fetch_one("bind_oauth_flow", {"flow_id": flow_id, "binding": _binding(secret)})
    if row is None:
        raise InvalidOtp(EXPIRED)
    return row["authorize_url"], browser_cookie(flow_id, secret)


def finish(code: str, raw_flow_id: str, browser_secret: str | None) -> tuple[TokenSet, str]:
    """Exchange the code of the flow this browser owns; return the session and where the browser should end
    up. A browser without the flow's cookie gets nothing, and the flow stays for the one that has it."""
    flow_id = _flow_id(raw_flow_id)
    if not browser_secret or not browser_secret.isascii():
        raise InvalidOtp("Finish signing in in the browser where you started it")
    flow = get_db().fetch_one("take_oauth_flow", {"flow_id": flow_id, "binding": _binding(browser_secret)})
    if flow is None:
        raise InvalidOtp(EXPIRED)
    tokens = get_supabase_auth().exchange_code(code, flow["code_verifier"], _landing(flow_id))
    return tokens, flow["final_redirect"]


def lands_here(final_redirect: str) -> bool:
    """Whether the flow ends on our own callback page (rather than a client's allow-listed URL)."""
    return final_redirect == _config().oauth_redirect_url


def fragment_redirect(final_redirect: str, tokens: TokenSet) -> str:
    """`final_redirect#access_token=...` in the shape of Supabase's implicit-flow redirect."""
    fragment = urlencode(sorted({"access_token": tokens.access_token, "expires_at": str(tokens.expires_at),
                                 "expires_in": str(tokens.expires_in), "refresh_token": tokens.refresh_token,
                                 "token_type": tokens.token_type}.items()))
    return urlunsplit(urlsplit(final_redirect)._replace(fragment=fragment))
