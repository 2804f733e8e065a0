"""Local-only routes for tests and developers: the mailbox and signing-key rotation (`/_local/...`)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .api import ctx
from .apierrors import GoTrueError, bad_request
from .callers import require_admin
from .inputs import field, json_body
from .keys import UnknownKey
from .mail import messages

bp = Blueprint("local", __name__, url_prefix="/_local")


@bp.get("/mail")
def list_mail() -> Response:
    """Every message the stand-in 'sent' (optionally only those `?to=` one address), newest first."""
    with ctx().store.transaction() as tx:
        return jsonify({"messages": messages(tx, request.args.get("to") or None)})


@bp.delete("/mail")
def clear_mail() -> Response:
    """Empty the mailbox."""
    with ctx().store.transaction() as tx:
        tx.run("clear_mail")
    return Response(status=204)


@bp.post("/keys/rotate")
def rotate_key() -> Response:
    """Add a signing key of the configured algorithm and sign with it from now on."""
    require_admin()
    if ctx().settings.jwt_alg == "HS256":
        raise bad_request("Key rotation needs an asymmetric algorithm (ES256 or RS256)")
    return jsonify({"kid": ctx().keys.rotate()})


@bp.post("/keys/revoke")
def revoke_key() -> Response:
    """Remove a key from the JWKS; tokens it signed stop verifying."""
    require_admin()
    kid = field(json_body(), "kid")
    if not kid:
        raise bad_request("kid is required")
    try:
        ctx().keys.revoke(kid)
    except UnknownKey:
        raise GoTrueError(404, "not_found", f"No active key with kid {kid}") from None
    return jsonify({"kid": kid, "revoked": True})
