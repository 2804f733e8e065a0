"""OAuth sign-in with a local Google: `/authorize` → consent page → `/callback` → `redirect_to`."""
from __future__ import annotations

import hashlib
import secrets

from flask import Blueprint, Response, redirect, render_template, request

from . import flow_state, models
from .api import ctx
from .apierrors import GoTrueError, bad_request
from .inputs import EMAIL, parse_uuid, redirect_target
from .redirects import error_redirect, session_fragment, with_query
from .store import Tx

bp = Blueprint("oauth", __name__, template_folder="templates")
ENABLED = {"google"}
KNOWN = {"apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab", "google",
         "kakao", "keycloak", "linkedin", "linkedin_oidc", "notion", "snapchat", "spotify", "slack",
         "slack_oidc", "twitch", "twitter", "workos", "zoom"}
CONSENT_PATH = "/_local/oauth/consent"


@bp.get("/auth/v1/authorize")
def authorize() -> Response:
    """Check provider and PKCE parameters, remember the flow, and send the browser to the consent page."""
    provider = request.args.get("provider", "").strip().lower()
    if provider not in KNOWN:
        raise bad_request(f"Unsupported provider: Provider {provider} could not be found")
    if provider not in ENABLED:
        raise bad_request("Unsupported provider: provider is not enabled")
    pkce = flow_state.check_challenge(request.args.get("code_challenge", ""),
                                      request.args.get("code_challenge_method", ""))
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


def _google_user(tx: Tx, provider: str, email: str) -> dict:
    """Find, link or create the user for this provider account (providers verify e-mails)."""
    subject = _provider_subject(email)
    name = email.split("@")[0]
    data = {"iss": "https://accounts.google.com", "sub": subject, "name": name, "email": email,
            "full_name": name, "provider_id": subject, "email_verified": True, "phone_verified": False}
    identity = tx.one("find_identity", {"provider": provider, "provider_id": subject})
    if identity is not None:
        tx.run("stamp_identity_sign_in", {"identity_id": identity["id"]})
        return models.find_user(tx, identity["user_id"])
    user = models.find_user_by_email(tx, email)
    if user is None:
        user = models.create_user(tx, email=email,
                                  app_metadata={"provider": provider, "providers": [provider]},
                                  user_metadata=dict(data), email_confirmed=True)
        tx.run("delete_identities_of_user", {"user_id": user["id"]})
    else:
        providers = list(user["app_metadata"].get("providers", []))
        user = models.update_user(tx, user["id"], app_metadata={**user["app_metadata"],
                                                                "providers": providers + [provider]})
        user = models.confirm_email(tx, user)
    models.add_identity(tx, user["id"], provider, subject, data)
    return user


@bp.route("/auth/v1/callback", methods=["GET", "POST"])
def callback() -> Response:
    """The provider's answer: sign the user in and redirect like GoTrue (fragment, `?code=`, or error)."""
    raw_state = request.values.get("state", "")
    raw_email = request.values.get("email", "").strip().lower()
    state = ctx()
    with state.store.transaction() as tx:
        flow = _flow(tx, raw_state)
        if flow is None:
            error = GoTrueError(400, "bad_oauth_state", "OAuth callback with invalid state")
            return redirect(error_redirect(state.settings.site_url, error, in_query=True), 302)
        if not raw_email or len(raw_email) > 255 or not EMAIL.match(raw_email):
            return _consent_page(raw_state, flow["provider_type"], raw_email, "Enter a valid e-mail address.",
                                 status=400)
        target = flow["redirect_to"] or state.settings.site_url
        try:
            if flow_state.is_expired(flow):
                raise GoTrueError(422, "flow_state_expired", "invalid flow state, flow state has expired")
            with tx.conn.transaction():
                user = _google_user(tx, flow["provider_type"], raw_email)
                if models.is_banned(user):
                    raise GoTrueError(403, "user_banned", "User is banned")
        except GoTrueError as error:
            tx.run("delete_flow_state", {"id": flow["id"]})
            return redirect(error_redirect(target, error, in_query=True), 302)
        provider_token = f"local-{flow['provider_type']}-{secrets.token_urlsafe(24)}"
        if flow["code_challenge"]:
            tx.run("complete_oauth_flow_state",
                   {"user_id": user["id"], "provider_access_token": provider_token, "id": flow["id"]})
            return redirect(with_query(target, {"code": str(flow["auth_code"])}), 302)
        tx.run("delete_flow_state", {"id": flow["id"]})
        session = state.tokens.sign_in(tx, user, "oauth", provider_token=provider_token)
        return redirect(session_fragment(target, session), 302)
