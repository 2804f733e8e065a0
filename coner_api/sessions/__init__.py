"""Who is calling: access-token verification against the Supabase JWKS, revocation (global-logout cutoffs and
logged-out sessions) purged on every process, the route guards and the role model.

docs/architecture.md, "A protected request" follows a request through these modules.
"""
from __future__ import annotations

from flask import Flask

from ..config import Config
from ..context import extension
from ..db import Database
from .jwks import JwksCache
from .. import shared_tokens
from .revocation import Revocations
from .tokens import Claims, TokenVerifier

__all__ = ["Claims", "TokenVerifier", "Revocations", "init_app", "get_verifier", "get_revocations"]


def init_app(app: Flask, config: Config, db: Database) -> None:
    """This process's verifier (with its JWKS cache) and revocation store (with its purge listener)."""
    jwks = JwksCache.for_supabase(config.supabase_url, timeout=config.jwks_fetch_timeout)
    app.extensions["coner.verifier"] = TokenVerifier(config.issuer, jwks, config.supabase_jwt_secret,
                                                        cache_size=config.token_cache_size,
                                                        shared=shared_tokens.get())
    revocations = Revocations(db, config.database_listen_url or config.database_url)
    revocations.start()
    app.extensions["coner.revocations"] = revocations


def get_verifier() -> TokenVerifier:
    return extension("coner.verifier")


def get_revocations() -> Revocations:
    return extension("coner.revocations")
