"""Google sign-in through Supabase Auth with PKCE, for people testing the API by hand (docs/api.md,
"Google sign-in").

`/auth/google/url` starts a flow: the code verifier is stored server-side under a random flow id, and
Supabase is told to come back to our callback with that id in the query. The callback takes the flow
(single use, 10 minutes), exchanges the code, and either shows the tokens or, when the client asked for
another allow-listed `redirect_to`, sends the browser there with the tokens in the fragment (as Supabase's
implicit flow would)."""
from __future__ import annotations

import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import current_app

from ..db import get_db
from ..errors import InvalidOtp, ValidationFailed
from ..supabase_auth import TokenSet, get_supabase_auth

PROVIDER = "google"


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _landing(flow_id: str) -> str:
    return _with_query(current_app.extensions["coner.config"].oauth_redirect_url, flow=flow_id)


def start(redirect_to: str | None) -> str:
    """The URL that signs the browser in with Google; `redirect_to` must be allow-listed (exact match)."""
    config = current_app.extensions["coner.config"]
    final_redirect = redirect_to or config.oauth_redirect_url
    if final_redirect != config.oauth_redirect_url and final_redirect not in config.oauth_redirect_allowlist:
        raise ValidationFailed({"redirect_to": ["Not an allowed redirect URL"]})
    flow_id = str(uuid.uuid4())
    url, verifier = get_supabase_auth().oauth_url(PROVIDER, _landing(flow_id))
    get_db().execute("create_oauth_flow", {"flow_id": flow_id, "code_verifier": verifier,
                                           "final_redirect": final_redirect})
    return url


def finish(code: str, flow_id: str) -> tuple[TokenSet, str]:
    """Exchange the code of flow `flow_id`; return the session and where the browser should end up."""
    try:
        flow_id = str(uuid.UUID(flow_id))
    except ValueError:
        raise InvalidOtp("Sign-in link is invalid or has expired") from None
    flow = get_db().fetch_one("take_oauth_flow", {"flow_id": flow_id})
    if flow is None:
        raise InvalidOtp("Sign-in link is invalid or has expired")
    tokens = get_supabase_auth().exchange_code(code, flow["code_verifier"], _landing(flow_id))
    return tokens, flow["final_redirect"]


def lands_here(final_redirect: str) -> bool:
    """Whether the flow ends on our own callback page (rather than a client's allow-listed URL)."""
    return final_redirect == current_app.extensions["coner.config"].oauth_redirect_url


def fragment_redirect(final_redirect: str, tokens: TokenSet) -> str:
    """`final_redirect#access_token=...` in the shape of Supabase's implicit-flow redirect."""
    fragment = urlencode(sorted({"access_token": tokens.access_token, "expires_at": str(tokens.expires_at),
                                 "expires_in": str(tokens.expires_in), "refresh_token": tokens.refresh_token,
                                 "token_type": tokens.token_type}.items()))
    return urlunsplit(urlsplit(final_redirect)._replace(fragment=fragment))
