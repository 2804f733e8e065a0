"""Service information: `/auth/v1/health`, `/auth/v1/settings` and the JWKS."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .api import ctx

bp = Blueprint("meta", __name__, url_prefix="/auth/v1")
VERSION = "v2.180.0-local"
EXTERNAL_PROVIDERS = ("anonymous_users", "apple", "azure", "bitbucket", "discord", "facebook", "snapchat",
                      "figma", "fly", "github", "gitlab", "google", "keycloak", "kakao", "linkedin",
                      "linkedin_oidc", "notion", "spotify", "slack", "slack_oidc", "workos", "twitch",
                      "twitter", "email", "phone", "zoom")
ENABLED_PROVIDERS = {"google", "email"}


@bp.get("/health")
def health() -> Response:
    """GoTrue's liveness answer."""
    return jsonify({"version": VERSION, "name": "GoTrue",
                    "description": "GoTrue is a user registration and authentication API"})


@bp.get("/settings")
def settings() -> Response:
    """Which providers are on, and whether e-mail sign-ups confirm automatically."""
    return jsonify({"external": {name: name in ENABLED_PROVIDERS for name in EXTERNAL_PROVIDERS},
                    "disable_signup": False, "mailer_autoconfirm": ctx().settings.autoconfirm,
                    "phone_autoconfirm": False, "sms_provider": "twilio", "saml_enabled": False,
                    "saml_private_key_next_configured": False, "passkeys_enabled": False})


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The public signing keys (`{"keys": []}` in HS256 mode)."""
    response = jsonify(ctx().keys.jwks())
    response.headers["Cache-Control"] = "public, max-age=600"
    return response
