"""Flow state (GoTrue's models.FlowState): PKCE code challenges, remembered flows, `grant_type=pkce`
(GoTrue internal/api/pkce.go and token.go, PKCE)."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import uuid

from . import models
from .api import ctx
from .apierrors import GoTrueError, bad_request
from .inputs import field, parse_uuid
from .store import Tx

METHODS = {"s256", "plain"}
_CHALLENGE = re.compile(r"^[a-zA-Z._~0-9-]+$")


def pkce_params(body: dict) -> tuple[str, str] | None:
    """(challenge, method) from a request body or query, None when the request is not PKCE."""
    challenge = field(body, "code_challenge")
    method = field(body, "code_challenge_method")
    return check_challenge(challenge, method)


def check_challenge(challenge: str, method: str) -> tuple[str, str] | None:
    """pkce.go, validatePKCEParams: both or neither (None), then the challenge's length and alphabet. The
    method is read only when a flow state is made (`create`)."""
    if not challenge and not method:
        return None
    if not challenge or not method:
        raise bad_request("PKCE flow requires code_challenge_method and code_challenge")
    if not 43 <= len(challenge) <= 128:
        raise bad_request("code challenge has to be between 43 and 128 characters")
    if not _CHALLENGE.match(challenge):  # pkce.go, isValidCodeChallenge (RFC 7636 section 4.2)
        raise bad_request("code challenge can only contain alphanumeric characters, hyphens, periods, "
                          "underscores and tildes")
    return challenge, method


def known_method(pkce: tuple[str, str] | None) -> bool:
    """models.ParseCodeChallengeMethod accepts the flow's method (any case of s256 or plain)."""
    return pkce is None or pkce[1].lower() in METHODS


def create(tx: Tx, pkce: tuple[str, str] | None, authentication_method: str, *,
           user_id: uuid.UUID | None = None, provider_type: str = "email",
           redirect_to: str | None = None) -> dict:
    """Store a flow state (for OAuth also the implicit ones, to carry `redirect_to` to the callback). An
    unknown method fails models.NewFlowState with a plain error: GoTrue's generic 500 (its routes that
    stored nothing never looked at the method)."""
    if not known_method(pkce):
        raise GoTrueError(500, "unexpected_failure",
                          "Unexpected failure, please check server logs for more information")
    challenge, method = (pkce[0], pkce[1].lower()) if pkce else (None, None)
    return tx.one("insert_flow_state", {
        "id": uuid.uuid4(), "auth_code": uuid.uuid4(), "user_id": user_id, "code_challenge": challenge,
        "code_challenge_method": method, "provider_type": provider_type,
        "authentication_method": authentication_method, "redirect_to": redirect_to})


def is_expired(flow: dict) -> bool:
    """models.FlowState.IsExpired: 300 s after the flow was created; only a magic link's flow counts from when
    its code was issued (by GET /verify)."""
    start = flow["created_at"]
    if flow["authentication_method"] == "magiclink" and flow["auth_code_issued_at"] is not None:
        start = flow["auth_code_issued_at"]
    return start + dt.timedelta(seconds=ctx().settings.flow_state_lifetime) < models.now()


def _challenge_matches(flow: dict, verifier: str) -> bool:
    if flow["code_challenge_method"] == "plain":
        expected = verifier
    else:
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(expected.encode(), (flow["code_challenge"] or "").encode())


def exchange(tx: Tx, body: dict) -> dict:
    """Trade an auth code and its verifier for a session; the flow state is used up."""
    auth_code, verifier = field(body, "auth_code"), field(body, "code_verifier")
    if not auth_code or not verifier:
        raise bad_request("invalid request: both auth code and code verifier should be non-empty")
    # models.FindFlowStateByAuthCode compares the text GoTrue stored (a lower-case UUID with hyphens): another
    # spelling of the same UUID is no code of its.
    code = parse_uuid(auth_code)
    flow = code and str(code) == auth_code and tx.one("find_pkce_flow_state", {"auth_code": code})
    if not flow:
        raise GoTrueError(404, "flow_state_not_found", "invalid flow state, no valid flow state found")
    if is_expired(flow):
        raise GoTrueError(422, "flow_state_expired", "invalid flow state, flow state has expired")
    if not _challenge_matches(flow, verifier):
        raise bad_request("code challenge does not match previously saved code verifier", "bad_code_verifier")
    user = models.find_user(tx, flow["user_id"])
    if user is None:
        raise GoTrueError(404, "user_not_found", "User not found")
    # token.go, PKCE: no ban check here (the session's first use of a Bearer endpoint meets it).
    tx.run("delete_flow_state", {"id": flow["id"]})
    return ctx().tokens.sign_in(tx, user, flow["authentication_method"],
                                provider_token=flow["provider_access_token"])
