"""The OpenAPI document's shared parts, and the interactive page at /docs.

- `ConerApi` makes flask-smorest document its default error answer in OUR error shape ("ApiError").
- `CommonResponses` adds, to every operation, the answers that come from the app rather than the route:
  429 where a rate limit applies (each route's group, see rate_limits.py), 413 where a body is read, and
  what the token guard answers (sessions/guard.py): 401, 503 (no JWKS, or Postgres needed and down), and 403
  MFA_REQUIRED where an aal1 token of a user with a verified factor is refused.
- `/docs` is Swagger UI served entirely from this app: the assets ship inside the `flask-swagger-ui`
  wheel (only its files are used, not its blueprint), so the page works with no internet. Its CSP allows
  scripts from this origin only; the start-up script is a file, not inline code.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from apispec import BasePlugin
from flask import Blueprint, Flask, abort, make_response, render_template, send_from_directory, url_for
from flask_smorest import Api

from . import rate_limits
from .sessions.guard import SECOND_FACTOR_ATTRIBUTE
from .blueprint import ERROR_DESCRIPTIONS
from .config import Config
from .schemas import ErrorSchema

ERROR_REF = {"$ref": "#/components/schemas/ApiError"}
_SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))
_TEMPLATES = Path(__file__).resolve().parent / "templates"
# Only these files are served: nothing else of either folder is reachable through /docs/assets/.
_ASSETS = {
    "swagger-ui.css": _SWAGGER_UI_DIST, "index.css": _SWAGGER_UI_DIST,
    "swagger-ui-bundle.js": _SWAGGER_UI_DIST, "swagger-ui-standalone-preset.js": _SWAGGER_UI_DIST,
    "favicon-32x32.png": _SWAGGER_UI_DIST, "favicon-16x16.png": _SWAGGER_UI_DIST,
    "docs-init.js": _TEMPLATES,
}
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}},
    "X-RateLimit-Limit": {"description": "Requests allowed in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "When the window frees up (epoch seconds)", "schema": {"type": "integer"}},
}
GUARD_401 = "Missing, invalid, expired or revoked token (UNAUTHORIZED, TOKEN_EXPIRED, SESSION_REVOKED)"
GUARD_503 = "Supabase Auth or Postgres unavailable (AUTH_UNAVAILABLE, DB_UNAVAILABLE)"
MFA_403 = ("MFA_REQUIRED: the token is aal1 and its user has a verified second factor (verify a code with "
           "POST /auth/mfa/verify)")
GROUP_KEYS = {rate_limits.CREDENTIALS: "client IP, shared by the credential routes",
              rate_limits.PUBLIC: "client IP", rate_limits.PROTECTED: "user, shared by the protected routes"}


class ConerApi(Api):
    """flask-smorest's Api whose default error response has our error body, named "ApiError"."""

    ERROR_SCHEMA = ErrorSchema

    def _register_responses(self) -> None:
        # The first registration of a schema names it everywhere: ours, before flask-smorest's responses.
        self.spec.components.schema("ApiError", schema=ErrorSchema)
        super()._register_responses()


class CommonResponses(BasePlugin):
    """apispec plugin: the 429, 413 and token-guard answers every limited, body-reading or guarded operation
    can give."""

    def __init__(self, app: Flask, config: Config) -> None:
        self.app = app
        self.config = config

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        group = rate_limits.group_of(self.app, rule.endpoint if rule is not None else None)
        view = self.app.view_functions.get(rule.endpoint) if rule is not None else None
        second_factor = getattr(view, SECOND_FACTOR_ATTRIBUTE, None)
        limit = rate_limits.limit_for(group, self.config)
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            if limit:
                described = f"Rate limit reached (RATE_LIMITED): {limit} per {GROUP_KEYS[group]}"
                limited = _documented(responses, 429, described)
                own = limited["description"]
                if own not in (described, ERROR_DESCRIPTIONS[429]):  # the route's own words, after the limit
                    described = f"{described}; {own}"
                limited["description"] = described
                limited["headers"] = RATE_LIMIT_HEADERS
            if "requestBody" in operation:
                _documented(responses, 413, "Request body too large (PAYLOAD_TOO_LARGE)")
            if second_factor is not None:
                _documented(responses, 401, GUARD_401)
                _documented(responses, 503, GUARD_503)
            if second_factor:
                refused = _documented(responses, 403, MFA_403)
                if "MFA_REQUIRED" not in refused["description"]:
                    refused["description"] += f"; or {MFA_403}"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _documented(responses: dict, status: int, description: str) -> dict[str, Any]:
    """The operation's answer for `status`, added with `description` when the route documents none. The
    route's own are keyed by int until apispec cleans the operation; a str key added beside one would
    replace it."""
    for key in (status, str(status)):
        if key in responses:
            return responses[key]
    responses[status] = _error(description)
    return responses[status]


def make_api(app: Flask, config: Config) -> ConerApi:
    """The Api with our error schema, the common responses and the bearer security scheme."""
    api = ConerApi(app, spec_kwargs={"servers": [{"url": "/"}], "extra_plugins": [CommonResponses(app, config)]})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    return api


docs = Blueprint("docs", __name__)


@docs.route("/docs")
def page():
    """Swagger UI over /openapi.json."""
    response = make_response(render_template("docs.html", spec_url=url_for("api-docs.openapi_json")))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@docs.route("/docs/assets/<name>")
def asset(name: str):
    """One of Swagger UI's files (or our start-up script)."""
    folder = _ASSETS.get(name)
    if folder is None:
        abort(404)
    return send_from_directory(folder, name, max_age=3600)
