"""OAuth sign-in with a local Google: `/authorize` → consent page → `/callback` → `redirect_to`."""
from __future__ import annotations

import hashlib
import secrets

from flask import Blueprint, Response, redirect, render_template, request

from . import flow_state
from .api import ctx
from .apierrors import GoTrueError, bad_request
from .inputs import EMAIL, parse_uuid, redirect_target
from .linking import external_sign_in
from .redirects import error_params, error_redirect, provider_error_redirect, session_fragment, with_query
from .store import Tx

bp = Blueprint("oauth", __name__, template_folder="templates")
ENABLED = {"google"}
KNOWN = {"apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab", "google",
         "kakao", "keycloak", "linkedin", "linkedin_oidc", "notion", "snapchat", "spotify", "slack",
         "slack_oidc", "twitch", "twitter", "x", "vercel_marketplace", "workos", "zoom"}
CONSENT_PATH = "/_local/oauth/consent"


@bp.get("/auth/v1/authorize")
def authorize() -> Response:
    """Check provider and PKCE parameters, remember the flow, and send the browser to the consent page."""
    provider = request.args.get("provider", "").lower()  # external.go, Provider: lower-cased, never trimmed
    if provider.startswith("custom:"):  # custom providers are on by default, and none is registered here
        raise bad_request(f"Unsupported provider: custom provider {provider} not found")
    if provider not in KNOWN:
        raise bad_request(f"Unsupported provider: Provider {provider} could not be found")
    if provider not in ENABLED:
        raise bad_request("Unsupported provider: provider is not enabled")
    invite_token = request.args.get("invite_token", "")
    if invite_token:
        with ctx().store.transaction() as tx:  # models.FindUserByConfirmationToken
            if tx.one("find_user_by_confirmation_token", {"token": invite_token}) is None:
                raise GoTrueError(404, "user_not_found", "User identified by token not found")
    pkce = flow_state.check_challenge(request.args.get("code_challenge", ""),
                                      request.args.get("code_challenge_method", ""))
    if not flow_state.known_method(pkce):  # external.go, GetExternalProviderRedirectURL: NewFlowState's error
        raise bad_request("Invalid code_challenge_method")
    with ctx().store.transaction() as tx:
        flow = flow_state.create(tx, pkce, "oauth", provider_type=provider, redirect_to=redirect_target())
    return redirect(f"{ctx().settings.base_url}{CONSENT_PATH}?{_state_query(flow)}", 302)


def _state_query(flow: dict) -> str:
    return f"state={flow['id']}"


def _flow(tx: Tx, raw_state: str) -> dict | None:
    state = parse_uuid(raw_state)
    return state and tx.one("find_oauth_flow_state", {"id": state})


def _consent_page(state: str, provider: str, email: str = "", error: str = "", status: int = 200) -> Response:
    html = render_template("consent.html", state=state, provider_title=provider.title(), email=email,
                           error=error, action=f"{ctx().settings.issuer}/callback")
    return Response(html, status=status, mimetype="text/html")


@bp.get(CONSENT_PATH)
def consent() -> Response:
    """The page that plays the provider: an e-mail field and a Continue button (a plain form, no JS)."""
    raw_state = request.args.get("state", "")
    with ctx().store.transaction() as tx:
        flow = _flow(tx, raw_state)
    if flow is None:
        return _consent_page("", "the provider", error="This sign-in request is unknown or was already used.",
                             status=400)
    return _consent_page(raw_state, flow["provider_type"])


def _provider_subject(email: str) -> str:
    # A stable fake Google account id (`sub`): the same e-mail always signs in as the same Google user.
    return str(int(hashlib.sha256(email.encode()).hexdigest()[:16], 16))


def _provider_data(provider: str, email: str) -> dict:
    """What the local Google vouches for (the identity data GoTrue keeps from provider.Claims)."""
    subject, name = _provider_subject(email), email.split("@")[0]
    return {"iss": "https://accounts.google.com", "sub": subject, "name": name, "email": email,
            "full_name": name, "provider_id": subject, "email_verified": True, "phone_verified": False}


def _callback_flow(tx: Tx, raw_state: str) -> dict:
    """external.go, loadExternalState / loadExternalStateFromUUID, with their errors."""
    if not raw_state:
        raise GoTrueError(400, "bad_oauth_callback", "OAuth state parameter missing")
    state_id = parse_uuid(raw_state)
    if state_id is None:
        raise GoTrueError(400, "bad_oauth_state", "OAuth state parameter is invalid")
    flow = tx.one("find_flow_state", {"id": state_id})
    if flow is None or flow["authentication_method"] != "oauth":
        raise GoTrueError(400, "bad_oauth_state", "OAuth state not found or expired")
    if flow_state.is_expired(flow):
        raise GoTrueError(400, "bad_oauth_state", "OAuth state has expired")
    if flow["code_challenge"] and flow["user_id"] is not None:
        raise GoTrueError(400, "flow_state_already_used", "State has already been used")
    return flow


@bp.route("/auth/v1/callback", methods=["GET", "POST"])
def callback() -> Response:
    """The provider's answer: sign the user in and redirect like GoTrue (fragment, `?code=`, or error).

    external_oauth.go, loadFlowState (a bad state is a 303 to the Site URL, the error in the query), then
    external.go, ExternalProviderCallback / internalExternalProviderCallback (errors as redirectErrors puts
    them: 302, in the query and the fragment)."""
    raw_email = request.values.get("email", "").strip().lower()
    state = ctx()
    with state.store.transaction() as tx:
        try:
            flow = _callback_flow(tx, request.values.get("state", ""))
        except GoTrueError as error:
            return redirect(with_query(state.settings.site_url, error_params(error)), 303)
        target = flow["redirect_to"] or state.settings.site_url
        if request.values.get("error"):  # external_oauth.go, oAuthCallback: the provider said no (Cancel)
            return redirect(provider_error_redirect(target, request.values["error"],
                                                    request.values.get("error_description", "")), 302)
        if not raw_email or len(raw_email) > 255 or not EMAIL.fullmatch(raw_email):
            return _consent_page(str(flow["id"]), flow["provider_type"], raw_email,
                                 "Enter a valid e-mail address.", status=400)
        provider = flow["provider_type"]
        data = _provider_data(provider, raw_email)
        try:
            with tx.conn.transaction():
                user = external_sign_in(tx, provider, data["sub"], raw_email, data)
        except GoTrueError as error:
            return redirect(error_redirect(target, error, in_query=True), 302)
        provider_token = f"local-{provider}-{secrets.token_urlsafe(24)}"
        if flow["code_challenge"]:
            tx.run("complete_oauth_flow_state",
                   {"user_id": user["id"], "provider_access_token": provider_token, "id": flow["id"]})
            return redirect(with_query(target, {"code": str(flow["auth_code"])}), 302)
        tx.run("delete_flow_state", {"id": flow["id"]})
        session = state.tokens.sign_in(tx, user, "oauth", provider_token=provider_token)
        return redirect(session_fragment(target, session), 302)
