"""The /dev/auth routes: test tokens and test-user clean-up for backend developers (docs/api.md,
"Development routes").

Registered by `create_app` only when APP_ENV=development; anywhere else they do not exist (a plain 404).

Decisions where the contract is silent:
- An existing user signed in with a different password is refused (400 INVALID_CREDENTIALS): the route
  neither creates a second user nor resets the password of an account it did not make.
- `metadata` is applied only when the user is created; the answer shows the user's metadata as Supabase
  stores it (which may hold keys Supabase adds itself, such as `email_verified`).
- A malformed user id in DELETE is a 400 VALIDATION_FAILED; an unknown one is a 404 NOT_FOUND.
- The test user's profile row (if any) is left alone by DELETE: only the Supabase user is removed.
"""
from __future__ import annotations

from typing import Any

from ..blueprint import NO_STORE, Blueprint
from ..rate_limits import CREDENTIALS
from . import service
from .schemas import (DevBatchRequestSchema, DevBatchResponseSchema, DevDeleteResponseSchema, DevTokenRequestSchema,
                      DevTokenResponseSchema, DevUserIdPathSchema)

# Test tokens are sign-ins and test users sign-ups: the credential routes' budget.
blp = Blueprint("dev", __name__, url_prefix="/dev/auth", rate_limit=CREDENTIALS,
                description="Development only (APP_ENV=development): test tokens and users")


@blp.route("/token", methods=["POST"])
@blp.arguments(DevTokenRequestSchema, required=False)
@blp.response(200, DevTokenResponseSchema)
@blp.errors((400, "VALIDATION_FAILED, or INVALID_CREDENTIALS: the user exists with another password"), 503)
def token(body: dict[str, Any]):
    """Get a token for a test user, creating the user if needed."""
    data = service.issue_test_token(body["email"], body["password"], body["metadata"])
    return {"success": True, "data": data, "message": "Test token generated successfully"}, 200, NO_STORE


@blp.route("/tokens/batch", methods=["POST"])
@blp.arguments(DevBatchRequestSchema, required=False)
@blp.response(200, DevBatchResponseSchema)
@blp.errors((400, "count is not an integer from 1 to 20"), 503)
def tokens_batch(body: dict[str, Any]):
    """Get tokens for test1@coner.dev ... testN@coner.dev."""
    data = service.issue_test_tokens(body["count"])
    return {"success": True, "data": data, "message": f"Generated {len(data)} test tokens"}, 200, NO_STORE


@blp.route("/user/<user_id>", methods=["DELETE"])
@blp.arguments(DevUserIdPathSchema, location="path")
@blp.response(200, DevDeleteResponseSchema)
@blp.errors((400, "user_id is not a UUID"), (404, "No such user"), 503)
def delete_user(path: dict[str, Any], user_id: str):
    """Delete a test user."""
    service.delete_test_user(str(path["user_id"]))
    return {"success": True, "message": "Test user deleted successfully"}
