"""The /dev/auth routes (000): test tokens and test-user clean-up for backend developers.

Registered by `create_app` only when APP_ENV=development; anywhere else they do not exist (a plain 404).

Decisions where 000 is silent:
- An existing user signed in with a different password is refused (400 INVALID_CREDENTIALS): the route
  neither creates a second user nor resets the password of an account it did not make.
- `metadata` is applied only when the user is created; the answer shows the user's metadata as Supabase
  stores it (which may hold keys Supabase adds itself, such as `email_verified`).
- A malformed user id in DELETE is a 400 VALIDATION_FAILED; an unknown one is a 404 NOT_FOUND.
- The test user's profile row (if any) is left alone by DELETE: only the Supabase user is removed.
"""
from __future__ import annotations

from typing import Any, Mapping

from marshmallow import Schema, fields, validate

from .auth import NO_STORE
from .errors import EmailExists, InvalidCredentials, NotFound
from .blueprint import Blueprint
from .profile_schemas import Body
from .schemas import ErrorSchema, TokenResponseSchema
from .supabase_auth import get_supabase_auth

blp = Blueprint("dev", __name__, url_prefix="/dev/auth",
                description="Development only (APP_ENV=development): test tokens and users")

DEFAULT_EMAIL = "test@coner.dev"
DEFAULT_PASSWORD = "TestPassword123!"
DEFAULT_FULL_NAME = "Test User"
MAX_BATCH = 20


# ------------------------------------------------------------------------------------------ schemas
class DevTokenRequestSchema(Body):
    email = fields.Email(load_default=DEFAULT_EMAIL, validate=validate.Length(max=254),
                         error_messages={"invalid": "Please provide a valid email address"})
    password = fields.String(load_default=DEFAULT_PASSWORD, validate=validate.Length(min=1, max=72))
    metadata = fields.Dict(keys=fields.String(), load_default=lambda: {"full_name": DEFAULT_FULL_NAME},
                           metadata={"description": "user_metadata for a newly created user"})


class DevBatchRequestSchema(Body):
    count = fields.Integer(strict=True, load_default=5, validate=validate.Range(min=1, max=MAX_BATCH),
                           metadata={"description": "1 to 20, default 5"})


class DevUserIdPathSchema(Schema):
    user_id = fields.UUID(required=True)


class DevUserSchema(Schema):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    user_metadata = fields.Dict(required=True)


class DevTokenSchema(TokenResponseSchema):
    """The session fields of /auth/signin plus 000's `user`."""

    user = fields.Nested(DevUserSchema, required=True)


class DevTokenResponseSchema(Schema):
    success = fields.Boolean(required=True)
    data = fields.Nested(DevTokenSchema, required=True)
    message = fields.String(required=True)


class DevBatchResponseSchema(Schema):
    success = fields.Boolean(required=True)
    data = fields.List(fields.Nested(DevTokenSchema), required=True)
    message = fields.String(required=True)


class DevDeleteResponseSchema(Schema):
    success = fields.Boolean(required=True)
    message = fields.String(required=True)


# ------------------------------------------------------------------------------------------ service
def issue_test_token(email: str, password: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Sign the user in, creating it (confirmed, with `metadata`) when it does not exist yet."""
    auth = get_supabase_auth()
    try:
        tokens = auth.sign_in(email, password)
    except InvalidCredentials:
        try:
            auth.admin_create_user(email, password, user_metadata=metadata)
        except EmailExists:
            # The e-mail is taken, so the password was wrong: never a duplicate, never a password reset.
            raise InvalidCredentials() from None
        tokens = auth.sign_in(email, password)
    # The sign-in answer carries no user_metadata in our TokenSet; ask for the stored user.
    user = auth.admin_get_user(tokens.user_id)
    return {
        "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
        "expires_in": tokens.expires_in, "expires_at": tokens.expires_at, "token_type": tokens.token_type,
        "user": {"id": user.id, "email": user.email, "user_metadata": dict(user.user_metadata)},
    }


def issue_test_tokens(count: int) -> list[dict[str, Any]]:
    """Tokens for test1@coner.dev ... test<count>@coner.dev, named "Test User <n>"."""
    return [issue_test_token(f"test{n}@coner.dev", DEFAULT_PASSWORD, {"full_name": f"{DEFAULT_FULL_NAME} {n}"})
            for n in range(1, count + 1)]


def delete_test_user(user_id: str) -> None:
    try:
        get_supabase_auth().admin_delete_user(user_id)
    except NotFound:
        raise NotFound("Test user not found") from None


# ------------------------------------------------------------------------------------------- routes
@blp.route("/token", methods=["POST"])
@blp.arguments(DevTokenRequestSchema, required=False)
@blp.response(200, DevTokenResponseSchema)
@blp.alt_response(400, schema=ErrorSchema, description="VALIDATION_FAILED, or INVALID_CREDENTIALS: the user "
                                                        "exists with another password")
def token(body: dict[str, Any]):
    """Get a token for a test user, creating the user if needed."""
    data = issue_test_token(body["email"], body["password"], body["metadata"])
    return {"success": True, "data": data, "message": "Test token generated successfully"}, 200, NO_STORE


@blp.route("/tokens/batch", methods=["POST"])
@blp.arguments(DevBatchRequestSchema, required=False)
@blp.response(200, DevBatchResponseSchema)
@blp.alt_response(400, schema=ErrorSchema, description="count is not an integer from 1 to 20")
def tokens_batch(body: dict[str, Any]):
    """Get tokens for test1@coner.dev ... testN@coner.dev."""
    data = issue_test_tokens(body["count"])
    return {"success": True, "data": data, "message": f"Generated {len(data)} test tokens"}, 200, NO_STORE


@blp.route("/user/<user_id>", methods=["DELETE"])
@blp.arguments(DevUserIdPathSchema, location="path")
@blp.response(200, DevDeleteResponseSchema)
@blp.alt_response(400, schema=ErrorSchema, description="user_id is not a UUID")
@blp.alt_response(404, schema=ErrorSchema, description="No such user")
def delete_user(path: dict[str, Any], user_id: str):
    """Delete a test user."""
    delete_test_user(str(path["user_id"]))
    return {"success": True, "message": "Test user deleted successfully"}
