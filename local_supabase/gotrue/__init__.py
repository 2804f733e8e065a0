"""A local, faithful stand-in for Supabase Auth (GoTrue) over HTTP, for development and tests only.

It serves `/auth/v1/...` as the Supabase gateway (Kong) in front of GoTrue does (GoTrue's routes: its
internal/api/api.go, github.com/supabase/auth), plus `/_local/...` helpers, keeps its data in Postgres (its
own schema, `schema.sql`; its statements are named queries in `queries/*.sql`) and its keys in
`<data dir>/auth_server_keys.json`. Product code never imports it.

Simplifications against the real server, on purpose:
- Passwords are hashed with scrypt at a low cost (N=2**12) instead of bcrypt (not installed here); importing
  `password_hash` through the admin API is refused with 400.
- Only the e-mail and Google providers exist. Phone sign-up / login / OTP answer "provider disabled" (as the
  CLI's default config), no SMS is sent, and phone OTP types never verify; PUT /user checks a new phone
  number's format and owner as GoTrue does, then answers "provider disabled" (no text message could confirm
  it). Anonymous sign-ins are disabled. Admin may still create users with a phone number.
- A NUL character in a query value or a decoded JSON value is 400 validation_failed "Invalid input: NUL
  characters are not allowed": Postgres text cannot hold one, and GoTrue answers such input, where it reaches
  the database, with a 500 (or ignores it, in a value it never reads).
- Google is played by a local consent page (`/_local/oauth/consent`): the user types an e-mail and continues;
  the Google subject id is derived from the e-mail, which Google always reports verified. Linking to an
  existing user follows GoTrue (linking.py). `provider_token` is a random local string; there is no provider
  refresh token. `/authorize` keeps a flow-state row for implicit flows too (GoTrue keeps that state in a
  signed JWT). An `invite_token` there is looked up (404 when unknown) but not carried to the callback
  (GoTrue's processInvite). `grant_type=id_token` checks its parameters as IdTokenGrant does, but no ID
  token ever verifies (Google's keys cannot be fetched offline): "Bad ID token".
- MFA is TOTP only (routes_mfa.py): phone and WebAuthn factors are off, as GoTrue's defaults have them; the
  factor secret is stored unencrypted (no DB encryption configured); no MFA hooks or notification e-mails.
- No SSO/SAML, web3, passkeys, manual identity linking, captcha, hooks or OAuth-server feature.
  GET /reauthenticate mails a code, but PUT /user never asks for it (GoTrue's
  SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION, off by default). PUT /user asks for the current
  password only with `LOCAL_AUTH_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD=true` (GoTrue's setting of that
  name, off by default).
- Rate limits are GoTrue's (ratelimits.py; the defaults and the `LOCAL_AUTH_RATE_LIMITS=off` switch in
  settings.py), counted in this process; no SMS limits (no SMS).
- Refresh tokens use the default 12-character format (no v2 format); the reuse interval is the hosted/CLI 10 s
  (`LOCAL_AUTH_REFRESH_REUSE_INTERVAL`). No session timebox, inactivity timeout or single-session limit.
- E-mail OTPs live 3600 s (CLI); PKCE flow states 300 s (`LOCAL_AUTH_FLOW_STATE_LIFETIME` may shorten it for
  tests, which GoTrue never allows). Secure e-mail change is on (GoTrue's default); the e-mail-changed,
  password-changed and identity-linked notification e-mails are off (GoTrue's defaults too).
- A PKCE link's code comes from the user's latest flow state of that method (GoTrue's issueAuthCode).
- Gateway: the anon and service-role keys are legacy HS256 JWTs (iss `supabase-demo`, like the CLI); no
  `sb_publishable_`/`sb_secret_` keys. A request without `Authorization` is given `Bearer <apikey>`.
  `Sb-Forwarded-For` counts only with the service-role key as `apikey` (hosted: a secret key).
- HS256 mode signs user tokens with the legacy secret and ignores asymmetric keys left by earlier runs; in
  ES256/RS256 mode tokens signed with that secret are still accepted (as after a hosted migration).
  `/_local/keys/rotate` is refused in HS256 mode.
- CORS is answered for any origin (as the stack's gateway plugin is configured); preflights need no apikey.
- Unknown paths answer 404 `not_found`, wrong methods 405 `method_not_allowed` (in the usual error shapes).
"""
from __future__ import annotations

import uuid

from flask import Flask, Response, request

from . import (apierrors, routes_admin, routes_auth, routes_email, routes_local, routes_meta, routes_mfa,
               routes_oauth, routes_verify)
from .api import EXTENSION, AuthContext
from .callers import check_gateway, require_admin
from .grants import TokenService
from .inputs import reject_nul_in_query
from .keys import KEY_FILE, KeyStore
from .ratelimits import RateLimits
from .settings import Settings
from .store import Store

MAX_BODY = 1024 * 1024
PREFIX = "/auth/v1"


def create_app(settings: Settings) -> Flask:
    """Build the Flask app: migrate the schema, open the pool, load (or create) the keys."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, AUTH_SETTINGS=settings)
    app.json.sort_keys = False  # GoTrue emits keys in struct order; keep ours as written
    store = Store(settings.database_url, settings.db_schema)
    store.migrate()
    store.open()
    keys = KeyStore(settings.data_dir / KEY_FILE, settings.jwt_alg)
    app.extensions[EXTENSION] = AuthContext(settings=settings, store=store, keys=keys,
                                            tokens=TokenService(settings, keys),
                                            limits=RateLimits.from_settings(settings))
    apierrors.init_app(app)

    @app.before_request
    def _gateway() -> Response | None:
        request.environ["local.request_id"] = str(uuid.uuid4())
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            if request.method == "OPTIONS":
                return Response(status=200)  # CORS preflight: the gateway answers it without an apikey
            check_gateway(request.path[len(PREFIX):])
        if request.path.startswith(PREFIX + "/admin/"):
            # api.go: the /admin router's requireAdminCredentials runs before it routes, so a path or method
            # it does not serve is refused to a non-admin as any admin route is.
            require_admin()
        reject_nul_in_query()
        return None

    @app.after_request
    def _cors(response: Response) -> Response:
        # Like Kong's cors plugin in the Supabase stack: any origin, the requested headers and methods; for
        # Supabase's own API only. The stand-in's own pages (the mailbox, the consent page under /_local) get
        # none: with them, any web page a developer opened could read every code in the local mailbox.
        if not request.path.startswith(PREFIX + "/"):
            return response
        response.headers["Access-Control-Allow-Origin"] = request.headers.get("Origin", "*")
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "authorization, apikey, content-type, x-client-info")
            response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "3600"
        response.headers.add("Vary", "Origin")
        return response

    for module in (routes_meta, routes_auth, routes_email, routes_verify, routes_admin, routes_oauth,
                   routes_local):
        app.register_blueprint(module.bp)
    app.register_blueprint(routes_admin.invite_bp)
    app.register_blueprint(routes_mfa.bp)
    app.register_blueprint(routes_mfa.admin_bp)
    return app
