"""The API's error types and the one handler that turns every error into the contract's JSON."""
from __future__ import annotations

import logging
from typing import Any, Mapping

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable code; rendered as
    `{"error": message, "code": code, "details"?: {...}}`."""

    status = 500
    code = "INTERNAL_ERROR"
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = dict(details) if details else None
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(ApiError):
    """The contract's validation shape: the error is the literal "ValidationError", details name the fields."""

    status, code, message = 400, "VALIDATION_FAILED", "ValidationError"

    def __init__(self, details: Mapping[str, list[str]], message: str | None = None) -> None:
        super().__init__(message, details=details)


class LockedField(ValidationFailed):
    code = "LOCKED_FIELD"


class InvalidCredentials(ApiError):
    status, code, message = 400, "INVALID_CREDENTIALS", "Invalid login credentials"


class EmailExists(ApiError):
    status, code, message = 400, "EMAIL_EXISTS", "Email already exists"


class EmailNotConfirmed(ApiError):
    status, code, message = 403, "EMAIL_NOT_CONFIRMED", "Email not confirmed"


class AccountSuspended(ApiError):
    status, code, message = 403, "ACCOUNT_SUSPENDED", "Account suspended"


class Unauthorized(ApiError):
    """Missing or unusable credentials; 401 answers carry `WWW-Authenticate: Bearer` (RFC 6750)."""

    status, code, message = 401, "UNAUTHORIZED", "Unauthorized: JWT token missing or invalid"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="coner"')


class TokenExpired(Unauthorized):
    code, message = "TOKEN_EXPIRED", "Unauthorized: JWT token expired"


class SessionRevoked(Unauthorized):
    code, message = "SESSION_REVOKED", "Unauthorized: session revoked"


class InvalidRefreshToken(ApiError):
    status, code, message = 401, "INVALID_REFRESH_TOKEN", "Invalid refresh token"


class InvalidOtp(ApiError):
    status, code, message = 401, "INVALID_OTP", "Invalid or expired verification token"


class Forbidden(ApiError):
    status, code, message = 403, "FORBIDDEN", "Forbidden"


class MfaRequired(ApiError):
    """The token is one factor short: its user has a verified second factor, or the route is an admin route
    and ADMIN_REQUIRE_MFA is on (docs/api.md, "Two-factor sign-in")."""

    status, code = 403, "MFA_REQUIRED"
    message = "Two-factor authentication required: verify a code from your authenticator app"


class ReauthenticationRequired(ApiError):
    status, code = 403, "REAUTHENTICATION_REQUIRED"
    message = "Sign in again to confirm: this needs a sign-in at most 5 minutes old"


class NotFound(ApiError):
    status, code, message = 404, "NOT_FOUND", "Not found"


class Conflict(ApiError):
    status, code, message = 409, "CONFLICT", "Conflict"


class ProfileAlreadyInitialized(ApiError):
    status, code, message = 400, "PROFILE_ALREADY_INITIALIZED", "Profile already initialized"


class ProfileNotInitialized(ApiError):
    status, code, message = 400, "PROFILE_NOT_INITIALIZED", "Profile not initialized"


class RateLimited(ApiError):
    status, code, message = 429, "RATE_LIMITED", "Too many requests"


class AuthUnavailable(ApiError):
    status, code, message = 503, "AUTH_UNAVAILABLE", "Authentication service unavailable"


class DbUnavailable(ApiError):
    status, code, message = 503, "DB_UNAVAILABLE", "Database unavailable"


class InternalError(ApiError):
    """A failure we detected but cannot explain to the client; details go to the log only."""


# Werkzeug's HTTP errors that reach us from routing and request parsing, with our codes.
_HTTP_CODES = {
    400: ("BAD_REQUEST", "Bad request"),
    401: ("UNAUTHORIZED", Unauthorized.message),
    403: ("FORBIDDEN", "Forbidden"),
    404: ("NOT_FOUND", "Not found"),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed"),
    406: ("NOT_ACCEPTABLE", "Not acceptable"),
    408: ("REQUEST_TIMEOUT", "Request timeout"),
    411: ("LENGTH_REQUIRED", "Length required"),
    413: ("PAYLOAD_TOO_LARGE", "Request body too large"),
    414: ("URI_TOO_LONG", "Request URI too long"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "Unsupported media type: send application/json"),
    417: ("EXPECTATION_FAILED", "Expectation failed"),
    429: ("RATE_LIMITED", RateLimited.message),
    431: ("HEADERS_TOO_LARGE", "Request headers too large"),
    501: ("NOT_IMPLEMENTED", "Not implemented"),
}


def http_error_body(status: int, reason: str) -> dict[str, str]:
    """The body for a bare HTTP error status (routing, parsing, or the HTTP server's own refusals)."""
    if status >= 500 and status not in _HTTP_CODES:
        return {"error": InternalError.message, "code": InternalError.code}
    code, message = _HTTP_CODES.get(status, ("HTTP_ERROR", reason))
    return {"error": message, "code": code}


def _respond(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None):
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_api_error(error: ApiError):
    if error.status == 503:
        # An outage answers every request with 503: one line each, the cause already logged where it arose.
        log.warning("%s: %s (%s)", error.code, error.message, type(error.__cause__).__name__)
    elif error.status >= 500:
        log.error("%s: %s", error.code, error.message, exc_info=error.__cause__ is not None)
    body = error.body()
    if error.status >= 500 and error.code == "INTERNAL_ERROR":
        body["request_id"] = g.get("request_id")
    return _respond(error.status, body, error.headers)


def _flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs nests messages by location and field (`{"json": {"dob": [...]}}`); clients get the contract's flat
    `{"field": ["message"]}`, nested fields dotted, whole-body errors under `_schema`."""
    if isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "_schema": list(messages)}
        flat: dict[str, list[str]] = {}
        for index, item in enumerate(messages):
            flat.update(_flatten_messages(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    if isinstance(messages, dict):
        flat = {}
        for key, value in messages.items():
            flat.update(_flatten_messages(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "_schema": [str(messages)]}


def validation_details(messages: Any) -> dict[str, list[str]]:
    """Drop webargs' location level (json, query, ...) and flatten the rest."""
    if isinstance(messages, dict) and messages and all(k in _LOCATIONS for k in messages):
        details: dict[str, list[str]] = {}
        for by_field in messages.values():
            details.update(_flatten_messages(by_field))
        return details
    return _flatten_messages(messages)


_LOCATIONS = {"json", "query", "querystring", "form", "headers", "cookies", "files", "view_args", "path"}


def handle_http_exception(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        return handle_unexpected(error)
    messages = (getattr(error, "data", None) or {}).get("messages")
    if messages is not None and status in (400, 422):
        return handle_api_error(ValidationFailed(validation_details(messages)))
    headers = {k: v for k, v in error.get_headers() if k.lower() not in ("content-type", "content-length")}
    return _respond(status, http_error_body(status, error.name), headers)


def handle_unexpected(error: BaseException):
    """Log the real exception; the client sees a generic 500 with the request id to quote."""
    log.exception("unhandled error", exc_info=error)
    body = {"error": InternalError.message, "code": InternalError.code, "request_id": g.get("request_id")}
    return _respond(500, body)


def init_app(app: Flask) -> None:
    """Register the handlers; call after flask-smorest's Api so ours replace its HTTPException handler."""
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
